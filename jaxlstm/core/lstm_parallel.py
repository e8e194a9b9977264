"""`lstm_parallel`: the LSTM layer (`jaxlstm.core.lstm.lstm`) by a parallel Newton solve.

`lstm(..., mode="newton" | "quasi_newton")` comes here: `cell_step` of any `CellSpec` over
time with `jaxlstm.core.parallel.parallel_scan_cell` and its dense `jax.jacfwd` Jacobians
(the LSTM's recurrent matrix couples every unit, so there is no cheaper exact one). The
dtype rule is `lstm`'s: everything in `jnp.result_type(params..., xs)`.
"""

from __future__ import annotations

import functools
from typing import Optional

import jax
import jax.numpy as jnp

from jaxlstm.core.cell import cell_step, check_compute_dtype
from jaxlstm.core.parallel import PARALLEL_MODES, parallel_scan_cell
from jaxlstm.core.params import LSTMParams, LSTMState, zero_state
from jaxlstm.core.family import FAMILIES
from jaxlstm.core.scan import check_sequence, zero_padded_steps
from jaxlstm.core.spec import CellSpec
from jaxlstm.core.varying import match_varying_tree
from jaxlstm.core.validation import (check_layer_call, check_mode, check_params, clamp_lengths,
                                    initial_state)

LSTM_MODES = ("scan",) + PARALLEL_MODES


def lstm_parallel(params: LSTMParams, xs: jax.Array, state0: Optional[LSTMState] = None, *,
                  spec: CellSpec = CellSpec(), mode: str, lengths=None, reverse: bool = False,
                  max_iters: Optional[int] = None, tol: Optional[float] = None,
                  damping: float = 0.0, fallback: bool = True, return_info: bool = False,
                  return_gates: bool = False, compute_dtype=None):
    """`lstm(params, xs, state0, spec=spec, lengths=..., reverse=...)` by `parallel_scan_cell`
    in `mode` ("newton" or "quasi_newton"; the solver options as there).

    Returns `(final_state, hs (T, R))`, and a `SolveInfo` with `return_info`."""
    check_mode(mode, LSTM_MODES[1:])
    check_layer_call(FAMILIES["lstm"], params, xs, spec)
    check_params(params, spec)
    check_sequence(xs, params.w_x.shape[0], lengths)
    if lengths is not None:
        lengths = clamp_lengths(lengths, xs.shape[0])
    compute_dtype = check_compute_dtype(compute_dtype)
    dtype = jnp.result_type(*[a for a in params if a is not None], xs)
    state0 = initial_state("state0", state0, zero_state(params, dtype=dtype))
    params = jax.tree.map(lambda a: a.astype(dtype), params)
    state0 = LSTMState(*match_varying_tree(tuple(a.astype(dtype) for a in state0), xs))
    step = functools.partial(_step, spec=spec, return_gates=return_gates,
                             compute_dtype=compute_dtype)
    xs = zero_padded_steps(xs.astype(dtype), lengths)
    return parallel_scan_cell(step, params, xs, state0, mode=mode,
                              lengths=lengths, reverse=reverse, max_iters=max_iters, tol=tol,
                              damping=damping, fallback=fallback, return_info=return_info)


def _step(params, state, x, *, spec, return_gates, compute_dtype):
    return cell_step(params, state, x, spec, return_gates=return_gates,
                     compute_dtype=compute_dtype)
