"""The fused LSTM cell step.

    c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    h_t = o_t ⊙ cell_activation(c_t)           (then h_t · w_proj with a projection)

with the gates of `jaxlstm.core.gates`, all blocks computed by one matmul.
"""

from __future__ import annotations

from typing import NamedTuple

import jax

from jaxlstm.core import gates as G
from jaxlstm.core.params import LSTMParams, LSTMState
from jaxlstm.core.spec import CellSpec
from jaxlstm.core.validation import check_step_inputs


class GateTrace(NamedTuple):
    """Gate activations and cell state of one step (each (..., H)), for analysis."""

    i: jax.Array
    f: jax.Array
    g: jax.Array
    o: jax.Array
    c: jax.Array


def cell_step(
    params: LSTMParams,
    state: LSTMState,
    x: jax.Array,
    spec: CellSpec = CellSpec(),
    *,
    return_gates: bool = False,
):
    """One LSTM step.

    Args:
      params: `LSTMParams` of one layer.
      state: `LSTMState(h (..., R), c (..., H))`, the state after step t-1.
      x: (..., X) the input at step t (any leading batch shape shared with the state).
      spec: the `CellSpec` variant.
      return_gates: also return a `GateTrace` of i, f, g, o and c_t.

    Returns:
      `(LSTMState(h_t, c_t), h_t)`, or `(LSTMState(h_t, c_t), (h_t, GateTrace))`.
    """
    check_step_inputs(params, state, x, spec)
    z = G.preactivations(params, state, x, spec)
    f = G.forget_gate(params, state, x, spec, preacts=z)
    if spec.variant == "cifg":
        i = 1.0 - f
    else:
        i = G.input_gate(params, state, x, spec, preacts=z)
    g = G.candidate(params, state, x, spec, preacts=z)
    c = f * state.c + i * g
    o = G.output_gate(params, state, x, spec, c, preacts=z)
    h = o * spec.activation("cell")(c)
    if params.w_proj is not None:
        h = h @ params.w_proj
    new_state = LSTMState(h, c)
    if return_gates:
        return new_state, (h, GateTrace(i, f, g, o, c))
    return new_state, h
