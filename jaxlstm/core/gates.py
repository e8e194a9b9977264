"""The LSTM gates, one pure function per gate, for one time step.

Every gate function has the signature of a `lax.scan` body, carry first:
`gate(params, state, x, spec) -> (..., H)`, with `state = LSTMState(h_{t-1}, c_{t-1})`
and `x: (..., X)`. For block k of the variant the pre-activation is

    z_k = x · W_k + h_{t-1} · U_k + b_k                      (seed 001's W, U, b)
        = [h_{t-1}, x] · W'_k + b_k                          (seed 002's concatenated form)

("peephole_full" reads c_{t-1} instead of h_{t-1}, and g has no recurrent term).
A gate the variant does not have returns ones; "cifg"'s input gate is 1 - f.

Called alone, a gate computes only its own block (W_k, U_k sliced out). `cell_step`
computes all blocks with one matmul and passes them in as `preacts`, so the
nonlinearities below are the only place the gate equations are written.
"""

from __future__ import annotations

from typing import Mapping, Optional

import jax
import jax.numpy as jnp

from jaxlstm.core.params import LSTMParams, LSTMState
from jaxlstm.core.spec import CellSpec

Preacts = Mapping[str, jax.Array]


def preactivations(params: LSTMParams, state: LSTMState, x: jax.Array, spec: CellSpec) -> dict:
    """All block pre-activations {block: (..., H)}: z = x·w_x + r·w_h + b, fused.

    r is h_{t-1}, or c_{t-1} for "peephole_full" (whose w_h covers only i, f, o).
    """
    z = jnp.split(x @ params.w_x + params.b, spec.num_blocks, axis=-1)
    z = dict(zip(spec.blocks, z))
    recurrent = state.c if spec.variant == "peephole_full" else state.h
    zr = jnp.split(recurrent @ params.w_h, len(spec.recurrent_blocks), axis=-1)
    for name, part in zip(spec.recurrent_blocks, zr):
        z[name] = z[name] + part
    return z


def block_preactivation(
    params: LSTMParams, state: LSTMState, x: jax.Array, spec: CellSpec, block: str
) -> jax.Array:
    """The pre-activation of one block, computed from that block's weights only."""
    hidden = params.b.shape[-1] // spec.num_blocks
    k = spec.blocks.index(block)
    cols = slice(k * hidden, (k + 1) * hidden)
    z = x @ params.w_x[:, cols] + params.b[cols]
    if block in spec.recurrent_blocks:
        kr = spec.recurrent_blocks.index(block)
        recurrent = state.c if spec.variant == "peephole_full" else state.h
        z = z + recurrent @ params.w_h[:, kr * hidden : (kr + 1) * hidden]
    return z


def _preact(params, state, x, spec, gate, preacts: Optional[Preacts]):
    block = "x" if spec.variant == "shared_preact" else gate
    if preacts is not None:
        return preacts[block]
    return block_preactivation(params, state, x, spec, block)


def _peephole(params: LSTMParams, spec: CellSpec, gate: str, c: jax.Array):
    if gate not in spec.peephole_gates:
        return 0.0
    return params.w_peep[spec.peephole_gates.index(gate)] * c


def _has(spec: CellSpec, gate: str) -> bool:
    return spec.variant == "shared_preact" or gate in spec.blocks


def forget_gate(
    params: LSTMParams, state: LSTMState, x: jax.Array, spec: CellSpec = CellSpec(), *,
    preacts: Optional[Preacts] = None,
) -> jax.Array:
    """f_t = σ(W_f x_t + U_f h_{t-1} + p_f ⊙ c_{t-1} + b_f); ones for "nfg". Shape (..., H)."""
    if not _has(spec, "f"):
        return jnp.ones_like(state.c)
    z = _preact(params, state, x, spec, "f", preacts)
    return spec.activation("gate")(z + _peephole(params, spec, "f", state.c))


def input_gate(
    params: LSTMParams, state: LSTMState, x: jax.Array, spec: CellSpec = CellSpec(), *,
    preacts: Optional[Preacts] = None,
) -> jax.Array:
    """i_t = σ(W_i x_t + U_i h_{t-1} + p_i ⊙ c_{t-1} + b_i); ones for "nig"; 1 - f_t for "cifg"."""
    if spec.variant == "cifg":
        return 1.0 - forget_gate(params, state, x, spec, preacts=preacts)
    if not _has(spec, "i"):
        return jnp.ones_like(state.c)
    z = _preact(params, state, x, spec, "i", preacts)
    return spec.activation("gate")(z + _peephole(params, spec, "i", state.c))


def candidate(
    params: LSTMParams, state: LSTMState, x: jax.Array, spec: CellSpec = CellSpec(), *,
    preacts: Optional[Preacts] = None,
) -> jax.Array:
    """g_t = tanh(W_g x_t + U_g h_{t-1} + b_g) (the seeds' C̃_t); identity for "niaf"."""
    z = _preact(params, state, x, spec, "g", preacts)
    return spec.activation("candidate")(z)


def output_gate(
    params: LSTMParams, state: LSTMState, x: jax.Array, spec: CellSpec = CellSpec(),
    c_new: Optional[jax.Array] = None, *, preacts: Optional[Preacts] = None,
) -> jax.Array:
    """o_t = σ(W_o x_t + U_o h_{t-1} + p_o ⊙ c_t + b_o); ones for "nog".

    With peepholes the output gate reads the new cell state `c_new` (c_t), which
    must then be given.
    """
    if not _has(spec, "o"):
        return jnp.ones_like(state.c)
    if "o" in spec.peephole_gates and c_new is None:
        raise ValueError(
            "output_gate: c_new (the new cell state c_t, shape (..., H)) is required "
            "when spec.peepholes=True, because the output gate's peephole reads c_t"
        )
    z = _preact(params, state, x, spec, "o", preacts)
    return spec.activation("gate")(z + _peephole(params, spec, "o", c_new))
