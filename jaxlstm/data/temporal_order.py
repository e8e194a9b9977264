"""Temporal order: Hochreiter & Schmidhuber (1997), Experiment 6a ("two relevant,
widely separated symbols").

The paper's protocol: the input alphabet has 8 symbols, coded one-hot. A sequence
starts with E, ends with B (the "trigger"), and otherwise consists of symbols
drawn uniformly from the distractors {a, b, c, d}, except at two positions t1
and t2, which hold X or Y (each independently with probability 1/2). The
sequence length is drawn from {100, ..., 110}, t1 from {10, ..., 20} and t2 from
{50, ..., 60}. The class, to be output at the end of the sequence, is the
temporal order of the two relevant symbols: XX -> Q, XY -> R, YX -> S, YY -> U.

Conventions (the paper does not pin these down): positions are counted from 1
with E at position 1, so the 0-based indices are t1 - 1 in [9, 19] and t2 - 1 in
[49, 59]; all ranges are inclusive; draws are uniform. Steps after the end of a
sequence are all-zero vectors (not a symbol). The symbol order below fixes the
one-hot coding.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from jaxlstm.data.rng import as_generator, check_positive_int

SYMBOLS = ("E", "B", "a", "b", "c", "d", "X", "Y")
CLASSES = ("Q", "R", "S", "U")  # XX, XY, YX, YY
LENGTH_RANGE = (100, 110)
T1_RANGE = (10, 20)
T2_RANGE = (50, 60)

_E, _B, _X, _Y = SYMBOLS.index("E"), SYMBOLS.index("B"), SYMBOLS.index("X"), SYMBOLS.index("Y")
_DISTRACTORS = np.array([SYMBOLS.index(s) for s in "abcd"])


class TemporalOrderData(NamedTuple):
    """A batch of temporal-order sequences.

    xs: (N, 110, 8) float32 one-hot over SYMBOLS; all-zero rows after lengths.
    lengths: (N,) int32 in [100, 110].
    labels: (N,) int32 class index into CLASSES (0=Q: XX, 1=R: XY, 2=S: YX, 3=U: YY).
    """

    xs: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray


def class_of(first: str, second: str) -> int:
    """Class index of the relevant-symbol pair (first, second), each "X" or "Y"."""
    for name, value in (("first", first), ("second", second)):
        if value not in ("X", "Y"):
            raise ValueError(f"{name} must be 'X' or 'Y', got {value!r}")
    return 2 * (first == "Y") + (second == "Y")


def _symbol_ids(rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """One sequence as symbol ids (length,), and its class."""
    length = int(rng.integers(LENGTH_RANGE[0], LENGTH_RANGE[1] + 1))
    ids = _DISTRACTORS[rng.integers(0, 4, size=length)]
    ids[0], ids[-1] = _E, _B
    t1 = int(rng.integers(T1_RANGE[0], T1_RANGE[1] + 1))
    t2 = int(rng.integers(T2_RANGE[0], T2_RANGE[1] + 1))
    relevant = rng.integers(0, 2, size=2)  # 0 = X, 1 = Y
    ids[t1 - 1] = _X + relevant[0]
    ids[t2 - 1] = _X + relevant[1]
    return ids, int(2 * relevant[0] + relevant[1])


def temporal_order(n: int, rng) -> TemporalOrderData:
    """Generate `n` Experiment-6a sequences: xs (N, 110, 8), lengths (N,), labels (N,)."""
    n = check_positive_int("n", n)
    rng = as_generator(rng)
    xs = np.zeros((n, LENGTH_RANGE[1], len(SYMBOLS)), dtype=np.float32)
    lengths = np.zeros(n, dtype=np.int32)
    labels = np.zeros(n, dtype=np.int32)
    for i in range(n):
        ids, label = _symbol_ids(rng)
        xs[i, np.arange(len(ids)), ids] = 1.0
        lengths[i] = len(ids)
        labels[i] = label
    return TemporalOrderData(xs, lengths, labels)


def decode_symbols(x: np.ndarray, length: int) -> str:
    """The symbol string of one one-hot sequence x (T, 8) up to `length`."""
    x = np.asarray(x)
    return "".join(SYMBOLS[i] for i in np.argmax(x[:length], axis=-1))
