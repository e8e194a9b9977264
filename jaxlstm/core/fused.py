"""The standard LSTM over a batch, with a hand-written backward pass.

`fused_lstm` runs `CellSpec()` (sigmoid gates, tanh candidate and cell activation,
no peepholes, no projection) over time-major inputs xs (T, B, X):

    z_t = [x_t, h_{t-1}]·[w_x; w_h] + b,   i, f, o = σ(z_i), σ(z_f), σ(z_o),   g = tanh(z_g)
    c_t = f ⊙ c_{t-1} + i ⊙ g,             h_t = o ⊙ tanh(c_t)

(`cell_step`'s equations, x_t·w_x + h_{t-1}·w_h as one K = X + H matmul, which
XLA:CPU runs faster than two; written out here because the loop may run in the
feature-major layout below). The forward pass saves i, f, g, o and c_t of every
step; [x_t, h_{t-1}] is read back from xs and hs, which exist anyway (saving it
too cost S4's training step 8 %). The backward scan carries only (∂L/∂h, ∂L/∂c)
and emits dz_t = ∂L/∂z_t (B, 4H), blocks i, f, g, o:

    dc   = ∂L/∂c_t + ∂L/∂h_t ⊙ o ⊙ (1 - tanh²c_t)
    dz_i = dc ⊙ g ⊙ i(1 - i)        dz_f = dc ⊙ c_{t-1} ⊙ f(1 - f)
    dz_g = dc ⊙ i ⊙ (1 - g²)        dz_o = ∂L/∂h_t ⊙ tanh(c_t) ⊙ o(1 - o)
    ∂L/∂h_{t-1} = dz_t · w_hᵀ        ∂L/∂c_{t-1} = dc ⊙ f

and the parameter and input gradients are then one matmul each over all T·B rows:

    ∂L/∂w_x = Xᵀ dZ    ∂L/∂w_h = H_{t-1}ᵀ dZ    ∂L/∂b = Σ dZ    ∂L/∂X = dZ · w_xᵀ

where autodiff of the scan would do a K = B matmul per step for each weight and
accumulate it in the loop — except batch-major with B >= 8 (B >= H), where those
K = B matmuls are efficient and the loop accumulates Σ_t [x_t, h_{t-1}]ᵀ dz_t
itself instead of stacking dZ. Reverse mode only (`jax.jvp` is not defined for it);
the backward pass is plain JAX, so gradients of gradients work.

Layout: when 8 <= B < H both loops carry the state feature-major, (H, B), and
compute z_tᵀ = [w_x; w_h]ᵀ·[x_t, h_{t-1}]ᵀ. XLA:CPU runs these per-step matmuls
faster there (B=16, H=512: forward 1.6x, training step 1.15x faster; B=32, H=256:
forward 1.2x) but not at B=256, H=128 (training step 10 % slower) nor at B <= 4
(forward 1.2-1.3x slower); experiments/BENCH_NOTES.md. The stacked inputs and
outputs are transposed once, outside the loops; feature-major, the backward loop
emits dz_tᵀ (B, 4H), so dZ is stacked batch-major for the weight-gradient matmuls
(S2 training step 5 % faster than transposing the stacked dZ after the loop).
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
from jax import lax

from jaxlstm.core.onednn import onednn_lstm, runs_onednn
from jaxlstm.core.params import LSTMParams
from jaxlstm.core.spec import CellSpec


def runs_fused(spec: CellSpec, params: LSTMParams) -> bool:
    """Whether `fused_lstm` computes this layer: the standard cell, no peepholes or projection."""
    standard = CellSpec(forget_bias=spec.forget_bias)
    return spec == standard and params.w_peep is None and params.w_proj is None


class Layout(NamedTuple):
    """Where the batch axis sits inside the loops: last (feature-major) or first."""

    feature_major: bool

    @property
    def feature_axis(self) -> int:
        """The axis of features (x, h) and gates (z): 0 of (n, B), or -1 of (B, n)."""
        return 0 if self.feature_major else -1

    def convert(self, a):
        """(..., B, n) <-> (..., n, B) when feature-major; None stays None."""
        return a if a is None or not self.feature_major else jnp.swapaxes(a, -1, -2)

    def join_gates(self, blocks):
        """Four (B, H) or (H, B) gate blocks -> one (B, 4H) or (4H, B) array.

        Feature-major, the blocks are written into place: XLA:CPU emitted a concatenate along
        axis 0 as an unvectorised loop (S1: 100 µs a step, training step 147 -> 135 ms without it;
        batch-major its concatenate is fast and writing into place was not)."""
        if not self.feature_major:
            return jnp.concatenate(blocks, axis=-1)
        n = blocks[0].shape[0]
        joined = jnp.zeros((4 * n,) + blocks[0].shape[1:], blocks[0].dtype)
        for k, block in enumerate(blocks):
            joined = lax.dynamic_update_slice_in_dim(joined, block, k * n, axis=0)
        return joined

    def weights(self, w):
        """w (K, G) as `project` takes it: wᵀ (G, K) when feature-major. Call it outside the loops:
        a transpose inside a loop body is redone every step (S2 forward 2.5x slower)."""
        return w.T if self.feature_major else w

    def project(self, w, v):
        """v·w in this layout: v (B, K) or (K, B), w from `weights` -> (B, G) or (G, B)."""
        return w @ v if self.feature_major else v @ w


def layout_for(batch: int, hidden: int) -> Layout:
    """Feature-major for 8 <= B < H, where it was measured faster; batch-major otherwise."""
    return Layout(feature_major=8 <= batch < hidden)


def fused_lstm(w_x, w_h, b, xs, h0, c0, valid: Optional[jax.Array], unroll: int):
    """The standard LSTM over xs (T, B, X) from (h0, c0) (B, H).

    `valid` (T, B, 1) bool, or None: at steps where it is False the state is kept
    and the output is zero (as `scan_cell` with lengths).

    Returns `(hs (T, B, H), h_T (B, H), c_T (B, H))`. On the CPU, float32 layers with
    B >= 8 and no `valid` run oneDNN's LSTM primitive (`jaxlstm.core.onednn`, where it
    is built); everything else runs `xla_fused_lstm`.
    """
    if runs_onednn(xs, w_x, w_h, b, h0, c0, valid):
        return onednn_lstm(w_x, w_h, b, xs, h0, c0)
    return xla_fused_lstm(w_x, w_h, b, xs, h0, c0, valid, unroll)


@functools.partial(jax.custom_vjp, nondiff_argnums=(7,))
def xla_fused_lstm(w_x, w_h, b, xs, h0, c0, valid: Optional[jax.Array], unroll: int):
    """`fused_lstm` as one `lax.scan` with the hand-written backward pass above."""
    (h, c), (hs, _, _) = _forward(w_x, w_h, b, xs, h0, c0, valid, unroll, save=False)
    return hs, h, c


def _forward(w_x, w_h, b, xs, h0, c0, valid, unroll, save):
    """The scan over xs (T, B, X); with `save`, it also emits each step's (i, f, g, o, c_t).

    Returns `((h_T, c_T), (hs, states, saved))`: h_T, c_T (B, H); hs (T, B, H) the outputs,
    states (T, B, H) the h_t (hs itself unless `valid` zeroes outputs); saved the stacked
    (i, f, g, o, c_t) in the loop layout, or None."""
    lay = layout_for(xs.shape[1], w_h.shape[0])
    w = lay.weights(jnp.concatenate([w_x, w_h]))  # (X + H, 4H): one matmul per step
    bias = b[:, None] if lay.feature_major else b

    def step(state, inputs):
        h, c = state
        x, is_valid = inputs
        z = lay.project(w, jnp.concatenate([x, h], axis=lay.feature_axis)) + bias
        z_i, z_f, z_g, z_o = jnp.split(z, 4, axis=lay.feature_axis)
        i, f, g, o = jax.nn.sigmoid(z_i), jax.nn.sigmoid(z_f), jnp.tanh(z_g), jax.nn.sigmoid(z_o)
        c_new = f * c + i * g
        h_new = out = o * jnp.tanh(c_new)
        if is_valid is not None:
            h_new, c_new = jnp.where(is_valid, h_new, h), jnp.where(is_valid, c_new, c)
            out = jnp.where(is_valid, out, 0.0)
        return (h_new, c_new), (out, h_new if save and is_valid is not None else None,
                                (i, f, g, o, c_new) if save else None)

    (h, c), (hs, states, saved) = lax.scan(step, (lay.convert(h0), lay.convert(c0)),
                                           (lay.convert(xs), lay.convert(valid)), unroll=unroll)
    hs = lay.convert(hs)
    states = hs if states is None else lay.convert(states)
    return (lay.convert(h), lay.convert(c)), (hs, states, saved)


def _fused_lstm_fwd(w_x, w_h, b, xs, h0, c0, valid, unroll):
    (h, c), (hs, states, saved) = _forward(w_x, w_h, b, xs, h0, c0, valid, unroll, save=True)
    return (hs, h, c), (w_x, w_h, h0, c0, valid, xs, states, saved)


def _previous(seq, first, t):
    """seq[t - 1], or `first` at t = 0: the state before step t, read by index in the loop
    instead of from a shifted copy of seq."""
    return jnp.where(t > 0, lax.dynamic_index_in_dim(seq, jnp.maximum(t - 1, 0), keepdims=False),
                     first)


def _fused_lstm_bwd(unroll, residuals, cotangents):
    w_x, w_h, h0, c0, valid, xs, hs, (i, f, g, o, cs) = residuals
    d_hs, d_h, d_c = cotangents
    lay = layout_for(c0.shape[0], w_h.shape[0])
    # Batch-major with B >= 8 (so B >= H), the weight gradients accumulate in the loop: K = B
    # matmuls, which XLA:CPU runs well at that size, and no (T, B, 4H) dZ is stacked (S4 training
    # step 177 -> 156 ms). Otherwise the loop stacks dZ for one matmul over all T·B rows after it.
    accumulate = not lay.feature_major and c0.shape[0] >= 8
    # dz·w_hᵀ = project(w_h_back, dz). Outside the loop: at B = 1 a w_h.T inside it was copied
    # every step (S3 training step 24.0 vs 20.9 ms).
    w_h_back = lay.weights(w_h.T)
    c0 = lay.convert(c0)

    def step(carry, inputs):
        dh, dc, sums = carry
        t, d_out, x, i, f, g, o, c, is_valid = inputs
        if is_valid is None:
            dh_new, dc_new = dh + d_out, dc
        else:
            dh_new, dc_new = jnp.where(is_valid, dh + d_out, 0.0), jnp.where(is_valid, dc, 0.0)
        tanh_c = jnp.tanh(c)
        dc_new = dc_new + dh_new * o * (1.0 - tanh_c * tanh_c)
        c_prev = _previous(cs, c0, t)
        dz = lay.join_gates([dc_new * g * i * (1.0 - i), dc_new * c_prev * f * (1.0 - f),
                             dc_new * i * (1.0 - g * g), dh_new * tanh_c * o * (1.0 - o)])
        dh_prev, dc_prev = lay.project(w_h_back, dz), dc_new * f
        if is_valid is not None:
            dh_prev = dh_prev + jnp.where(is_valid, 0.0, dh)
            dc_prev = dc_prev + jnp.where(is_valid, 0.0, dc)
        if sums is None:
            return (dh_prev, dc_prev, None), dz.T if lay.feature_major else dz
        xh_t = jnp.concatenate([x, _previous(hs, h0, t)], axis=-1)
        d_w, d_b = sums
        sums = (d_w + xh_t.T @ dz, d_b + jnp.sum(dz, axis=0))
        return (dh_prev, dc_prev, sums), dz @ w_x_back  # ∂L/∂x_t (batch-major only)

    if accumulate:
        w_x_back = w_x.T
        d_w0 = jnp.zeros((w_x.shape[0] + w_h.shape[0], w_h.shape[1]), w_h.dtype)
        sums = (d_w0, jnp.zeros_like(w_h[0]))
    else:
        sums = None
    steps = jnp.arange(cs.shape[0])
    (d_h0, d_c0, sums), per_step = lax.scan(
        step, (lay.convert(d_h), lay.convert(d_c), sums),
        (steps, lay.convert(d_hs), xs if accumulate else None, i, f, g, o, cs, lay.convert(valid)),
        reverse=True, unroll=unroll)
    if accumulate:
        (d_w, d_b), d_xs = sums, per_step
        d_w_x, d_w_h = jnp.split(d_w, [w_x.shape[0]])
    else:
        dz = per_step  # (T, B, 4H), also feature-major (the loop emits dz_tᵀ)
        rows = lambda a: a.reshape(-1, a.shape[-1])  # noqa: E731  (T, B, n) -> (T·B, n)
        h_prev = jnp.concatenate([h0[None], hs[:-1]])
        d_w_x = rows(xs).T @ rows(dz)
        d_w_h = rows(h_prev).T @ rows(dz)
        d_b = jnp.sum(rows(dz), axis=0)
        d_xs = dz @ w_x.T
    return d_w_x, d_w_h, d_b, d_xs, lay.convert(d_h0), lay.convert(d_c0), None


xla_fused_lstm.defvjp(_fused_lstm_fwd, _fused_lstm_bwd)
