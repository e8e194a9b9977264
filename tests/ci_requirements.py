"""What CI must have installed: the packages whose absence would turn tests into skips.

`missing_in_ci(environ, can_import)` lists them when `environ["CI"] == "true"` (CI sets it);
tests/conftest.py stops the session with an error naming them, so a broken install of the
`dev` extra fails CI instead of skipping the torch and xlstm parity tests or the real W&B run.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping

# module -> what skips without it
REQUIRED_IN_CI = {
    "torch": "the PyTorch parity tests (torch.nn.LSTM, the oneDNN kernel, interop)",
    "xlstm": "the sLSTM/mLSTM tests against the xlstm package's pure-PyTorch cells",
    "wandb": "the W&B writer's offline run with the real package",
}


def importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def missing_in_ci(environ: Mapping[str, str], can_import: Callable[[str], bool] = importable) -> list[str]:
    """'module (needed by ...)' for each module of REQUIRED_IN_CI that does not import, when
    environ["CI"] is "true" (case-insensitive); [] otherwise."""
    if environ.get("CI", "").lower() != "true":
        return []
    return [f"{m} (needed by {why})" for m, why in REQUIRED_IN_CI.items() if not can_import(m)]
