"""Explicit randomness: every generator in `jaxlstm.data` takes a NumPy `Generator`.

There is no module-level random state; reproducibility comes from passing the
same seed (or an identically seeded `numpy.random.Generator`) again.
"""

from __future__ import annotations

import numbers

import numpy as np


def as_generator(rng, name: str = "rng") -> np.random.Generator:
    """Return `rng` if it is a `numpy.random.Generator`, or a new one seeded by an int.

    Raises TypeError for anything else (including `None`, `bool` and the legacy
    `numpy.random.RandomState`), so that no call silently draws from global state.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(
        f"{name} must be a numpy.random.Generator or an int seed, got {type(rng).__name__} ({rng!r})"
    )


def check_positive_int(name: str, value, minimum: int = 1) -> int:
    """`value` must be an int >= `minimum`; returns it as a Python int."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)
