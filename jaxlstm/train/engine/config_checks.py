"""The error of an invalid experiment config and the checks that raise it.

Apart from the schema (`jaxlstm.train.lab.config`) so that the tasks and the mesh, which the
schema reads, can validate their own sections without importing it.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Sequence, Union

import numpy as np


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


def _type_name(hint) -> str:
    if typing.get_origin(hint) in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(hint))
    if hint is type(None):
        return "None"
    if typing.get_origin(hint) is list:
        return f"a list, each {_type_name(typing.get_args(hint)[0])}"
    return {int: "an int", float: "a number", bool: "a bool (true/false)", str: "a string"}.get(hint, str(hint))


def _matches(value, hint) -> bool:
    """Whether `value` is of the annotated type `hint` (bool is not an int, an int is a float)."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin in (Union, types.UnionType):
        return any(_matches(value, a) for a in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, (bool, np.bool_))
    if hint is int:
        return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if hint is float:
        return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if hint is str:
        return isinstance(value, str)
    if origin is list:
        return isinstance(value, (list, tuple)) and all(_matches(v, typing.get_args(hint)[0]) for v in value)
    return True


def check_types(section: str, obj) -> None:
    """Raise ConfigError naming `section.field` for the first field of the dataclass `obj`
    whose value is not of its annotated type (`steps=3.5`, `steps=True`, `seed="0"`).
    A config file's values were checked by OmegaConf already; this checks those given in
    Python (`fit_model(**settings)`, a dataclass built by hand)."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if not _matches(value, hints[f.name]):
            raise ConfigError(f"config key {section}.{f.name}: must be {_type_name(hints[f.name])}, "
                              f"got {value!r} ({type(value).__name__})")


SEED_MAX = 2**63 - 1  # jax.random.key takes a signed 64-bit seed


def check_seed(key: str, value) -> None:
    """Raise ConfigError naming `key` unless `value` is an int in [0, 2**63 - 1]."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or not 0 <= value <= SEED_MAX:
        raise ConfigError(f"config key {key}: must be an int in [0, 2**63 - 1], got {value!r}")
