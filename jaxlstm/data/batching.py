"""Mini-batches over NumPy arrays, and padding of ragged integer sequences."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from jaxlstm.data.rng import as_generator, check_positive_int


def _leaves(arrays) -> list[tuple[str, np.ndarray]]:
    """(name, array) pairs of a dict, NamedTuple or plain tuple/list of arrays."""
    if isinstance(arrays, Mapping):
        items = [(str(k), v) for k, v in arrays.items()]
    elif isinstance(arrays, tuple) and hasattr(arrays, "_fields"):
        items = list(zip(arrays._fields, arrays))
    elif isinstance(arrays, (tuple, list)):
        items = [(f"arrays[{i}]", v) for i, v in enumerate(arrays)]
    else:
        raise TypeError(
            f"arrays must be a dict, NamedTuple, tuple or list of arrays, got {type(arrays).__name__}"
        )
    if not items:
        raise ValueError("arrays must contain at least one array, got none")
    return [(name, np.asarray(v)) for name, v in items]


def _rebuild(arrays, parts: list[np.ndarray]):
    """Put `parts` back into the container type of `arrays`."""
    if isinstance(arrays, Mapping):
        return dict(zip(arrays.keys(), parts))
    if isinstance(arrays, tuple) and hasattr(arrays, "_fields"):
        return type(arrays)(*parts)
    return tuple(parts)


def num_examples(arrays) -> int:
    """The shared leading dimension N of all arrays; ValueError if they differ."""
    leaves = _leaves(arrays)
    for name, a in leaves:
        if a.ndim == 0:
            raise ValueError(f"{name} must have a leading (example) axis, got a scalar")
    sizes = {name: a.shape[0] for name, a in leaves}
    if len(set(sizes.values())) != 1:
        desc = ", ".join(f"{k}: {v}" for k, v in sizes.items())
        raise ValueError(f"all arrays must share the leading dimension N, got {desc}")
    return next(iter(sizes.values()))


def iterate_batches(
    arrays,
    batch_size: int,
    rng=None,
    *,
    shuffle: bool = True,
    drop_last: bool = False,
) -> Iterator:
    """Yield mini-batches of `arrays` (dict, NamedTuple or tuple, all with leading N).

    Each batch has the container type of `arrays` (a plain tuple for lists) and
    arrays of shape (B, ...) with B = `batch_size`, except possibly the last
    batch (B = N mod batch_size) unless `drop_last`. With `shuffle`, one
    permutation drawn from `rng` (a `numpy.random.Generator` or int seed,
    required) orders the whole epoch; without it, examples come in order.
    """
    batch_size = check_positive_int("batch_size", batch_size)
    n = num_examples(arrays)
    leaves = [a for _, a in _leaves(arrays)]
    if shuffle:
        if rng is None:
            raise ValueError("rng is required when shuffle=True (a numpy.random.Generator or int seed)")
        order = as_generator(rng).permutation(n)
    else:
        order = np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = order[start : start + batch_size]
        yield _rebuild(arrays, [a[idx] for a in leaves])


def random_split(arrays, fraction: float, rng):
    """Split examples at random into (first, second) with round(fraction * N) in `first`.

    Both parts keep the container type of `arrays`; `rng` is a Generator or int seed.
    """
    if not 0.0 < float(fraction) < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    n = num_examples(arrays)
    order = as_generator(rng).permutation(n)
    k = int(round(float(fraction) * n))
    leaves = [a for _, a in _leaves(arrays)]
    first = _rebuild(arrays, [a[order[:k]] for a in leaves])
    second = _rebuild(arrays, [a[order[k:]] for a in leaves])
    return first, second


def pad_sequences(
    sequences: Sequence[Sequence[int]],
    max_len: int | None = None,
    pad: int = 0,
    *,
    truncate: str = "post",
) -> tuple[np.ndarray, np.ndarray]:
    """Pad ragged integer sequences into a matrix.

    Args:
      sequences: N sequences of ints (lists, tuples or 1-D integer arrays).
      max_len: width L of the result; None uses the longest sequence. Longer
        sequences are truncated: "post" keeps the first L items, "pre" the last L.
      pad: value written after the end of each sequence.

    Returns:
      ids: (N, L) int32, sequence i in ids[i, :lengths[i]], `pad` after it.
      lengths: (N,) int32, min(len(sequence), L).
    """
    if truncate not in ("post", "pre"):
        raise ValueError(f"truncate must be 'post' or 'pre', got {truncate!r}")
    seqs = [np.asarray(s) for s in sequences]
    for i, s in enumerate(seqs):
        if s.ndim != 1:
            raise ValueError(f"sequences[{i}] must be 1-D, got shape {s.shape}")
        if s.size and not np.issubdtype(s.dtype, np.integer):
            raise TypeError(f"sequences[{i}] must contain integers, got dtype {s.dtype}")
    if max_len is None:
        max_len = max((s.size for s in seqs), default=0)
    else:
        max_len = check_positive_int("max_len", max_len, minimum=0)
    ids = np.full((len(seqs), max_len), pad, dtype=np.int32)
    lengths = np.zeros(len(seqs), dtype=np.int32)
    for i, s in enumerate(seqs):
        kept = s[:max_len] if truncate == "post" else s[max(s.size - max_len, 0) :]
        ids[i, : kept.size] = kept
        lengths[i] = kept.size
    return ids, lengths


def length_mask(lengths, max_len: int) -> np.ndarray:
    """(N, max_len) bool mask, True at t < lengths[i]."""
    lengths = np.asarray(lengths)
    return np.arange(max_len)[None, :] < lengths[:, None]
