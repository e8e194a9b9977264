"""The error of an invalid experiment config and the checks that raise it.

Apart from the schema (`jaxlstm.train.config`) so that the tasks and the mesh, which the
schema reads, can validate their own sections without importing it.
"""

from __future__ import annotations

import math
from typing import Sequence


class ConfigError(ValueError):
    """An invalid experiment config; the message names the key."""


def check_choice(key: str, value, choices: Sequence) -> None:
    """Raise ConfigError naming `key` unless `value` is one of `choices`."""
    if value not in choices:
        raise ConfigError(f"config key {key}: must be one of {list(choices)}, got {value!r}")


def check_positive(key: str, value, allow_zero: bool = False) -> None:
    """Raise ConfigError naming `key` unless `value` is None or a finite number > 0
    (>= 0 with `allow_zero`); NaN and infinity are rejected."""
    if value is None:
        return
    bound = ">= 0" if allow_zero else "> 0"
    if not math.isfinite(value):
        raise ConfigError(f"config key {key}: must be a finite number {bound}, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"config key {key}: must be {bound}, got {value!r}")
