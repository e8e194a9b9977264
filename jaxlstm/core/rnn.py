"""The Elman RNN baseline (seed 001), run through the same driver as the LSTM.

    h_t = tanh(x_t · w_x + h_{t-1} · w_h + b)

Shapes: w_x (X, H), w_h (H, H), b (H,); the state is h (H,). With a `compute_dtype`
the matmuls run in it and the state stays in its own dtype (see `jaxlstm.core.cell`).
"""

from __future__ import annotations

import dataclasses

import functools
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

from jaxlstm.core.cell import check_compute_dtype, to_compute_dtype
from jaxlstm.core.scan import check_sequence, scan_cell
from jaxlstm.core.family import CellFamily, register_family, register_spec
from jaxlstm.core.parallel import PARALLEL_MODES, parallel_scan_cell
from jaxlstm.core.validation import (check_float, check_last_dim, check_mode, check_same_batch,
                                    initial_state)

VECTOR_STATE_MODES = ("scan",) + PARALLEL_MODES


class RNNParams(NamedTuple):
    """Elman RNN weights: w_x (X, H), w_h (H, H), b (H,)."""

    w_x: jax.Array
    w_h: jax.Array
    b: jax.Array


def init_rnn(key, input_size: int, hidden_size: int, *, dtype=jnp.float32) -> RNNParams:
    """Glorot-uniform input weights, orthogonal recurrent weights, zero bias."""
    k_x, k_h = jax.random.split(key)
    return RNNParams(
        w_x=jax.nn.initializers.glorot_uniform()(k_x, (input_size, hidden_size), dtype),
        w_h=jax.nn.initializers.orthogonal()(k_h, (hidden_size, hidden_size), dtype),
        b=jnp.zeros((hidden_size,), dtype),
    )


def rnn_step(params: RNNParams, h: jax.Array, x: jax.Array, *,
             compute_dtype: Optional[jnp.dtype] = None):
    """One Elman step: h (..., H), x (..., X) -> (h_t, h_t) (the output in `compute_dtype`)."""
    check_float("x", x)
    check_last_dim("x", x, params.w_x.shape[0], "input_size")
    check_last_dim("h", h, params.w_h.shape[0], "hidden_size")
    check_same_batch(x=x, h=h)
    if compute_dtype is None:
        h = jnp.tanh(x @ params.w_x + h @ params.w_h + params.b)
        return h, h
    x_c, h_c, w_x, w_h, b = to_compute_dtype(compute_dtype, x, h, params.w_x, params.w_h, params.b)
    h = jnp.tanh((x_c @ w_x + h_c @ w_h + b).astype(h.dtype))
    return h, h.astype(compute_dtype)


def scan_vector_state(step, params, xs, h0=None, *, compute_dtype=None, mode="scan",
                      max_iters=None, tol=None, **kwargs):
    """Run a cell whose state is one vector h (H,) — the RNN and the GRU — over xs (T, X).

    `step(params, h, x) -> (h, h)`; `params.w_x` is (X, ·) and `params.w_h` is (H, ·).
    kwargs go to `scan_cell` (lengths, reverse, unroll, remat); `compute_dtype` to `step`.
    `mode` "newton"/"quasi_newton" solves in parallel instead (`parallel_scan_cell` with
    dense `jax.jacfwd` Jacobians, `max_iters`, `tol`; unroll and remat do not apply).
    """
    check_mode(mode, VECTOR_STATE_MODES)
    check_sequence(xs, params.w_x.shape[0], kwargs.get("lengths"))
    dtype = jnp.result_type(*params, xs)  # the promotion rule of `lstm`
    h0 = initial_state("h0", h0, jnp.zeros((params.w_h.shape[0],), dtype))
    params = jax.tree.map(lambda a: a.astype(dtype), params)
    xs, h0 = xs.astype(dtype), h0.astype(dtype)
    compute_dtype = check_compute_dtype(compute_dtype)
    if compute_dtype is not None:
        step = functools.partial(step, compute_dtype=compute_dtype)
    if mode != "scan":
        return parallel_scan_cell(step, params, xs, h0, mode=mode, max_iters=max_iters, tol=tol,
                                  lengths=kwargs.get("lengths"),
                                  reverse=kwargs.get("reverse", False))
    return scan_cell(step, params, xs, h0, **kwargs)


def rnn(
    params: RNNParams,
    xs: jax.Array,
    h0: Optional[jax.Array] = None,
    *,
    lengths: Optional[jax.Array] = None,
    reverse: bool = False,
    unroll: int = 1,
    remat: int | bool = False,
    compute_dtype: Optional[jnp.dtype] = None,
    spec: Optional["RNNSpec"] = None,
    mode: str = "scan",
    max_iters: Optional[int] = None,
    tol: Optional[float] = None,
):
    """Run an Elman RNN over xs (T, X); returns (h_final (H,), hs (T, H)). See `lstm`.

    `spec` (RNNSpec(), which has no options) is accepted for the cell-family interface;
    `mode` "scan", "newton" or "quasi_newton" (see `scan_vector_state`)."""
    return scan_vector_state(rnn_step, params, xs, h0, lengths=lengths, reverse=reverse,
                             unroll=unroll, remat=remat, compute_dtype=compute_dtype,
                             mode=mode, max_iters=max_iters, tol=tol)


def register_vector_state_family(name: str, spec_type: type, init, step, layer, *,
                                 blocks: int, biases: int) -> CellFamily:
    """Register a cell whose state is one vector h (H,) (the RNN, the GRU): `blocks` gate
    blocks of H columns in w_x (X, blocks·H) and w_h (H, blocks·H), `biases` bias vectors of
    blocks·H, so blocks·H·(X + H + biases) parameters."""
    return register_family(CellFamily(
        name=name, spec_type=spec_type,
        init=lambda key, input_size, hidden_size, spec=spec_type(), **kw: init(
            key, input_size, hidden_size, **kw),
        step=lambda params, h, x, spec=spec_type(): step(params, h, x),
        zero_state=lambda params, spec=spec_type(), batch_shape=(): jnp.zeros(
            tuple(batch_shape) + (params.w_h.shape[0],), params.w_x.dtype),
        param_count=lambda spec, input_size, hidden_size: (
            blocks * hidden_size * (input_size + hidden_size + biases)),
        layer=layer, output_size=lambda params, spec=spec_type(): params.w_h.shape[0]))


@register_spec
@dataclasses.dataclass(frozen=True)
class RNNSpec:
    """The RNN cell has no variants; its spec exists for the cell-family interface."""


RNN_FAMILY = register_vector_state_family("rnn", RNNSpec, init_rnn, rnn_step, rnn, blocks=1,
                                          biases=1)
