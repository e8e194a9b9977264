"""The fused LSTM cell step.

    c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    h_t = o_t ⊙ cell_activation(c_t)           (then h_t · w_proj with a projection)

with the gates of `jaxlstm.core.gates`, all blocks computed by one matmul.

Mixed precision (`compute_dtype`, e.g. bfloat16): the matmuls run in the compute
dtype on copies of the weights cast at each step (the parameters, their gradients
and so the optimizer stay in the parameter dtype, float32); the pre-activations are
cast back, so the gate nonlinearities, c_t and the carried h_t are float32. Only the
emitted output h_t is in the compute dtype.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

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
    compute_dtype: Optional[jnp.dtype] = None,
):
    """One LSTM step.

    Args:
      params: `LSTMParams` of one layer.
      state: `LSTMState(h (..., R), c (..., H))`, the state after step t-1.
      x: (..., X) the input at step t (any leading batch shape shared with the state).
      spec: the `CellSpec` variant.
      return_gates: also return a `GateTrace` of i, f, g, o and c_t.
      compute_dtype: dtype of the matmuls (mixed precision, see the module
        docstring), or None to compute in the dtype of the inputs.

    Returns:
      `(LSTMState(h_t, c_t), h_t)`, or `(LSTMState(h_t, c_t), (h_t, GateTrace))`;
      the emitted h_t is in `compute_dtype` when one is given.
    """
    check_step_inputs(params, state, x, spec)
    if compute_dtype is None:
        z = G.preactivations(params, state, x, spec)
    else:
        w_x, w_h, b, r_h, r_c, x_c = to_compute_dtype(
            compute_dtype, params.w_x, params.w_h, params.b, state.h, state.c, x)
        z = G.preactivations(params._replace(w_x=w_x, w_h=w_h, b=b), LSTMState(r_h, r_c), x_c, spec)
        z = {block: value.astype(state.c.dtype) for block, value in z.items()}
    f = G.forget_gate(params, state, x, spec, preacts=z)
    if spec.variant == "cifg":
        i = 1.0 - f
    else:
        i = G.input_gate(params, state, x, spec, preacts=z)
    g = G.candidate(params, state, x, spec, preacts=z)
    c = f * state.c + i * g
    o = G.output_gate(params, state, x, spec, c, preacts=z)
    h = o * spec.activation("cell")(c)
    if params.w_proj is not None and compute_dtype is None:
        h = h @ params.w_proj
    elif params.w_proj is not None:
        h_c, w_proj = to_compute_dtype(compute_dtype, h, params.w_proj)
        h = (h_c @ w_proj).astype(state.h.dtype)
    new_state = LSTMState(h, c)
    out, = to_compute_dtype(compute_dtype, h)
    if return_gates:
        return new_state, (out, GateTrace(i, f, g, o, c))
    return new_state, out


def to_compute_dtype(compute_dtype: Optional[jnp.dtype], *arrays) -> tuple:
    """`arrays` cast to `compute_dtype` (as they are when it is None)."""
    if compute_dtype is None:
        return arrays
    return tuple(a.astype(compute_dtype) for a in arrays)


def check_compute_dtype(compute_dtype) -> Optional[jnp.dtype]:
    """`compute_dtype` as a floating `jnp.dtype` (or None); ValueError otherwise."""
    if compute_dtype is None:
        return None
    try:
        dtype = jnp.dtype(compute_dtype)
    except TypeError:
        dtype = None
    if dtype is None or not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"compute_dtype must be None or a floating dtype (e.g. jnp.bfloat16), "
                         f"got {compute_dtype!r}")
    return dtype
