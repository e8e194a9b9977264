"""The linear recurrence h_t = a_t ⊙ h_{t-1} + b_t (a_t > 0, b_t > 0) as a parallel scan in
log space, for minLSTM and minGRU (Feng et al. 2024, "Were RNNs all we needed?", sec. 3 and
appendix B).

With log a_t and log b_t given, the steps compose associatively:
(A₁, B₁) then (A₂, B₂) = (A₁ + A₂, logaddexp(A₂ + B₁, B₂)), so `lax.associative_scan`
yields A_t = Σ_{s<=t} log a_s and B_t = log Σ_{s<=t} b_s Π_{s<r<=t} a_r in O(log T) depth, and

    h_t = exp(A_t) ⊙ h_0 + exp(B_t).

The candidate activation `g` keeps b_t > 0. h_0 enters linearly, so it may have any sign;
only the b_t must be positive. Padded steps (t >= lengths, and the steps that fill the last
chunk) get log a = 0 and log b = `log_zero(dtype)`, a finite stand-in for -inf (half the
dtype's lowest value, whose exp is 0): they leave h unchanged, and logaddexp's tangent
exp(x - logaddexp(x, y)) stays finite where both operands are log zeros (with -inf it is
exp(-inf + inf) = NaN, which made forward-mode derivatives and second derivatives NaN).
"""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp
from jax import lax

from jaxlstm.core.scan import reverse_valid_prefix


def g(x: jax.Array) -> jax.Array:
    """The positive candidate activation of the log-space min-RNNs: x + 1/2 for x >= 0, σ(x)
    below (continuous, increasing, > 0)."""
    return jnp.where(x >= 0, x + 0.5, jax.nn.sigmoid(x))


def log_g(x: jax.Array) -> jax.Array:
    """log g(x), computed without forming g(x) for x < 0 (log σ(x) = -softplus(-x))."""
    return jnp.where(x >= 0, jnp.log(jnp.maximum(x, 0.0) + 0.5), -jax.nn.softplus(-x))


def log_zero(dtype) -> float:
    """A finite log 0 in `dtype`: exp of it is 0 and sums of a few of them do not overflow."""
    return 0.5 * float(jnp.finfo(dtype).min)


def _compose(first, second):
    a1, b1 = first
    a2, b2 = second
    return a1 + a2, jnp.logaddexp(a2 + b1, b2)


def log_linear_scan(log_a: jax.Array, log_b: jax.Array, h0: jax.Array, *,
                    lengths: Optional[jax.Array] = None, reverse: bool = False,
                    chunk_size: int = 64):
    """h_t = a_t h_{t-1} + b_t over log_a, log_b (T, H) from h0 (H,).

    `lengths` and `reverse` as in `jaxlstm.core.scan_cell`: padded steps emit zeros, the
    final state is h at the last valid step, and `reverse` runs over the valid prefix
    backwards (log_a, log_b are given in input order).

    The associative scan runs within chunks of `chunk_size` steps (its compile time
    grows with log T and is seconds for T ~ 10³, so T does not enter it); a `lax.scan` over
    the T / chunk_size chunk summaries then carries h from chunk to chunk.

    Returns `(h_final (H,), hs (T, H))`.
    """
    num_steps = log_a.shape[0]
    if reverse:
        log_a, log_b = (reverse_valid_prefix(a, lengths) for a in (log_a, log_b))
    if lengths is not None:
        valid = (jnp.arange(num_steps) < lengths)[:, None]
        log_a = jnp.where(valid, log_a, 0.0)
        log_b = jnp.where(valid, log_b, log_zero(log_b.dtype))
    if num_steps == 0:
        return h0, jnp.zeros(log_a.shape, h0.dtype)
    hs = _chunked_scan(log_a, log_b, h0, min(chunk_size, num_steps))
    final = hs[-1]
    if lengths is not None:
        hs = jnp.where(valid, hs, 0.0)
    if reverse:
        hs = reverse_valid_prefix(hs, lengths)
    return final, hs


def _chunked_scan(log_a, log_b, h0, size: int):
    """h (T, H) of the recurrence: associative scans within chunks, `lax.scan` across."""
    num_steps = log_a.shape[0]
    num_chunks = -(-num_steps // size)
    pad = num_chunks * size - num_steps
    shape = (num_chunks, size) + log_a.shape[1:]
    log_a = jnp.concatenate([log_a, jnp.zeros((pad,) + log_a.shape[1:], log_a.dtype)]).reshape(shape)
    log_b = jnp.concatenate([log_b, jnp.full((pad,) + log_b.shape[1:], log_zero(log_b.dtype), log_b.dtype)]
                            ).reshape(shape)
    a_cum, b_cum = lax.associative_scan(_compose, (log_a, log_b), axis=1)

    def carry_over(h, chunk):
        a, b = chunk
        return jnp.exp(a[-1]) * h + jnp.exp(b[-1]), h

    _, starts = lax.scan(carry_over, h0, (a_cum, b_cum))                # h before each chunk
    hs = jnp.exp(a_cum) * starts[:, None] + jnp.exp(b_cum)
    return hs.reshape((num_chunks * size,) + hs.shape[2:])[:num_steps]


def linear_scan_default_mode(num_steps: int) -> str:
    """The form `mode="auto"` of minLSTM and minGRU runs for T steps: "sequential" on CPU,
    where it was the faster training step at every T measured (T = 128, 512, 2048: minLSTM
    2.4, 14, 74 ms vs 6.8, 76, 366; minGRU 1.5, 10, 65 vs 4.8, 29, 250;
    docs/modern_cells.md), "parallel" (this log-space scan) on accelerators (not measured)."""
    return "sequential" if jax.default_backend() == "cpu" else "parallel"
