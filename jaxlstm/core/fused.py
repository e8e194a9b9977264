"""The standard LSTM over a batch, with a hand-written backward pass.

`fused_lstm` runs `CellSpec()` (sigmoid gates, tanh candidate and cell activation,
no peepholes, no projection) over time-major inputs xs (T, B, X). Its forward
pass is the scan of `cell_step`; it saves the gates i, f, g, o and the cell
state c_t of every step. Its backward scan carries only (∂L/∂h, ∂L/∂c) and emits
the pre-activation gradients dz_t = ∂L/∂z_t (B, 4H), blocks i, f, g, o:

    dc   = ∂L/∂c_t + ∂L/∂h_t ⊙ o ⊙ (1 - tanh²c_t)
    dz_i = dc ⊙ g ⊙ i(1 - i)        dz_f = dc ⊙ c_{t-1} ⊙ f(1 - f)
    dz_g = dc ⊙ i ⊙ (1 - g²)        dz_o = ∂L/∂h_t ⊙ tanh(c_t) ⊙ o(1 - o)
    ∂L/∂h_{t-1} = dz_t · w_hᵀ        ∂L/∂c_{t-1} = dc ⊙ f

and the parameter and input gradients are then one matmul each over all T·B rows:

    ∂L/∂w_x = Xᵀ dZ    ∂L/∂w_h = H_{t-1}ᵀ dZ    ∂L/∂b = Σ dZ    ∂L/∂X = dZ · w_xᵀ

where autodiff of the scan would do a K = B matmul per step for each weight and
accumulate it in the loop. Reverse mode only (`jax.jvp` is not defined for it);
the backward pass is plain JAX, so gradients of gradients work.
"""

from __future__ import annotations

import functools
from typing import Optional

import jax
import jax.numpy as jnp
from jax import lax

from jaxlstm.core.cell import cell_step
from jaxlstm.core.params import LSTMParams, LSTMState
from jaxlstm.core.spec import CellSpec


def runs_fused(spec: CellSpec, params: LSTMParams) -> bool:
    """Whether `fused_lstm` computes this layer: the standard cell, no peepholes or projection."""
    standard = CellSpec(forget_bias=spec.forget_bias)
    return spec == standard and params.w_peep is None and params.w_proj is None


@functools.partial(jax.custom_vjp, nondiff_argnums=(7,))
def fused_lstm(w_x, w_h, b, xs, h0, c0, valid: Optional[jax.Array], unroll: int):
    """The standard LSTM over xs (T, B, X) from (h0, c0) (B, H).

    `valid` (T, B, 1) bool, or None: at steps where it is False the state is kept
    and the output is zero (as `scan_cell` with lengths).

    Returns `(hs (T, B, H), h_T (B, H), c_T (B, H))`.
    """
    (h, c), (hs, _) = _forward(w_x, w_h, b, xs, h0, c0, valid, unroll, save=False)
    return hs, h, c


def _forward(w_x, w_h, b, xs, h0, c0, valid, unroll, save):
    """The scan; with `save`, it also emits each step's i, f, g, o and c_t for the backward pass."""
    params = LSTMParams(w_x, w_h, b)

    def step(state, inputs):
        x, is_valid = inputs
        new, (out, trace) = cell_step(params, state, x, return_gates=True)
        if is_valid is not None:
            new = LSTMState(jnp.where(is_valid, new.h, state.h), jnp.where(is_valid, new.c, state.c))
            out = jnp.where(is_valid, out, 0.0)
        return new, (out, (trace.i, trace.f, trace.g, trace.o, new.c) if save else None)

    return lax.scan(step, LSTMState(h0, c0), (xs, valid), unroll=unroll)


def _fused_lstm_fwd(w_x, w_h, b, xs, h0, c0, valid, unroll):
    (h, c), (hs, saved) = _forward(w_x, w_h, b, xs, h0, c0, valid, unroll, save=True)
    return (hs, h, c), (w_x, w_h, xs, h0, c0, valid, hs, saved)


def _fused_lstm_bwd(unroll, residuals, cotangents):
    w_x, w_h, xs, h0, c0, valid, hs, (i, f, g, o, cs) = residuals
    d_hs, d_h, d_c = cotangents
    c_prev = jnp.concatenate([c0[None], cs[:-1]])

    def step(carry, inputs):
        dh, dc = carry
        d_out, i, f, g, o, c, c_prev, is_valid = inputs
        if is_valid is None:
            dh_new, dc_new = dh + d_out, dc
        else:
            dh_new, dc_new = jnp.where(is_valid, dh + d_out, 0.0), jnp.where(is_valid, dc, 0.0)
        tanh_c = jnp.tanh(c)
        dc_new = dc_new + dh_new * o * (1.0 - tanh_c * tanh_c)
        dz = jnp.concatenate([dc_new * g * i * (1.0 - i), dc_new * c_prev * f * (1.0 - f),
                              dc_new * i * (1.0 - g * g), dh_new * tanh_c * o * (1.0 - o)], -1)
        dh_prev, dc_prev = dz @ w_h.T, dc_new * f
        if is_valid is not None:
            dh_prev = dh_prev + jnp.where(is_valid, 0.0, dh)
            dc_prev = dc_prev + jnp.where(is_valid, 0.0, dc)
        return (dh_prev, dc_prev), dz

    (d_h0, d_c0), dz = lax.scan(step, (d_h, d_c), (d_hs, i, f, g, o, cs, c_prev, valid),
                                reverse=True, unroll=unroll)
    # At a valid step t the previous output is h_{t-1} (lengths mask a suffix); elsewhere dz = 0.
    h_prev = jnp.concatenate([h0[None], hs[:-1]])
    rows = lambda a: a.reshape(-1, a.shape[-1])  # noqa: E731  (T, B, n) -> (T·B, n)
    d_w_x = rows(xs).T @ rows(dz)
    d_w_h = rows(h_prev).T @ rows(dz)
    d_b = jnp.sum(rows(dz), axis=0)
    d_xs = dz @ w_x.T
    return d_w_x, d_w_h, d_b, d_xs, d_h0, d_c0, None


fused_lstm.defvjp(_fused_lstm_fwd, _fused_lstm_bwd)
