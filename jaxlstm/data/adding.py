"""The adding problem: Hochreiter & Schmidhuber (1997), "Long Short-Term Memory", Experiment 4.

The paper's protocol, implemented literally:

* Each step is a pair (value, marker). Values are drawn from U[-1, 1].
* The sequence length is drawn uniformly from the integers {T, ..., T + T//10}
  ("random lengths between the minimal sequence length T and T + T/10").
* Exactly two pairs are marked (marker 1.0). First one of the first ten pairs
  is chosen uniformly (its value is X1); then one of the first T//2 - 1 *still
  unmarked* pairs is chosen uniformly (its value is X2). Since the first
  choice lies inside that prefix, the second position is uniform over
  positions {0, ..., T//2 - 1} minus the first one (T//2 - 1 candidates).
* All other markers are 0.0, except that the first and the last pair of the
  sequence carry marker -1.0 (unless marked).
* "In the rare case where the first pair of the sequence gets marked, we set
  X1 to zero": whichever marked pair sits at position 0 gets value 0.0 (for the
  second mark this case is not spelled out in the paper; we apply the same rule
  so a marked first pair always contributes 0).
* The target, given only at the last step, is 0.5 + (X1 + X2) / 4.0 (in [0, 1]);
  a sequence counts as processed correctly if the absolute error is < 0.04.

Deviations: only odd T need a convention; we use integer division (T//2, T//10).
Beyond each sequence's length the arrays are zero-padded (value 0, marker 0),
which is distinguishable from real steps only through `lengths`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from jaxlstm.data.rng import as_generator, check_positive_int

TOLERANCE = 0.04


class AddingData(NamedTuple):
    """A batch of adding-problem sequences.

    xs: (N, T + T//10, 2) float32; xs[..., 0] values, xs[..., 1] markers; zero after lengths.
    lengths: (N,) int32 in [T, T + T//10].
    targets: (N,) float32, 0.5 + (X1 + X2) / 4, the desired output at step lengths-1.
    """

    xs: np.ndarray
    lengths: np.ndarray
    targets: np.ndarray


def adding_max_length(min_length: int) -> int:
    """Padded width T + T//10 of `adding_problem(..., min_length=T)`."""
    return min_length + min_length // 10


def _one_sequence(rng: np.random.Generator, min_length: int) -> tuple[np.ndarray, float]:
    """One (length, 2) sequence and its target."""
    length = int(rng.integers(min_length, adding_max_length(min_length) + 1))
    pairs = np.zeros((length, 2), dtype=np.float64)
    pairs[:, 0] = rng.uniform(-1.0, 1.0, size=length)
    pairs[0, 1] = -1.0
    pairs[-1, 1] = -1.0
    first = int(rng.integers(0, 10))
    prefix = min_length // 2 - 1  # "one of the first T/2 - 1 still unmarked pairs"
    candidates = [p for p in range(prefix + 1) if p != first][:prefix]
    second = int(candidates[rng.integers(0, len(candidates))])
    for pos in (first, second):
        pairs[pos, 1] = 1.0
        if pos == 0:
            pairs[pos, 0] = 0.0  # the paper sets X1 to zero when the first pair is marked
    target = 0.5 + (pairs[first, 0] + pairs[second, 0]) / 4.0
    return pairs, target


def adding_problem(n: int, min_length: int, rng) -> AddingData:
    """Generate `n` adding-problem sequences with minimal length T = `min_length`.

    Args:
      n: number of sequences N.
      min_length: T >= 10 (the first mark is among the first ten pairs). The
        paper uses T in {100, 500, 1000}.
      rng: numpy Generator or int seed.

    Returns:
      AddingData with xs (N, T + T//10, 2) float32, lengths (N,) int32, targets (N,) float32.
    """
    n = check_positive_int("n", n)
    min_length = check_positive_int("min_length", min_length, minimum=10)
    rng = as_generator(rng)
    width = adding_max_length(min_length)
    xs = np.zeros((n, width, 2), dtype=np.float32)
    lengths = np.zeros(n, dtype=np.int32)
    targets = np.zeros(n, dtype=np.float32)
    for i in range(n):
        pairs, target = _one_sequence(rng, min_length)
        xs[i, : len(pairs)] = pairs
        lengths[i] = len(pairs)
        targets[i] = target
    return AddingData(xs, lengths, targets)


def adding_correct(pred, target, tolerance: float = TOLERANCE) -> np.ndarray:
    """(N,) bool: |pred - target| < tolerance (the paper's criterion, tolerance 0.04)."""
    pred = np.asarray(pred, dtype=np.float64).reshape(-1)
    target = np.asarray(target, dtype=np.float64).reshape(-1)
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target must have the same number of elements, got {pred.shape} and {target.shape}"
        )
    return np.abs(pred - target) < tolerance


def adding_accuracy(pred, target, tolerance: float = TOLERANCE) -> float:
    """Fraction of sequences with |pred - target| < tolerance; pred and target are (N,) (or (N, 1))."""
    return float(np.mean(adding_correct(pred, target, tolerance)))
