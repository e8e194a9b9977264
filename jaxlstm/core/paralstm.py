"""ParaLSTM (Danieli et al., ParaRNN, ICLR 2026): a coupled input–forget LSTM with diagonal
recurrence and diagonal peepholes, made for parallel Newton solves.

Per unit (all products elementwise), with u_t = x_t W + b the input pre-activations:

    f_t = σ(a_f h_{t-1} + u_f + p_f c_{t-1})
    ĉ_t = tanh(a_c h_{t-1} + u_c)
    c_t = f_t c_{t-1} + (1 - f_t) ĉ_t
    o_t = σ(a_o h_{t-1} + u_o + p_o c_t)
    h_t = o_t tanh(c_t)

Each unit's new (h, c) depends on that unit's old (h, c) only, so the step Jacobian over
the state [h, c] is a 2×2 block of diagonals (`paralstm_jacobian`) and one Newton iteration
costs O(T·H). The input weights are block-diagonal over K heads: head k maps its X/K inputs
to its H/K units of each gate.

Shapes: w_x (K, X/K, 3·H/K), head k's columns in gate blocks f, c, o; a (3H,) and b (3H,)
in blocks f, c, o; p (2H,) in blocks f, o. State `ParaLSTMState(h, c)`, each (H,).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

from jaxlstm.core.family import CellFamily, register_family, register_spec
from jaxlstm.core.parallel import PARALLEL_MODES, run_layer
from jaxlstm.core.scan import prepare_layer
from jaxlstm.core.validation import (check_float, check_last_dim, check_mode, check_same_batch,
                                    check_spec_field)

MODES = ("auto", "scan") + PARALLEL_MODES


@register_spec
@dataclasses.dataclass(frozen=True)
class ParaLSTMSpec:
    """The ParaLSTM cell.

    Attributes:
      num_heads: K, the diagonal blocks of the input weights (divides X and H).
      forget_bias: added to the forget block of b at init.
    """

    num_heads: int = 1
    forget_bias: float = 1.0

    def __post_init__(self):
        check_spec_field(self, "num_heads", isinstance(self.num_heads, int)
                         and not isinstance(self.num_heads, bool) and self.num_heads >= 1,
                         "a positive int")


class ParaLSTMParams(NamedTuple):
    """w_x (K, X/K, 3H/K); a (3H,), b (3H,) in blocks f, c, o; p (2H,) in blocks f, o."""

    w_x: jax.Array
    a: jax.Array
    p: jax.Array
    b: jax.Array


class ParaLSTMState(NamedTuple):
    """h, c: each (..., H)."""

    h: jax.Array
    c: jax.Array


def _check_heads(spec: ParaLSTMSpec, input_size: int, hidden_size: int) -> None:
    if input_size % spec.num_heads or hidden_size % spec.num_heads:
        raise ValueError(f"input_size and hidden_size must be divisible by ParaLSTMSpec."
                         f"num_heads={spec.num_heads}, got input_size={input_size}, "
                         f"hidden_size={hidden_size}")


def init_paralstm(key, input_size: int, hidden_size: int, spec: ParaLSTMSpec = ParaLSTMSpec(),
                  *, dtype=jnp.float32) -> ParaLSTMParams:
    """Glorot-uniform per-head w_x; a ~ U(-0.5, 0.5); p ~ U(-0.1, 0.1); b zero but the forget
    block (`spec.forget_bias`)."""
    _check_heads(spec, input_size, hidden_size)
    k_x, k_a, k_p = jax.random.split(key, 3)
    heads = spec.num_heads
    dx, d = input_size // heads, hidden_size // heads
    w_x = jax.nn.initializers.glorot_uniform(in_axis=-2, out_axis=-1, batch_axis=0)(
        k_x, (heads, dx, 3 * d), dtype)
    zeros = jnp.zeros((hidden_size,), dtype)
    return ParaLSTMParams(
        w_x=w_x,
        a=jax.random.uniform(k_a, (3 * hidden_size,), dtype, -0.5, 0.5),
        p=jax.random.uniform(k_p, (2 * hidden_size,), dtype, -0.1, 0.1),
        b=jnp.concatenate([zeros + spec.forget_bias, zeros, zeros]))


def paralstm_param_count(spec: ParaLSTMSpec, input_size: int, hidden_size: int) -> int:
    """3H·X/K (block-diagonal w_x) + 3H (a) + 2H (p) + 3H (b)."""
    _check_heads(spec, input_size, hidden_size)
    return 3 * hidden_size * input_size // spec.num_heads + 8 * hidden_size


def zero_state(params: ParaLSTMParams, spec: ParaLSTMSpec = ParaLSTMSpec(),
               batch_shape: tuple = ()) -> ParaLSTMState:
    """h = c = 0 of shape batch_shape + (H,)."""
    z = jnp.zeros(tuple(batch_shape) + (params.a.shape[0] // 3,), params.a.dtype)
    return ParaLSTMState(z, z)


def _sizes(params: ParaLSTMParams):
    heads, dx, d3 = params.w_x.shape
    return heads * dx, heads * d3 // 3


def _check_params(params: ParaLSTMParams, spec: ParaLSTMSpec) -> None:
    if jnp.ndim(params.w_x) != 3 or params.w_x.shape[0] != spec.num_heads or params.w_x.shape[2] % 3:
        raise ValueError(f"params.w_x must have shape (num_heads={spec.num_heads}, X/K, 3H/K), "
                         f"got {jnp.shape(params.w_x)}")
    hidden = _sizes(params)[1]
    for field, want in (("a", 3 * hidden), ("p", 2 * hidden), ("b", 3 * hidden)):
        got = tuple(jnp.shape(getattr(params, field)))
        if got != (want,):
            raise ValueError(f"params.{field} must have shape ({want},) for hidden_size="
                             f"{hidden}, got {got}")


def input_preactivations(params: ParaLSTMParams, x: jax.Array) -> jax.Array:
    """u = x W + b: x (..., X) -> (..., 3H) in blocks f, c, o (the part without recurrence)."""
    heads, dx, d3 = params.w_x.shape
    d = d3 // 3
    u = jnp.einsum("...kx,kxg->...kg", x.reshape(*x.shape[:-1], heads, dx), params.w_x)
    u = jnp.swapaxes(u.reshape(*u.shape[:-1], 3, d), -3, -2)        # (..., 3, K, d)
    return u.reshape(*u.shape[:-3], 3 * heads * d) + params.b


def recurrent_step(params: ParaLSTMParams, state: ParaLSTMState, u: jax.Array):
    """One step from the input pre-activations u (..., 3H): (state, u) -> (state, h)."""
    a_f, a_c, a_o = jnp.split(params.a, 3, axis=-1)
    p_f, p_o = jnp.split(params.p, 2, axis=-1)
    u_f, u_c, u_o = jnp.split(u, 3, axis=-1)
    f = jax.nn.sigmoid(a_f * state.h + u_f + p_f * state.c)
    c_hat = jnp.tanh(a_c * state.h + u_c)
    c = f * state.c + (1.0 - f) * c_hat
    o = jax.nn.sigmoid(a_o * state.h + u_o + p_o * c)
    h = o * jnp.tanh(c)
    return ParaLSTMState(h, c), h


def recurrent_jacobian(params: ParaLSTMParams, state: ParaLSTMState, u: jax.Array) -> jax.Array:
    """∂(h_t, c_t)/∂(h_{t-1}, c_{t-1}) of `recurrent_step` for one step: (2, 2, H), rows and
    columns in the state order h, c (the block layout of `jaxlstm.core.parallel.jacobian`)."""
    a_f, a_c, a_o = jnp.split(params.a, 3, axis=-1)
    p_f, p_o = jnp.split(params.p, 2, axis=-1)
    u_f, u_c, u_o = jnp.split(u, 3, axis=-1)
    f = jax.nn.sigmoid(a_f * state.h + u_f + p_f * state.c)
    c_hat = jnp.tanh(a_c * state.h + u_c)
    c = f * state.c + (1.0 - f) * c_hat
    o = jax.nn.sigmoid(a_o * state.h + u_o + p_o * c)
    tanh_c = jnp.tanh(c)
    df = f * (1.0 - f)
    dc_dh = (state.c - c_hat) * df * a_f + (1.0 - f) * (1.0 - c_hat ** 2) * a_c
    dc_dc = f + (state.c - c_hat) * df * p_f
    do = o * (1.0 - o)
    dtanh = o * (1.0 - tanh_c ** 2)
    dh_dh = do * (a_o + p_o * dc_dh) * tanh_c + dtanh * dc_dh
    dh_dc = do * p_o * dc_dc * tanh_c + dtanh * dc_dc
    return jnp.stack([jnp.stack([dh_dh, dh_dc]), jnp.stack([dc_dh, dc_dc])])


def _check_step(params, state, x, spec):
    _check_params(params, spec)
    check_float("x", x)
    input_size, hidden = _sizes(params)
    check_last_dim("x", x, input_size, "input_size")
    check_last_dim("state.h", state.h, hidden, "hidden_size")
    check_last_dim("state.c", state.c, hidden, "hidden_size")
    check_same_batch(x=x, **{"state.h": state.h, "state.c": state.c})


def paralstm_step(params: ParaLSTMParams, state: ParaLSTMState, x: jax.Array,
                  spec: ParaLSTMSpec = ParaLSTMSpec()):
    """One ParaLSTM step (module docstring): x (..., X), state leaves (..., H) -> (state, h)."""
    _check_step(params, state, x, spec)
    return recurrent_step(params, state, input_preactivations(params, x))


def paralstm_jacobian(params: ParaLSTMParams, state: ParaLSTMState, x: jax.Array,
                      spec: ParaLSTMSpec = ParaLSTMSpec()) -> jax.Array:
    """∂state_t/∂state_{t-1} of `paralstm_step` for one step x (X,): (2, 2, H) (rows h, c)."""
    _check_step(params, state, x, spec)
    return recurrent_jacobian(params, state, input_preactivations(params, x))


def paralstm(
    params: ParaLSTMParams,
    xs: jax.Array,
    state0: Optional[ParaLSTMState] = None,
    *,
    spec: ParaLSTMSpec = ParaLSTMSpec(),
    lengths: Optional[jax.Array] = None,
    reverse: bool = False,
    mode: str = "auto",
    max_iters: Optional[int] = None,
    tol: Optional[float] = None,
    damping: float = 0.0,
    fallback: bool = True,
    return_info: bool = False,
    unroll: int = 1,
    remat: int | bool = False,
):
    """Run a ParaLSTM layer over one sequence xs (T, X).

    Args:
      state0: `ParaLSTMState` (each (H,)), zeros when None. lengths: scalar int, the valid
        steps. reverse: run backwards over the valid prefix.
      mode: "scan" (`lax.scan`; "auto" is the same), "newton" (Newton with the structured
        2×2-block Jacobian) or "quasi_newton" (its diagonal); see
        `jaxlstm.core.parallel.parallel_scan_cell` for max_iters, tol, damping, fallback and
        return_info. The input projection runs once, outside the iterations.
      unroll, remat: for the scan (see `scan_cell`).

    Returns:
      `(final_state, hs (T, H))` (zeros at padded steps), and a `SolveInfo` with return_info.
    """
    check_mode(mode, MODES)
    _check_params(params, spec)
    params, xs, state0, lengths = prepare_layer(PARALSTM, params, xs, state0, spec=spec,
                                                lengths=lengths)
    us = input_preactivations(params, xs)
    return run_layer(recurrent_step, params, us, state0, mode=PARALSTM.form(mode, xs.shape[0]),
                     jacobian=recurrent_jacobian, lengths=lengths, reverse=reverse,
                     unroll=unroll, remat=remat, max_iters=max_iters, tol=tol, damping=damping,
                     fallback=fallback, return_info=return_info)


def _output_size(params: ParaLSTMParams, spec: ParaLSTMSpec) -> int:
    return params.a.shape[0] // 3


PARALSTM = register_family(CellFamily(
    name="paralstm", spec_type=ParaLSTMSpec, init=init_paralstm, step=paralstm_step,
    zero_state=zero_state, param_count=paralstm_param_count, layer=paralstm,
    output_size=_output_size, jacobian=paralstm_jacobian, params_type=ParaLSTMParams,
    modes=MODES, default_mode=lambda num_steps: "scan",
    input_size=lambda params: _sizes(params)[0]))
