"""The Elman RNN baseline (seed 001), run through the same driver as the LSTM.

    h_t = tanh(x_t · w_x + h_{t-1} · w_h + b)

Shapes: w_x (X, H), w_h (H, H), b (H,); the state is h (H,). With a `compute_dtype`
the matmuls run in it and the state stays in its own dtype (see `jaxlstm.core.cell`).
"""

from __future__ import annotations

import dataclasses

import functools
from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp

from jaxlstm.core.cell import check_compute_dtype, to_compute_dtype
from jaxlstm.core.scan import prepare_layer, scan_cell
from jaxlstm.core.family import CellFamily, register_family, register_spec
from jaxlstm.core.parallel import PARALLEL_MODES, parallel_scan_cell
from jaxlstm.core.validation import (check_float, check_last_dim, check_leaf_rank, check_mode,
                                    check_same_batch)

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


def scan_vector_state(family: CellFamily, params, xs, h0=None, *, spec=None,
                      compute_dtype=None, lengths=None, mode="scan", max_iters=None,
                      tol=None, damping=0.0, fallback=True, return_info=False, **kwargs):
    """Run a cell whose state is one vector h (H,) — the RNN and the GRU — over xs (T, X).

    `family.cell_step(params, h, x) -> (h, h)`; `params.w_x` is (X, ·) and `params.w_h` is
    (H, ·). kwargs go to `scan_cell` (reverse, unroll, remat); `compute_dtype` to the step.
    `mode` "newton"/"quasi_newton" solves in parallel instead (`parallel_scan_cell` with
    dense `jax.jacfwd` Jacobians, `max_iters`, `tol`, `damping`, `fallback`; unroll and
    remat do not apply); `return_info` (parallel modes only) also returns its `SolveInfo`.
    """
    check_mode(mode, VECTOR_STATE_MODES)
    if return_info and mode == "scan":
        raise ValueError(f"return_info needs mode in {list(PARALLEL_MODES)}, got mode={mode!r}")
    spec = family.spec_type() if spec is None else spec
    params, xs, h0, lengths = prepare_layer(family, params, xs, h0, spec=spec, lengths=lengths,
                                            state_name="h0")
    compute_dtype = check_compute_dtype(compute_dtype)
    step = functools.partial(family.cell_step, compute_dtype=compute_dtype)
    if mode != "scan":
        return parallel_scan_cell(step, params, xs, h0, mode=mode, max_iters=max_iters, tol=tol,
                                  damping=damping, fallback=fallback, return_info=return_info,
                                  lengths=lengths, reverse=kwargs.get("reverse", False))
    return scan_cell(step, params, xs, h0, lengths=lengths, **kwargs)


def vector_state_shapes(params, spec, *, blocks: int, biases: tuple) -> dict:
    """The shapes of a vector-state cell's leaves (`register_vector_state_family`), from
    X = w_x.shape[0] and H = w_h.shape[0]."""
    check_leaf_rank(params, "w_x", 2)
    check_leaf_rank(params, "w_h", 2)
    input_size, hidden = params.w_x.shape[0], params.w_h.shape[0]
    width = blocks * hidden
    return {"w_x": (input_size, width), "w_h": (hidden, width),
            **{name: (width,) for name in biases}}


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
    damping: float = 0.0,
    fallback: bool = True,
    return_info: bool = False,
):
    """Run an Elman RNN over xs (T, X); returns (h_final (H,), hs (T, H)). See `lstm`.

    `spec` (RNNSpec(), which has no options) is accepted for the cell-family interface;
    `mode` "scan", "newton" or "quasi_newton", and `damping`, `fallback`, `return_info`
    (see `scan_vector_state`)."""
    return scan_vector_state(RNN_FAMILY, params, xs, h0, spec=spec, lengths=lengths,
                             reverse=reverse, unroll=unroll, remat=remat,
                             compute_dtype=compute_dtype, mode=mode, max_iters=max_iters,
                             tol=tol, damping=damping, fallback=fallback,
                             return_info=return_info)


@dataclasses.dataclass(frozen=True)
class VectorStateFamily(CellFamily):
    """A `CellFamily` whose state is one vector h (H,); `cell_step(params, h, x, *,
    compute_dtype)` is its step with the compute-dtype option."""

    cell_step: Optional[Callable] = None


def register_vector_state_family(name: str, spec_type: type, params_type: type, init, step,
                                 layer, *, blocks: int, biases: tuple) -> CellFamily:
    """Register a cell whose state is one vector h (H,) (the RNN, the GRU): `blocks` gate
    blocks of H columns in w_x (X, blocks·H) and w_h (H, blocks·H), and the bias vectors
    named in `biases`, each blocks·H, so blocks·H·(X + H + len(biases)) parameters."""
    return register_family(VectorStateFamily(
        name=name, spec_type=spec_type, params_type=params_type,
        param_shapes=functools.partial(vector_state_shapes, blocks=blocks, biases=biases),
        cell_step=step,
        init=lambda key, input_size, hidden_size, spec=spec_type(), **kw: init(
            key, input_size, hidden_size, **kw),
        step=lambda params, h, x, spec=spec_type(): step(params, h, x),
        zero_state=lambda params, spec=spec_type(), batch_shape=(): jnp.zeros(
            tuple(batch_shape) + (params.w_h.shape[0],), params.w_x.dtype),
        param_count=lambda spec, input_size, hidden_size: (
            blocks * hidden_size * (input_size + hidden_size + len(biases))),
        layer=layer, output_size=lambda params, spec=spec_type(): params.w_h.shape[0],
        modes=VECTOR_STATE_MODES))


@register_spec
@dataclasses.dataclass(frozen=True)
class RNNSpec:
    """The RNN cell has no variants; its spec exists for the cell-family interface."""


RNN_FAMILY = register_vector_state_family("rnn", RNNSpec, RNNParams, init_rnn, rnn_step, rnn,
                                          blocks=1, biases=("b",))
