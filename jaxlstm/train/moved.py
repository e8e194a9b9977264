"""`moved`: an old module path of `jaxlstm.train` kept working as its new module."""

from __future__ import annotations

import importlib
import sys
import warnings


def moved(old: str, new: str) -> None:
    """Make the module `old`, being imported, the module `new` itself (the same names,
    and one module to patch), with one DeprecationWarning naming `new`."""
    warnings.warn(f"{old} is deprecated: it moved to {new}; import it from there",
                  DeprecationWarning, stacklevel=3)
    sys.modules[old] = importlib.import_module(new)


def moved_submodules(package: str, names: tuple[str, ...]):
    """A module `__getattr__` for `package` that imports its deprecated submodule `NAME`
    (warning) when `package.NAME` is read before anything imported it."""

    def __getattr__(name: str):
        if name in names:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__


def keep_attributes(package: str, names: tuple[str, ...]) -> None:
    """Keep `package.NAME` for each of `names` (e.g. the function `jaxlstm.train.load_model`)
    when the deprecated submodule of that name is imported: the import system would set the
    submodule as the attribute, and now cannot (it then skips it with an ImportWarning)."""
    module = sys.modules[package]
    kept = {name: property(lambda self, value=getattr(module, name): value) for name in names}
    module.__class__ = type("Package", (type(module),), kept)
