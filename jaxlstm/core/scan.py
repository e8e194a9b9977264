"""Running a recurrent cell over time with `lax.scan` (the Theano `scan` of seed 001).

`scan_cell` is the one driver every cell (LSTM, Elman RNN, GRU) goes through, so
masking, reversal and unrolling are written once. `lstm` is the LSTM on top of it.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
from jax import lax

from jaxlstm.core.cell import cell_step
from jaxlstm.core.params import LSTMParams, LSTMState, zero_state
from jaxlstm.core.spec import CellSpec
from jaxlstm.core.validation import check_float, check_lengths, check_rank, check_state_tree

Step = Callable[[Any, Any, jax.Array], tuple[Any, Any]]


def valid_prefix_reversal(num_steps: int, length: jax.Array) -> jax.Array:
    """Indices (T,) that reverse the first `length` steps and keep the rest in place.

    t -> length - 1 - t for t < length, else t. It is its own inverse.
    """
    t = jnp.arange(num_steps)
    return jnp.where(t < length, length - 1 - t, t)


def scan_cell(
    step: Step,
    params: Any,
    xs: jax.Array,
    state0: Any,
    *,
    lengths: Optional[jax.Array] = None,
    reverse: bool = False,
    unroll: int = 1,
    remat: bool = False,
):
    """Run `step(params, state, x) -> (state, out)` over xs: (T, X).

    With `lengths` (a scalar int), steps t >= lengths keep the state and emit
    zeros, and the final state is the state after step lengths - 1. `reverse`
    runs from the last valid step to the first (only the valid prefix is
    reversed); outputs are always returned in input order. `remat` recomputes
    each step in the backward pass instead of storing its intermediates.

    Returns `(final_state, outs)` with outs stacked along a leading T axis.
    """
    if remat:
        step = jax.checkpoint(step)
    if lengths is None:
        return lax.scan(lambda s, x: step(params, s, x), state0, xs, reverse=reverse, unroll=unroll)

    num_steps = xs.shape[0]
    if reverse:
        order = valid_prefix_reversal(num_steps, lengths)
        xs = jnp.take(xs, order, axis=0)
    valid = jnp.arange(num_steps) < lengths

    def body(state, inputs):
        x, is_valid = inputs
        new_state, out = step(params, state, x)
        new_state = jax.tree.map(lambda n, o: jnp.where(is_valid, n, o), new_state, state)
        out = jax.tree.map(lambda y: jnp.where(is_valid, y, jnp.zeros_like(y)), out)
        return new_state, out

    final, outs = lax.scan(body, state0, (xs, valid), unroll=unroll)
    if reverse:
        outs = jax.tree.map(lambda y: jnp.take(y, order, axis=0), outs)
    return final, outs


def check_sequence(xs, input_size: int, lengths) -> None:
    """Checks shared by every layer function: xs (T, X) float, lengths in range."""
    check_rank("xs", xs, 2, "(T, X)")
    check_float("xs", xs)
    if xs.shape[1] != input_size:
        raise ValueError(
            f"xs must have shape (T, input_size={input_size}), got shape {xs.shape}"
        )
    if lengths is not None:
        check_lengths(lengths, xs.shape[0])


def lstm(
    params: LSTMParams,
    xs: jax.Array,
    state0: Optional[LSTMState] = None,
    *,
    spec: CellSpec = CellSpec(),
    lengths: Optional[jax.Array] = None,
    reverse: bool = False,
    unroll: int = 1,
    remat: bool = False,
    return_gates: bool = False,
):
    """Run an LSTM layer over one sequence.

    Args:
      params: `LSTMParams` of the layer.
      xs: (T, X) inputs. Batch with `jax.vmap(lstm, in_axes=(None, 0, ...))`.
      state0: initial `LSTMState(h (R,), c (H,))`; zeros when None.
      spec: the `CellSpec` variant (static under `jit`).
      lengths: scalar int, the number of valid steps (see `scan_cell`).
      reverse: run backwards in time (over the valid prefix only).
      unroll: steps per scan iteration (`lax.scan`'s `unroll`).
      remat: rematerialise each step in the backward pass (less memory).
      return_gates: emit `(h, GateTrace)` per step instead of h.

    Returns:
      `(final_state, hs)` with hs: (T, R) (zeros at padded steps).
    """
    check_sequence(xs, params.w_x.shape[0], lengths)
    default = zero_state(params)
    if state0 is None:
        state0 = default
    else:
        check_state_tree("state0", state0, default)
    step = functools.partial(_lstm_step, spec=spec, return_gates=return_gates)
    return scan_cell(
        step, params, xs, state0, lengths=lengths, reverse=reverse, unroll=unroll, remat=remat
    )


def _lstm_step(params, state, x, *, spec, return_gates):
    return cell_step(params, state, x, spec, return_gates=return_gates)
