"""The standard LSTM over a batch as one XLA scan, with a hand-written backward pass.

`forward` runs `CellSpec()` (sigmoid gates, tanh candidate and cell activation, no
peepholes, no projection) over time-major inputs xs (T, B, X):

    z_t = [x_t, h_{t-1}]·[w_x; w_h] + b,   i, f, o = σ(z_i), σ(z_f), σ(z_o),   g = tanh(z_g)
    c_t = f ⊙ c_{t-1} + i ⊙ g,             h_t = o ⊙ tanh(c_t)

(`cell_step`'s equations, x_t·w_x + h_{t-1}·w_h as one K = X + H matmul, which
XLA:CPU runs faster than two). `backward` takes only what every backend's forward
pass returns — the inputs and hs — so that a layer may run its forward pass on one
backend and its backward pass on this one. It first recomputes every step's gates at
once, Z = [X, H_{t-1}]·[w_x; w_h] + b (one matmul over all T·B rows, H_{t-1} read
from hs), and the cell states with an elementwise scan, then runs the backward scan,
which carries only (∂L/∂h, ∂L/∂c) and emits dz_t = ∂L/∂z_t (B, 4H), blocks i, f, g, o:

    dc   = ∂L/∂c_t + ∂L/∂h_t ⊙ o ⊙ (1 - tanh²c_t)
    dz_i = dc ⊙ g ⊙ i(1 - i)        dz_f = dc ⊙ c_{t-1} ⊙ f(1 - f)
    dz_g = dc ⊙ i ⊙ (1 - g²)        dz_o = ∂L/∂h_t ⊙ tanh(c_t) ⊙ o(1 - o)
    ∂L/∂h_{t-1} = dz_t · w_hᵀ        ∂L/∂c_{t-1} = dc ⊙ f

The parameter and input gradients are then one matmul each over all T·B rows:

    ∂L/∂w_x = Xᵀ dZ    ∂L/∂w_h = H_{t-1}ᵀ dZ    ∂L/∂b = Σ dZ    ∂L/∂X = dZ · w_xᵀ

(with `per_example`, one (X, 4H) gradient per sequence instead of their sum) —
except batch-major with B >= 8 (B >= H), where the loop accumulates
Σ_t [x_t, h_{t-1}]ᵀ dz_t itself with K = B matmuls, which XLA:CPU runs well there.

`valid` (T, B, 1) masks padded steps: there the state is kept and the output is zero
(what `scan_cell` does with lengths); padded steps get no gradient.

Layout: when 8 <= B < H both loops carry the state feature-major, (H, B), and
compute z_tᵀ = [w_x; w_h]ᵀ·[x_t, h_{t-1}]ᵀ, which XLA:CPU runs faster at those
shapes (docs/performance.md). The stacked inputs and outputs are transposed once,
outside the loops.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
from jax import lax

from jaxlstm.core.varying import match_varying, match_varying_tree


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


def forward(w_x, w_h, b, xs, h0, c0, valid: Optional[jax.Array], unroll: int = 1):
    """The layer over xs (T, B, X) from (h0, c0) (B, H); `valid` (T, B, 1) bool or None.

    Returns `(hs (T, B, H), h_T (B, H), c_T (B, H))`. Plain JAX: differentiable to any
    order by autodiff, which makes it the reference for the other backends' derivatives.
    """
    lay = layout_for(xs.shape[1], w_h.shape[0])
    w = lay.weights(jnp.concatenate([w_x, w_h]))  # (X + H, 4H): one matmul per step
    bias = b[:, None] if lay.feature_major else b

    def step(state, inputs):
        h, c = state
        x, is_valid = inputs
        z = lay.project(w, jnp.concatenate([x, h], axis=lay.feature_axis)) + bias
        i, f, g, o = _gates(z, lay.feature_axis)
        c_new = f * c + i * g
        h_new = out = o * jnp.tanh(c_new)
        if is_valid is not None:
            h_new, c_new = jnp.where(is_valid, h_new, h), jnp.where(is_valid, c_new, c)
            out = jnp.where(is_valid, out, 0.0)
        return (h_new, c_new), out

    (h, c), hs = lax.scan(step, (lay.convert(h0), lay.convert(c0)),
                          (lay.convert(xs), lay.convert(valid)), unroll=unroll)
    return lay.convert(hs), lay.convert(h), lay.convert(c)


def _gates(z, axis):
    z_i, z_f, z_g, z_o = jnp.split(z, 4, axis=axis)
    return jax.nn.sigmoid(z_i), jax.nn.sigmoid(z_f), jnp.tanh(z_g), jax.nn.sigmoid(z_o)


def recompute(w_x, w_h, b, xs, h_prev, c0, valid):
    """Every step's gates (i, f, g, o) and cell state c_t, each (T, B, H), from the inputs
    xs and h_prev (T, B, H), the h_{t-1} of a forward pass."""
    z = jnp.concatenate([xs, h_prev], axis=-1) @ jnp.concatenate([w_x, w_h]) + b
    i, f, g, o = _gates(z, -1)

    def cell(c, inputs):
        f_t, ig_t, is_valid = inputs
        c_new = f_t * c + ig_t
        if is_valid is not None:
            c_new = jnp.where(is_valid, c_new, c)
        return c_new, c_new

    _, cs = lax.scan(cell, c0, (f, i * g, valid))
    return i, f, g, o, cs


def _previous(seq, first, t):
    """seq[t - 1], or `first` at t = 0: the state before step t, read by index in the loop
    instead of from a shifted copy of seq."""
    return jnp.where(t > 0, lax.dynamic_index_in_dim(seq, jnp.maximum(t - 1, 0), keepdims=False),
                     first)


def backward(w_x, w_h, b, xs, h0, c0, valid, hs, d_hs, d_h, d_c, unroll: int = 1,
             per_example: bool = False):
    """Gradients of a loss through `forward`, given its inputs, its outputs hs and the
    cotangents (∂L/∂hs (T, B, H), ∂L/∂h_T, ∂L/∂c_T (B, H)).

    Returns `(∂w_x, ∂w_h, ∂b, ∂xs, ∂h0, ∂c0)`; with `per_example` the parameter
    gradients have a leading batch axis B (one per sequence), else they are summed.
    """
    h_prev = jnp.concatenate([h0[None], hs[:-1]])
    i, f, g, o, cs = recompute(w_x, w_h, b, xs, h_prev, c0, valid)
    lay = layout_for(c0.shape[0], w_h.shape[0])
    i, f, g, o, cs = (lay.convert(a) for a in (i, f, g, o, cs))
    accumulate = not lay.feature_major and c0.shape[0] >= 8 and not per_example
    # dz·w_hᵀ = project(w_h_back, dz), transposed outside the loop (inside it, XLA copied
    # w_h.T every step).
    w_h_back = lay.weights(w_h.T)
    w_x_back = w_x.T
    c0_l = lay.convert(c0)

    def step(carry, inputs):
        dh, dc, sums = carry
        t, d_out, x, i, f, g, o, c, is_valid = inputs
        if is_valid is None:
            dh_new, dc_new = dh + d_out, dc
        else:
            dh_new, dc_new = jnp.where(is_valid, dh + d_out, 0.0), jnp.where(is_valid, dc, 0.0)
        tanh_c = jnp.tanh(c)
        dc_new = dc_new + dh_new * o * (1.0 - tanh_c * tanh_c)
        c_prev = _previous(cs, c0_l, t)
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
        d_w0 = jnp.zeros((w_x.shape[0] + w_h.shape[0], w_h.shape[1]), w_h.dtype)
        sums = (d_w0, jnp.zeros_like(w_h[0]))
        sums = match_varying_tree(sums, xs, d_hs)
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
        return d_w_x, d_w_h, d_b, d_xs, lay.convert(d_h0), lay.convert(d_c0)
    dz = per_step  # (T, B, 4H), batch-major also when the loop ran feature-major
    if per_example:
        d_w_x = jnp.einsum("tbx,tbg->bxg", xs, dz)
        d_w_h = jnp.einsum("tbh,tbg->bhg", h_prev, dz)
        d_b = jnp.sum(dz, axis=0)
    else:
        rows = lambda a: a.reshape(-1, a.shape[-1])  # noqa: E731  (T, B, n) -> (T·B, n)
        d_w_x = rows(xs).T @ rows(dz)
        d_w_h = rows(h_prev).T @ rows(dz)
        d_b = jnp.sum(rows(dz), axis=0)
    d_xs = dz @ w_x_back
    return d_w_x, d_w_h, d_b, d_xs, lay.convert(d_h0), lay.convert(d_c0)


def tangent(w_x, w_h, b, xs, h0, c0, valid, hs, d_w_x, d_w_h, d_b, d_xs, d_h0, d_c0,
            unroll: int = 1):
    """The tangent (forward-mode derivative) of `forward` at its inputs, given its outputs hs
    (T, B, H) and the input tangents (ẇ_x, ẇ_h, ḃ, ẋs, ḣ0, ċ0) of the inputs' shapes.

    The recurrence is linear in the tangents. Its input part is one matmul over all T·B rows,
    u_t = ẋ_t·w_x + x_t·ẇ_x + h_{t-1}·ẇ_h + ḃ (h_{t-1} read from hs), and the gates are
    recomputed at once as in `backward`; the scan then carries (ḣ, ċ) with one matmul a step:

        ż_t = u_t + ḣ_{t-1}·w_h,   i̇ = i(1 - i) ż_i,  ḟ = f(1 - f) ż_f,  ġ = (1 - g²) ż_g,
        ȯ = o(1 - o) ż_o,   ċ_t = ḟ c_{t-1} + f ċ_{t-1} + i̇ g + i ġ,
        ḣ_t = ȯ tanh(c_t) + o (1 - tanh² c_t) ċ_t

    (padded steps keep the tangent state and emit zeros, as `forward` keeps the state).
    A tangent given as None is zero, and its terms are not computed.
    Returns `(ḣs (T, B, H), ḣ_T (B, H), ċ_T (B, H))`.
    """
    h_prev = jnp.concatenate([h0[None], hs[:-1]])
    i, f, g, o, cs = recompute(w_x, w_h, b, xs, h_prev, c0, valid)
    c_prev = jnp.concatenate([c0[None], cs[:-1]])
    terms = [t for t in (None if d_xs is None else d_xs @ w_x,
                         None if d_w_x is None else xs @ d_w_x,
                         None if d_w_h is None else h_prev @ d_w_h, d_b) if t is not None]
    u = sum(terms[1:], terms[0]) if terms else jnp.zeros(i.shape[:2] + (4 * i.shape[2],), i.dtype)
    d_h0 = jnp.zeros_like(h0) if d_h0 is None else d_h0
    d_c0 = jnp.zeros_like(c0) if d_c0 is None else d_c0
    d_h0, d_c0, _ = match_varying(d_h0, d_c0, u)

    def step(carry, inputs):
        dh, dc = carry
        u_t, i, f, g, o, c_prev, c, is_valid = inputs
        dz_i, dz_f, dz_g, dz_o = jnp.split(u_t + dh @ w_h, 4, axis=-1)
        tanh_c = jnp.tanh(c)
        dc_new = (f * (1.0 - f) * dz_f * c_prev + f * dc + i * (1.0 - i) * dz_i * g
                  + i * (1.0 - g * g) * dz_g)
        dh_new = out = o * (1.0 - o) * dz_o * tanh_c + o * (1.0 - tanh_c * tanh_c) * dc_new
        if is_valid is not None:
            dh_new, dc_new = jnp.where(is_valid, dh_new, dh), jnp.where(is_valid, dc_new, dc)
            out = jnp.where(is_valid, out, 0.0)
        return (dh_new, dc_new), out

    u = jnp.broadcast_to(u, i.shape[:2] + (4 * i.shape[2],))
    (d_h, d_c), d_hs = lax.scan(step, (d_h0, d_c0), (u, i, f, g, o, c_prev, cs, valid),
                                unroll=unroll)
    return d_hs, d_h, d_c
