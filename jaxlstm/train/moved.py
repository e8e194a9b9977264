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
