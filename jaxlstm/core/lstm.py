"""`lstm`: an LSTM layer over one sequence, and the LSTM's entry in the cell-family table.

The cell itself is `cell_step` (jaxlstm/core/cell.py, gates in gates.py); `lstm` runs
it over time. How a call runs is one `dispatch.plan` (ask it with `jaxlstm.explain`):
the standard cell goes through `jaxlstm.core.layer.standard_layer`, a JAX operation with
a rule for every transformation whose batching rule hands `jax.vmap(lstm)` to the
batched backends; every other variant and option runs the reference scan.

Dtypes: everything is computed in the promoted dtype of the parameters and the inputs,
`jnp.result_type(params..., xs)` (float32 parameters with float64 inputs under
`jax_enable_x64` compute in float64); `state0` and the outputs are in that dtype.
"""

from __future__ import annotations

import functools
from typing import Optional

import jax
import jax.numpy as jnp

from jaxlstm.core import dispatch
from jaxlstm.core.cell import cell_step, check_compute_dtype
from jaxlstm.core.family import CellFamily, register_family, register_spec
from jaxlstm.core.layer import padded_layer, standard_layer
from jaxlstm.core.lstm_parallel import LSTM_MODES, lstm_parallel
from jaxlstm.core.params import (LSTMParams, LSTMState, hidden_size_of, init_lstm,
                                 param_count, zero_state)
from jaxlstm.core.scan import (check_remat, check_sequence, reverse_valid_prefix, scan_cell,
                              zero_padded_steps)
from jaxlstm.core.spec import CellSpec
from jaxlstm.core.validation import (check_layer_call, check_lengths, check_mode, check_params,
                                    clamp_lengths, initial_state)
from jaxlstm.core.varying import match_varying_tree

BACKEND_CHOICES = (None, "reference")


def lstm(
    params: LSTMParams,
    xs: jax.Array,
    state0: Optional[LSTMState] = None,
    *,
    spec: CellSpec = CellSpec(),
    lengths: Optional[jax.Array] = None,
    reverse: bool = False,
    unroll: int = 1,
    remat: int | bool = False,
    return_gates: bool = False,
    compute_dtype: Optional[jnp.dtype] = None,
    backend: Optional[str] = None,
    mode: str = "scan",
    max_iters: Optional[int] = None,
    tol: Optional[float] = None,
    damping: float = 0.0,
    fallback: bool = True,
    return_info: bool = False,
):
    """Run an LSTM layer over one sequence.

    Args:
      params: `LSTMParams` of the layer.
      xs: (T, X) inputs. Batch with `jax.vmap(lstm, in_axes=(None, 0, ...))`.
      state0: initial `LSTMState(h (R,), c (H,))`; zeros when None.
      spec: the `CellSpec` variant (static under `jit`).
      lengths: scalar int, the number of valid steps: steps t >= lengths keep the state
        and emit zeros, and the final state is the state after step lengths - 1.
      reverse: run backwards in time (over the valid prefix only).
      unroll: steps per scan iteration (`lax.scan`'s `unroll`).
      remat: 0/False none, 1/True every step, k > 1 checkpoint every k steps
        (less memory in the backward pass; see `scan_cell`).
      return_gates: emit `(h, GateTrace)` per step instead of h.
      compute_dtype: run the matmuls in this dtype (e.g. jnp.bfloat16) with the
        state and the parameters in theirs (see `cell_step`); None: no casts.
      backend: None chooses (see `jaxlstm.explain`); "reference" forces the scan over
        `cell_step`. Both support every transformation.
      mode: "scan" (the above), or "newton"/"quasi_newton": a parallel Newton solve with
        at most `max_iters` iterations to `tol` (`jaxlstm.core.lstm_parallel`).
      damping, fallback: the parallel solver's (`jaxlstm.core.parallel.parallel_scan_cell`).
      return_info: also return the parallel solve's `SolveInfo` (iterations, residual,
        converged, fell_back); needs a parallel mode.

    Returns:
      `(final_state, hs)` with hs: (T, R) (zeros at padded steps), and a `SolveInfo`
      with `return_info`.
    """
    check_mode(mode, LSTM_MODES)
    if return_info and mode not in LSTM_MODES[1:]:
        raise ValueError(f"return_info needs mode in {list(LSTM_MODES[1:])}, got mode={mode!r}")
    if mode != "scan":
        if backend is not None:
            raise ValueError(f"backend must be None in mode={mode!r} (a parallel solve), "
                             f"got backend={backend!r}")
        return lstm_parallel(params, xs, state0, spec=spec, mode=mode, lengths=lengths,
                             reverse=reverse, max_iters=max_iters, tol=tol,
                             damping=damping, fallback=fallback, return_info=return_info,
                             return_gates=return_gates, compute_dtype=compute_dtype)
    if backend not in BACKEND_CHOICES:
        raise ValueError(f"backend must be one of {list(BACKEND_CHOICES)}, got {backend!r}")
    compute_dtype = check_lstm_call(params, xs, spec, lengths, remat=remat,
                                    compute_dtype=compute_dtype)
    if lengths is not None:  # out of [0, T] only under jit: clamped (docs/guides/core.md)
        lengths = clamp_lengths(lengths, xs.shape[0])
    dtype = jnp.result_type(*[a for a in params if a is not None], xs)
    state0 = initial_state("state0", state0, zero_state(params, dtype=dtype))
    params = jax.tree.map(lambda a: a.astype(dtype), params)
    xs = zero_padded_steps(xs.astype(dtype), lengths)
    state0 = LSTMState(*match_varying_tree(tuple(a.astype(dtype) for a in state0), xs))
    if xs.shape[0] == 0:  # no step: the initial state, no outputs
        return state0, jnp.zeros((0, state0.h.shape[-1]), dtype)
    plan = dispatch.plan(spec, batch=None, steps=xs.shape[0], input_size=xs.shape[1],
                         hidden_size=hidden_size_of(params), dtype=dtype,
                         platform=jax.default_backend(), has_lengths=lengths is not None,
                         params=params, remat=remat, return_gates=return_gates,
                         compute_dtype=compute_dtype)
    if backend == "reference" or plan.backend == "reference":
        step = functools.partial(_lstm_step, spec=spec, return_gates=return_gates,
                                 compute_dtype=compute_dtype)
        return scan_cell(step, params, xs, state0, lengths=lengths, reverse=reverse,
                         unroll=unroll, remat=remat)
    if reverse:
        xs = reverse_valid_prefix(xs, lengths)
    args = (params.w_x, params.w_h, params.b, xs, state0.h, state0.c)
    if plan.lengths == dispatch.FULL_LENGTH:
        hs, h, c = padded_layer(*args, lengths, unroll=unroll)
    else:
        hs, h, c = standard_layer(*args, lengths, unroll=unroll)
    if reverse:
        hs = reverse_valid_prefix(hs, lengths)
    return LSTMState(h, c), hs


def check_lstm_call(params, xs, spec, lengths, *, remat=False, compute_dtype=None,
                    batch_shape: tuple = ()):
    """`lstm`'s argument checks (`explain` runs them too, so it raises what `lstm` would):
    spec, params and xs (T, X) (`check_layer_call`), `lengths` of `batch_shape` (one per
    sequence), `remat` and `compute_dtype`. Returns the compute dtype as `jnp.dtype`/None."""
    check_layer_call(LSTM_FAMILY, params, xs, spec)
    check_params(params, spec)
    check_sequence(xs, params.w_x.shape[0], None)
    if lengths is not None:
        check_lengths(lengths, xs.shape[0], batch_shape)
    check_remat(remat)
    return check_compute_dtype(compute_dtype)


def _lstm_step(params, state, x, *, spec, return_gates, compute_dtype):
    return cell_step(params, state, x, spec, return_gates=return_gates, compute_dtype=compute_dtype)


def _zero_state(params: LSTMParams, spec: CellSpec = CellSpec(), batch_shape=()) -> LSTMState:
    return zero_state(params, batch_shape)


def _output_size(params: LSTMParams, spec: CellSpec = CellSpec()) -> int:
    return params.w_proj.shape[1] if params.w_proj is not None else hidden_size_of(params)


register_spec(CellSpec)
LSTM_FAMILY = register_family(CellFamily(
    name="lstm", spec_type=CellSpec, init=init_lstm, step=cell_step, zero_state=_zero_state,
    param_count=param_count, layer=lstm, output_size=_output_size, params_type=LSTMParams,
    modes=LSTM_MODES))
