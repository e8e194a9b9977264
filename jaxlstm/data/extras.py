"""Importing the optional packages behind some loaders, with one error that names the extra."""

from __future__ import annotations

import importlib

EXTRA_HINT = 'pip install "jaxlstm[data]"'


def import_extra(module: str, needed_by: str):
    """`importlib.import_module(module)`, or an ImportError naming `needed_by`, the missing
    module and the `data` extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        package = module.split(".")[0]
        raise ImportError(
            f"{needed_by} needs the optional package {package!r}, which is not installed; "
            f"install the data extra with `{EXTRA_HINT}` (or `pip install {package}`)"
        ) from err
