"""`Batches`: the training batch of step s over a finite set of examples, as a pure function of s.

A training loop that asks for "the batch of step s" (rather than iterating) can be resumed at
any step and sees the same batches again. Two orders:

  "replacement"  step s draws `batch_size` row indices uniformly with replacement from
                 `numpy.random.default_rng([seed, s])` (`rng.integers(0, N, batch_size)`).
  "epochs"       epoch e = s // len(batches) visits every example once, in the order of the
                 permutation `numpy.random.default_rng([seed, e]).permutation(N)`; step s takes
                 batch s mod len(batches) of it. With `drop_last` (the default) the last
                 N mod batch_size examples of each epoch's permutation are left out of that
                 epoch (a different few each epoch), so every batch has `batch_size` rows.

Variable-length examples carry `lengths` (N,). With `min_width`, each batch's time axis is cut
(or, for a `collate` that pads, padded) to its width

  width = bucket_width(max(lengths[rows]), min_width, max_width)
        = min(the smallest min_width * 2**k >= max(lengths[rows]), max_width),

so a jitted step sees a few distinct shapes. With `bucket=True` the rows of a batch also have
similar lengths, which wastes less compute on padding:

  "epochs":      the epoch's permutation is cut into pools of `pool` batches; each pool is
                 sorted by length (stably, so equal lengths stay in random order) and cut into
                 batches; then the order of all the epoch's batches is shuffled by the same
                 generator. Still every example once per epoch.
  "replacement": an anchor index a ~ U{0..N-1}, then `batch_size` indices uniformly with
                 replacement from the examples with the same bucket width as a. Every example
                 still has probability 1/N per draw, as with the plain draw.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Optional

import numpy as np

ORDERS = ("replacement", "epochs")


def bucket_width(length: int, min_width: int, max_width: Optional[int] = None) -> int:
    """The padded width of a batch whose longest row has `length` steps: the smallest
    `min_width * 2**k` (k >= 0) that is >= `length`, capped at `max_width` (None: no cap)."""
    width = int(min_width)
    while width < length:
        width *= 2
    return width if max_width is None else min(width, int(max_width))


def allowed_widths(min_width: int, max_width: int) -> list[int]:
    """Every width `bucket_width` can return for lengths <= `max_width`: min_width * 2**k
    below max_width, and max_width."""
    widths = []
    width = int(min_width)
    while width < max_width:
        widths.append(width)
        width *= 2
    return widths + [int(max_width)]


def _int(name: str, value, minimum: int) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


class Batches:
    """Random access to the batches of one training run: `batches(step) -> dict`.

    Args:
      examples: a dict of arrays sharing the leading (example) axis N, or a sequence of N
        items (then `collate` is required).
      batch_size: rows per batch, B.
      seed: the run's seed; batches are a pure function of (seed, step).
      order: "epochs" or "replacement" (see the module docstring).
      lengths: (N,) non-negative ints, the valid steps of each example; needed by `min_width`
        and `bucket`.
      bucket: batches of similar lengths (needs `lengths` and `min_width`).
      min_width: the smallest padded width; None keeps the arrays' full width.
      max_width: the largest width; None: the time axis of the `time_keys` arrays (dict
        examples), else no cap.
      time_keys: names of the arrays of dict examples whose axis 1 is time, padded after
        each example's length; each batch keeps their first `width` steps.
      pool: batches sorted together when bucketing epochs; larger pools pad less and mix less.
      drop_last: "epochs" leaves out the N mod B examples that would make a short batch.
      collate: `collate(rows, width, rng) -> dict` builds a batch from `rows` (the dict of the
        selected rows of dict examples, already cut to `width`, or the list of selected items
        of a sequence), the batch's width (None without `min_width`) and a generator for any
        further randomness of the step (in "replacement" the step's generator after the index
        draw; in "epochs" `default_rng([seed, step, 1])`).

    Returns of `batches(step)`: the collated dict, or for dict examples without `collate`
    {name: array (B, ...)} with the `time_keys` arrays of shape (B, width, ...).
    """

    def __init__(self, examples, batch_size: int, *, seed: int = 0, order: str = "epochs",
                 lengths=None, bucket: bool = False, min_width: Optional[int] = None,
                 max_width: Optional[int] = None, time_keys: Sequence[str] = (), pool: int = 16,
                 drop_last: bool = True,
                 collate: Optional[Callable[[Any, Optional[int], np.random.Generator], dict]] = None):
        if order not in ORDERS:
            raise ValueError(f"order must be one of {list(ORDERS)}, got {order!r}")
        self.batch_size = _int("batch_size", batch_size, 1)
        self.seed = _int("seed", seed, 0)
        self.pool = _int("pool", pool, 1)
        self.order, self.bucket, self.drop_last, self.collate = order, bool(bucket), bool(drop_last), collate
        self.examples = examples
        self.n, time_width = self._check_examples(examples, tuple(time_keys), collate)
        self.time_keys = tuple(time_keys)
        if order == "epochs" and self.drop_last and self.batch_size > self.n:
            raise ValueError(f"batch_size must be <= the number of examples N = {self.n} with "
                             f"order='epochs' and drop_last=True (else an epoch has no batch), "
                             f"got {self.batch_size}")
        self.min_width = None if min_width is None else _int("min_width", min_width, 1)
        if max_width is None:
            max_width = time_width
        elif time_width is not None and _int("max_width", max_width, 1) > time_width:
            raise ValueError(f"max_width must be <= the time axis of time_keys ({time_width}), "
                             f"got {max_width}")
        self.max_width = None if max_width is None else _int("max_width", max_width, 1)
        self.lengths = None if lengths is None else self._check_lengths(lengths)
        if (self.bucket or self.min_width is not None) and self.lengths is None:
            what = "bucket=True" if self.bucket else f"min_width={self.min_width}"
            raise ValueError(f"lengths (N,) = ({self.n},) is required with {what}, got None")
        if self.bucket and self.min_width is None:
            raise ValueError("min_width is required with bucket=True (the bucket widths start "
                             "there), got None")
        if self.time_keys and self.min_width is None:
            raise ValueError(f"time_keys {list(self.time_keys)} are cut to each batch's width, "
                             f"which needs min_width; got min_width=None")
        self._groups = self._length_groups() if self.bucket and order == "replacement" else None
        self._plan_cache: tuple[int, list] = (-1, [])

    def _check_examples(self, examples, time_keys, collate) -> tuple[int, Optional[int]]:
        """(N, the shared axis-1 size of the time_keys arrays or None)."""
        if not isinstance(examples, Mapping):
            if isinstance(examples, (str, bytes)) or not isinstance(examples, Sequence):
                raise TypeError(f"examples must be a dict of arrays or a sequence of examples, "
                                f"got {type(examples).__name__}")
            if collate is None:
                raise ValueError("collate is required when examples is a sequence (it turns "
                                 "the selected items into a batch), got None")
            if time_keys:
                raise ValueError(f"time_keys name arrays of dict examples; examples is a "
                                 f"{type(examples).__name__}, got time_keys {list(time_keys)}")
            if not examples:
                raise ValueError("examples must hold at least one example, got none")
            return len(examples), None
        if not examples:
            raise ValueError("examples must hold at least one array, got an empty dict")
        sizes = {}
        for name, a in examples.items():
            if np.ndim(a) == 0:
                raise ValueError(f"examples[{name!r}] must have a leading (example) axis, got a scalar")
            sizes[name] = np.shape(a)[0]
        if len(set(sizes.values())) != 1:
            desc = ", ".join(f"{k}: {v}" for k, v in sizes.items())
            raise ValueError(f"examples: all arrays must share the leading axis N, got {desc}")
        widths = {}
        for name in time_keys:
            if name not in examples:
                raise ValueError(f"time_keys names {name!r}, which is not one of the examples' "
                                 f"arrays {list(examples)}")
            if np.ndim(examples[name]) < 2:
                raise ValueError(f"time_keys: examples[{name!r}] must have a time axis 1, got "
                                 f"shape {np.shape(examples[name])}")
            widths[name] = np.shape(examples[name])[1]
        if len(set(widths.values())) > 1:
            desc = ", ".join(f"{k}: {v}" for k, v in widths.items())
            raise ValueError(f"time_keys: the arrays must share the time axis 1, got {desc}")
        return next(iter(sizes.values())), next(iter(widths.values()), None)

    def _check_lengths(self, lengths) -> np.ndarray:
        lengths = np.asarray(lengths)
        if lengths.shape != (self.n,):
            raise ValueError(f"lengths must have shape (N,) = ({self.n},), got {lengths.shape}")
        if lengths.size and not np.issubdtype(lengths.dtype, np.integer):
            raise TypeError(f"lengths must hold integers, got dtype {lengths.dtype}")
        if lengths.size and lengths.min() < 0:
            raise ValueError(f"lengths must be >= 0, got {int(lengths.min())} at index "
                             f"{int(lengths.argmin())}")
        if self.max_width is not None and lengths.size and lengths.max() > self.max_width:
            raise ValueError(f"lengths must be <= max_width = {self.max_width}, got "
                             f"{int(lengths.max())} at index {int(lengths.argmax())}")
        return lengths

    def _length_groups(self) -> dict[int, np.ndarray]:
        """{bucket width: the indices (ascending) of the examples of that width}."""
        keys = np.array([bucket_width(n, self.min_width, self.max_width) for n in self.lengths])
        return {int(w): np.flatnonzero(keys == w) for w in np.unique(keys)}

    def __len__(self) -> int:
        """Steps per epoch: N // B with drop_last, else ceil(N / B) (for "replacement", the
        ceil(N / B) steps that draw N rows)."""
        if self.order == "epochs" and self.drop_last:
            return self.n // self.batch_size
        return math.ceil(self.n / self.batch_size)

    def epoch(self, step: int) -> int:
        """The epoch of `step`: step // len(self)."""
        return _int("step", step, 0) // len(self)

    @property
    def widths(self) -> Optional[list[int]]:
        """The widths a batch can have (None: the arrays' full width is kept)."""
        if self.min_width is None:
            return None
        if self.max_width is not None:
            return allowed_widths(self.min_width, self.max_width)
        return allowed_widths(self.min_width, bucket_width(int(self.lengths.max()), self.min_width))

    def epoch_rows(self, epoch: int) -> list[np.ndarray]:
        """The row indices of every batch of `epoch` ("epochs" order), in step order."""
        epoch = _int("epoch", epoch, 0)
        if self._plan_cache[0] == epoch:
            return self._plan_cache[1]
        rng = np.random.default_rng([self.seed, epoch])
        kept = self.n - self.n % self.batch_size if self.drop_last else self.n
        order = rng.permutation(self.n)[:kept]
        b = self.batch_size
        if not self.bucket:
            plan = [order[i:i + b] for i in range(0, kept, b)]
        else:
            plan = []
            for start in range(0, kept, b * self.pool):
                chunk = order[start:start + b * self.pool]
                chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
                plan += [chunk[i:i + b] for i in range(0, len(chunk), b)]
            plan = [plan[i] for i in rng.permutation(len(plan))]
        self._plan_cache = (epoch, plan)
        return plan

    def draw_rows(self, rng: np.random.Generator) -> np.ndarray:
        """`batch_size` row indices drawn with replacement by `rng` (within one length
        group with `bucket`)."""
        if self._groups is None:
            return rng.integers(0, self.n, self.batch_size)
        anchor = int(rng.integers(0, self.n))
        width = bucket_width(self.lengths[anchor], self.min_width, self.max_width)
        members = self._groups[width]
        return members[rng.integers(0, len(members), self.batch_size)]

    def draw(self, rng: np.random.Generator) -> dict:
        """The "replacement" batch drawn by `rng` (`batches(s)` is `draw(default_rng([seed, s]))`
        in that order)."""
        return self.gather(self.draw_rows(rng), rng)

    def gather(self, rows: np.ndarray, rng: np.random.Generator) -> dict:
        """The batch of the examples `rows`, cut to its width (see the class docstring)."""
        width = None
        if self.min_width is not None:
            longest = int(self.lengths[rows].max()) if len(rows) else 0
            width = bucket_width(longest, self.min_width, self.max_width)
        if isinstance(self.examples, Mapping):
            batch = {k: (v[rows, :width] if k in self.time_keys else v[rows])
                     for k, v in self.examples.items()}
        else:
            batch = [self.examples[i] for i in rows]
        return batch if self.collate is None else self.collate(batch, width, rng)

    def __call__(self, step: int) -> dict:
        """The batch of `step` (a pure function of (seed, step))."""
        step = _int("step", step, 0)
        if self.order == "replacement":
            return self.draw(np.random.default_rng([self.seed, step]))
        rows = self.epoch_rows(step // len(self))[step % len(self)]
        return self.gather(rows, np.random.default_rng([self.seed, step, 1]))
