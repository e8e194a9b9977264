"""`Average`: a metric that is a weighted mean, and the mean of metrics over batches.

A loss function may return its loss and any metric either as a scalar (a mean over
the batch's rows) or as `Average(total, count)`: e.g. the summed negative
log-likelihood of a batch's real tokens and the number of real tokens. Training uses
`total / count`; evaluation sums totals and counts over all held-out batches, so a
per-token (per-frame) metric is averaged over tokens (frames), not over batches or
sequences:

  value = sum_b total_b / sum_b count_b          (an Average)
  value = sum_b rows_b * value_b / sum_b rows_b  (a scalar: weighted by the batch's rows)
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Average(NamedTuple):
    """A weighted mean `total / count` (both scalars; a pytree, so it crosses `jit`)."""

    total: Any
    count: Any

    @property
    def value(self):
        """total / count (0 when count is 0: an empty batch contributes nothing)."""
        return self.total / jnp.where(self.count == 0, 1, self.count)


def value_of(x):
    """`x.value` for an `Average`, `x` otherwise."""
    return x.value if isinstance(x, Average) else x


def values_of(metrics: dict) -> dict:
    """The metrics with every `Average` replaced by its value."""
    return {k: value_of(v) for k, v in metrics.items()}


def _is_average(x) -> bool:
    return isinstance(x, Average)


def batch_rows(batch) -> int:
    """The leading (batch) axis of the first array leaf of `batch`."""
    leaves = jax.tree.leaves(batch, is_leaf=_is_average)
    if not leaves or not np.shape(leaves[0]):
        raise ValueError(f"a batch must hold arrays with a leading batch axis, got leaves of shapes "
                         f"{[np.shape(x) for x in leaves[:3]]}")
    return int(np.shape(leaves[0])[0])


def pooled_mean(results: Iterable[tuple[int, dict]]) -> dict:
    """{name: float} pooled over `results`, pairs (rows of the batch, {name: scalar or
    Average}): Averages as sum of totals / sum of counts, scalars weighted by rows."""
    totals: dict = {}
    for rows, values in results:
        for name, v in values.items():
            total, count = (v.total, v.count) if isinstance(v, Average) else (v * rows, rows)
            t, c = totals.get(name, (0.0, 0.0))
            totals[name] = (t + float(total), c + float(count))
    return {name: t / c if c else float("nan") for name, (t, c) in totals.items()}


def mean_over_batches(batches: Iterable, eval_step: Callable) -> dict:
    """{"loss": float, metric: float} over `batches`, from `eval_step(batch) -> (loss,
    metrics)`: Averages pooled (sum of totals / sum of counts), scalars weighted by
    each batch's rows (see the module docstring).

    Raises:
      ValueError: `batches` is empty (nothing to average).
    """
    def results():
        for batch in batches:
            loss, metrics = eval_step(batch)
            yield batch_rows(batch), {"loss": loss, **metrics}

    out = pooled_mean(results())
    if not out:
        raise ValueError("evaluation data: expected at least one batch, got none")
    return out
