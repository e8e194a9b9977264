"""Connectionist temporal classification (Graves et al., 2006): loss, decoding, error rate.

A CTC model emits per-frame logits (B, T, K) over K classes, one of which is the
blank (`blank_id`, default 0). An alignment pi (one class per frame) maps to a
label sequence by B(pi): merge runs of repeated classes, then drop blanks
(so "a a _ a" -> "a a"). The CTC loss of a label sequence y is

  -log p(y | x) = -log sum_{pi : B(pi) = y} prod_t softmax(logits_t)[pi_t]

computed by `optax.ctc_loss` with the forward algorithm. This module converts the
(B,) lengths used elsewhere in jaxlstm to optax's padding masks, and adds best-path
decoding and the label error rate (total edit distance / total reference length).

Conventions inherited from `optax.ctc_loss`:
  * logits are unnormalised (optax applies log_softmax; log-probabilities work too);
  * paddings are 1.0 at padded positions; labels must be right-padded;
  * log 0 is approximated by `log_epsilon` = -1e5, so a label sequence that cannot fit
    in its frames (fewer frames than labels plus the blanks needed between repeats)
    gets a huge finite loss (order 1e5) rather than inf, and gradients stay finite;
  * the loss is per sequence, not normalised by length.
"""

from __future__ import annotations

from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxlstm.core.validation import check_float, check_rank

__all__ = [
    "lengths_to_paddings", "ctc_loss", "ctc_greedy_decode_padded", "ctc_greedy_decode",
    "edit_distance", "label_error_rate",
]


def _check_lengths(name: str, lengths, batch: int, max_len: int, axis_name: str) -> None:
    """`lengths` must be integers of shape (B,), in [0, max_len] when concrete."""
    dtype = jnp.result_type(lengths)
    if not jnp.issubdtype(dtype, jnp.integer):
        raise TypeError(f"{name} must be an integer array, got dtype {dtype}")
    if tuple(jnp.shape(lengths)) != (batch,):
        raise ValueError(f"{name} must have shape (B,) = ({batch},), got shape "
                         f"{jnp.shape(lengths)}")
    if isinstance(lengths, jax.core.Tracer):
        return
    values = np.asarray(lengths)
    if values.size and (values.min() < 0 or values.max() > max_len):
        raise ValueError(f"{name} must lie in [0, {axis_name}={max_len}], got min "
                         f"{values.min()} and max {values.max()}")


def _check_logits(logits, lengths, blank_id: int):
    """Check (B, T, K) logits, (B,) lengths (or None: all T) and blank_id -> (B, T, K)."""
    check_float("logits", logits)
    check_rank("logits", logits, 3, "(B, T, K)")
    batch, num_steps, num_classes = logits.shape
    if not 0 <= blank_id < num_classes:
        raise ValueError(f"blank_id must lie in [0, K={num_classes}), got {blank_id}")
    if lengths is not None:
        _check_lengths("lengths", lengths, batch, num_steps, "T")
    return batch, num_steps, num_classes


def _full_lengths(lengths, batch: int, num_steps: int) -> jax.Array:
    return jnp.full((batch,), num_steps, jnp.int32) if lengths is None else jnp.asarray(lengths)


def lengths_to_paddings(lengths: jax.Array, max_len: int, dtype=jnp.float32) -> jax.Array:
    """(B,) lengths -> (B, max_len) paddings: 1.0 where t >= length (padded), else 0.0."""
    return (jnp.arange(max_len)[None, :] >= jnp.asarray(lengths)[:, None]).astype(dtype)


def ctc_loss(logits: jax.Array, lengths: Optional[jax.Array], labels: jax.Array,
             label_lengths: jax.Array, blank_id: int = 0, log_epsilon: float = -1e5) -> jax.Array:
    """Per-sequence CTC loss -log p(labels | logits) -> (B,).

    logits (B, T, K) unnormalised; lengths (B,) valid frames (None: all T);
    labels (B, L) int, right-padded (padding values are ignored);
    label_lengths (B,) in [0, L]. Valid labels must lie in [0, K) and differ from
    `blank_id` (checked when the labels are concrete). A wrapper of `optax.ctc_loss`;
    see the module docstring for its conventions (log_epsilon, infeasible labels).
    """
    batch, num_steps, num_classes = _check_logits(logits, lengths, blank_id)
    lengths = _full_lengths(lengths, batch, num_steps)
    check_rank("labels", labels, 2, "(B, L)")
    dtype = jnp.result_type(labels)
    if not jnp.issubdtype(dtype, jnp.integer):
        raise TypeError(f"labels must be an integer array, got dtype {dtype}")
    if labels.shape[0] != batch:
        raise ValueError(f"labels must have shape (B, L) with B={batch} (the batch of logits "
                         f"{logits.shape}), got shape {labels.shape}")
    max_labels = labels.shape[1]
    _check_lengths("label_lengths", label_lengths, batch, max_labels, "L")
    if not isinstance(labels, jax.core.Tracer) and not isinstance(label_lengths, jax.core.Tracer):
        values = np.asarray(labels)
        valid = np.arange(max_labels)[None, :] < np.asarray(label_lengths)[:, None]
        bad = valid & ((values < 0) | (values >= num_classes) | (values == blank_id))
        if bad.any():
            raise ValueError(f"labels must lie in [0, K={num_classes}) and differ from "
                             f"blank_id={blank_id} at valid positions, got "
                             f"{sorted(set(values[bad].tolist()))}")
    return optax.ctc_loss(
        logits,
        lengths_to_paddings(lengths, num_steps, logits.dtype),
        labels,
        lengths_to_paddings(label_lengths, max_labels, logits.dtype),
        blank_id=blank_id,
        log_epsilon=log_epsilon,
    )


def ctc_greedy_decode_padded(logits: jax.Array, lengths: Optional[jax.Array] = None,
                             blank_id: int = 0) -> tuple[jax.Array, jax.Array]:
    """Best-path decoding, jittable -> (labels (B, T) int32 with -1 fill, lengths (B,) int32).

    pi_t = argmax_k logits[b, t, k] over the valid frames t < lengths[b], then
    B(pi): keep pi_t when pi_t != blank and pi_t != pi_{t-1}. The kept labels are
    packed to the left of each row; the rest is -1.
    """
    batch, num_steps, _ = _check_logits(logits, lengths, blank_id)
    lengths = _full_lengths(lengths, batch, num_steps)
    best = jnp.argmax(logits, axis=-1).astype(jnp.int32)  # (B, T)
    previous = jnp.pad(best[:, :-1], ((0, 0), (1, 0)), constant_values=-1)
    valid = jnp.arange(num_steps)[None, :] < lengths[:, None]
    keep = valid & (best != blank_id) & (best != previous)
    position = jnp.where(keep, jnp.cumsum(keep, axis=1) - 1, num_steps)  # T: dropped
    rows = jnp.arange(batch)[:, None]
    decoded = jnp.full((batch, num_steps), -1, jnp.int32)
    decoded = decoded.at[rows, position].set(best, mode="drop")
    return decoded, keep.sum(axis=1).astype(jnp.int32)


_greedy_jit = jax.jit(ctc_greedy_decode_padded, static_argnames="blank_id")


def ctc_greedy_decode(logits: jax.Array, lengths: Optional[jax.Array] = None,
                      blank_id: int = 0) -> list[list[int]]:
    """Best-path decoding -> one Python list of labels per sequence (B lists).

    logits (B, T, K), lengths (B,) (None: all T). See `ctc_greedy_decode_padded`.
    """
    _check_logits(logits, lengths, blank_id)  # outside jit: also range-checks lengths
    decoded, counts = _greedy_jit(logits, lengths, blank_id=blank_id)
    decoded, counts = np.asarray(decoded), np.asarray(counts)
    return [decoded[b, :counts[b]].tolist() for b in range(decoded.shape[0])]


def edit_distance(a: Sequence, b: Sequence) -> int:
    """Levenshtein distance: fewest insertions, deletions and substitutions turning a into b.

      d(i, 0) = i,  d(0, j) = j,
      d(i, j) = min(d(i-1, j) + 1, d(i, j-1) + 1, d(i-1, j-1) + [a_i != b_j])

    a, b: any sequences of comparable items (strings, lists of label ids, 1-D arrays).
    O(len(a) * len(b)) time, O(len(b)) memory.
    """
    a, b = list(a), list(b)
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        diagonal, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (x != y))
    return row[-1]


def label_error_rate(refs: Sequence[Sequence], hyps: Sequence[Sequence]) -> float:
    """Label error rate = sum_i edit_distance(refs[i], hyps[i]) / sum_i len(refs[i]).

    refs, hyps: equally many sequences (lists of label lists, or strings for a character
    error rate). Can exceed 1 (insertions). Raises ValueError when the counts differ or
    the references are all empty (the rate is undefined).
    """
    if len(refs) != len(hyps):
        raise ValueError(f"refs and hyps must hold the same number of sequences, got "
                         f"{len(refs)} and {len(hyps)}")
    total = sum(len(r) for r in refs)
    if total == 0:
        raise ValueError("label_error_rate is undefined when the references have total "
                         "length 0")
    return sum(edit_distance(r, h) for r, h in zip(refs, hyps)) / total
