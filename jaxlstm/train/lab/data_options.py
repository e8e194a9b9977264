"""The constraints of a task's `data:` options, declared on the fields of its `Data`
dataclass, and `check_data`, which `load_config` runs on the `data:` section.

    @dataclass
    class AddingData:
        min_length: int = option(100, AtLeast(10))
        eval_size: int = option(512, Positive())

A check that reads several fields together is a function of the `Data` instance listed
in the class attribute `cross_checks`; it raises `ConfigError` naming the keys.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence, Union

from jaxlstm.train.engine.config_checks import ConfigError, check_choice, check_positive


@dataclasses.dataclass(frozen=True)
class AtLeast:
    """The value is >= `low`: a number, or the name of another field whose value is the
    bound; `why` follows the bound in the message."""

    low: Union[int, float, str]
    why: str = ""

    def __call__(self, key: str, value, data) -> None:
        low = getattr(data, self.low) if isinstance(self.low, str) else self.low
        if value < low:
            why = f" {self.why}" if self.why else ""
            raise ConfigError(f"config key {key}: must be >= {low}{why}, got {value}")


@dataclasses.dataclass(frozen=True)
class Positive:
    """The value is None or a finite number > 0 (>= 0 with `allow_zero`)."""

    allow_zero: bool = False

    def __call__(self, key: str, value, data) -> None:
        check_positive(key, value, allow_zero=self.allow_zero)


@dataclasses.dataclass(frozen=True)
class Fraction:
    """The value lies in the open interval (0, 1)."""

    def __call__(self, key: str, value, data) -> None:
        if not 0.0 < value < 1.0:
            raise ConfigError(f"config key {key}: must lie in (0, 1), got {value}")


@dataclasses.dataclass(frozen=True)
class OneOf:
    """The value is one of `choices` (a sequence, or a function returning one)."""

    choices: Union[Sequence, Callable[[], Sequence]]

    def __call__(self, key: str, value, data) -> None:
        check_choice(key, value, self.choices() if callable(self.choices) else self.choices)


def option(default, *constraints) -> Any:
    """A `Data` field defaulting to `default` whose value must meet every one of `constraints`."""
    return dataclasses.field(default=default, metadata={"constraints": constraints})


def check_data(data) -> None:
    """Raise ConfigError naming `data.KEY` at the first field of the `Data` dataclass
    instance `data` (in field order) that breaks one of its constraints, then run the
    class's `cross_checks`."""
    for f in dataclasses.fields(data):
        for constraint in f.metadata.get("constraints", ()):
            constraint(f"data.{f.name}", getattr(data, f.name), data)
    for check in getattr(type(data), "cross_checks", ()):
        check(data)
