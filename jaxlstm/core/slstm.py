"""sLSTM (Beck et al. 2024, xLSTM, arXiv 2405.04517, eqs. 8-17 and appendix A.2).

Pre-activations of the four gate blocks from the input and the previous output, the
recurrent weights block-diagonal over K heads of size d = H / K:

    [ĩ, f̃, z̃, õ]_t = x_t W + R h_{t-1} + b          (each (H,); R block-diagonal)
    z_t = tanh(z̃_t),  o_t = σ(õ_t),  log i_t = ĩ_t,
    log f_t = log σ(f̃_t)  (forget_gate="sigmoid")  or  f̃_t  (forget_gate="exp")

Stabilised in log space with the state m (all elementwise):

    m_t  = max(log f_t + m_{t-1}, ĩ_t)              (m_t = ĩ_t while n_{t-1} = 0)
    i'_t = exp(ĩ_t - m_t),   f'_t = exp(log f_t + m_{t-1} - m_t)
    c_t  = f'_t c_{t-1} + i'_t z_t
    n_t  = f'_t n_{t-1} + i'_t
    h_t  = o_t ⊙ c_t / n_t

c and n are the paper's cell and normaliser states scaled by exp(-m_t); their ratio,
and so h_t, is that of the unstabilised equations. Every exponent is <= 0, so the step
stays finite for any pre-activation. While the memory is empty (n_{t-1} = 0, the zero
state) the forget term is dropped: it multiplies zeros, and with m_{t-1} = 0 it could
otherwise make i'_t underflow to 0 and h_t = 0/0 (the xlstm package does the same).

Shapes: w_x (X, 4H) and b (4H,) in gate order i, f, z, o; r (K, d, 4d): head k maps its
d outputs of h_{t-1} to its d units of each gate, in the same order. State
`SLSTMState(h, c, n, m)`, each (H,).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

from jaxlstm.core.family import CellFamily, register_family, register_spec
from jaxlstm.core.parallel import PARALLEL_MODES, run_layer
from jaxlstm.core.scan import prepare_layer
from jaxlstm.core.validation import (check_divides, check_heads, check_float, check_last_dim,
                                    check_leaf_rank, check_mode, check_same_batch,
                                    check_spec_field)

FORGET_GATES = ("sigmoid", "exp")
MODES = ("auto", "recurrent") + PARALLEL_MODES


@register_spec
@dataclasses.dataclass(frozen=True)
class SLSTMSpec:
    """The sLSTM variant.

    Attributes:
      num_heads: K, the number of diagonal blocks of the recurrent weights (divides H).
      forget_gate: "sigmoid" (f = σ(f̃)) or "exp" (f = exp(f̃)).
    """

    num_heads: int = 1
    forget_gate: str = "sigmoid"

    def __post_init__(self):
        check_spec_field(self, "num_heads", isinstance(self.num_heads, int)
                         and not isinstance(self.num_heads, bool) and self.num_heads >= 1,
                         "a positive int")
        check_spec_field(self, "forget_gate", self.forget_gate in FORGET_GATES,
                         f"one of {list(FORGET_GATES)}")


class SLSTMParams(NamedTuple):
    """w_x (X, 4H), r (K, d, 4d) block-diagonal recurrent weights, b (4H,); gates i, f, z, o."""

    w_x: jax.Array
    r: jax.Array
    b: jax.Array


class SLSTMState(NamedTuple):
    """h, c, n, m: each (..., H); c and n are stabilised by exp(-m)."""

    h: jax.Array
    c: jax.Array
    n: jax.Array
    m: jax.Array


def init_slstm(key, input_size: int, hidden_size: int, spec: SLSTMSpec = SLSTMSpec(), *,
               dtype=jnp.float32) -> SLSTMParams:
    """Glorot-uniform w_x; r ~ N(0, 1/d); b zero but the forget block.

    The forget bias spreads linearly over [3, 6] across the H units for a sigmoid forget
    gate (the xlstm package's "small_init": long memories at the start of training) and
    is 0 for an exponential one (f = 1).
    """
    check_heads(spec, hidden_size)
    k_x, k_r = jax.random.split(key)
    heads, d = spec.num_heads, hidden_size // spec.num_heads
    forget = (jnp.linspace(3.0, 6.0, hidden_size, dtype=dtype) if spec.forget_gate == "sigmoid"
              else jnp.zeros((hidden_size,), dtype))
    zeros = jnp.zeros((hidden_size,), dtype)
    return SLSTMParams(
        w_x=jax.nn.initializers.glorot_uniform()(k_x, (input_size, 4 * hidden_size), dtype),
        r=jax.random.normal(k_r, (heads, d, 4 * d), dtype) / jnp.sqrt(jnp.asarray(d, dtype)),
        b=jnp.concatenate([zeros, forget, zeros, zeros]),
    )


def slstm_param_count(spec: SLSTMSpec, input_size: int, hidden_size: int) -> int:
    """4H·(X + d + 1) with d = H / num_heads: w_x, the K blocks of r (K·d·4d = 4H·d), b."""
    check_heads(spec, hidden_size)
    return 4 * hidden_size * (input_size + hidden_size // spec.num_heads + 1)


def zero_state(params: SLSTMParams, spec: SLSTMSpec = SLSTMSpec(),
               batch_shape: tuple = ()) -> SLSTMState:
    """All-zero `SLSTMState` of shape batch_shape + (H,)."""
    hidden = params.b.shape[0] // 4
    z = jnp.zeros(tuple(batch_shape) + (hidden,), params.b.dtype)
    return SLSTMState(z, z, z, z)


def param_shapes(params: SLSTMParams, spec: SLSTMSpec) -> dict:
    """w_x (X, 4H), r (K, d, 4d), b (4H,) with X, H read off w_x and b, K = spec.num_heads."""
    check_leaf_rank(params, "w_x", 2)
    check_leaf_rank(params, "b", 1)
    width = params.b.shape[0]
    if width % 4:
        raise ValueError(f"params.b must have shape (4H,), got {tuple(params.b.shape)}")
    hidden = width // 4
    check_divides("hidden_size", hidden, spec, "num_heads")
    d = hidden // spec.num_heads
    return {"w_x": (params.w_x.shape[0], 4 * hidden), "r": (spec.num_heads, d, 4 * d),
            "b": (4 * hidden,)}


def _check_params(params: SLSTMParams, spec: SLSTMSpec) -> None:
    for field, want in param_shapes(params, spec).items():
        got = tuple(getattr(params, field).shape)
        if got != want:
            raise ValueError(f"params.{field} must have shape {want} for {spec!r}, got {got}")


def slstm_step(params: SLSTMParams, state: SLSTMState, x: jax.Array,
               spec: SLSTMSpec = SLSTMSpec()):
    """One sLSTM step (module docstring): x (..., X), state leaves (..., H) -> (state, h)."""
    _check_params(params, spec)
    check_float("x", x)
    check_last_dim("x", x, params.w_x.shape[0], "input_size")
    check_last_dim("state.h", state.h, params.b.shape[0] // 4, "hidden_size")
    check_same_batch(x=x, **{f"state.{k}": v for k, v in state._asdict().items()})
    heads, d = params.r.shape[:2]
    h_heads = state.h.reshape(*state.h.shape[:-1], heads, d)
    rec = jnp.einsum("...kd,kde->...ke", h_heads, params.r)          # (..., K, 4d)
    rec = jnp.swapaxes(rec.reshape(*rec.shape[:-1], 4, d), -3, -2)   # (..., 4, K, d)
    pre = x @ params.w_x + params.b + rec.reshape(*rec.shape[:-3], 4 * heads * d)
    i_pre, f_pre, z_pre, o_pre = jnp.split(pre, 4, axis=-1)
    log_f = jax.nn.log_sigmoid(f_pre) if spec.forget_gate == "sigmoid" else f_pre
    carried = jnp.where(state.n == 0, -jnp.inf, log_f + state.m)
    m = jnp.maximum(carried, i_pre)
    i_s = jnp.exp(i_pre - m)
    f_s = jnp.exp(carried - m)
    c = f_s * state.c + i_s * jnp.tanh(z_pre)
    n = f_s * state.n + i_s
    h = jax.nn.sigmoid(o_pre) * c / n
    return SLSTMState(h, c, n, m), h


def slstm(
    params: SLSTMParams,
    xs: jax.Array,
    state0: Optional[SLSTMState] = None,
    *,
    spec: SLSTMSpec = SLSTMSpec(),
    lengths: Optional[jax.Array] = None,
    reverse: bool = False,
    mode: str = "auto",
    unroll: int = 1,
    remat: int | bool = False,
    max_iters: Optional[int] = None,
    tol: Optional[float] = None,
    damping: float = 0.0,
    fallback: bool = True,
    return_info: bool = False,
):
    """Run an sLSTM layer over one sequence xs (T, X).

    Args:
      params: `SLSTMParams`. state0: `SLSTMState` (each (H,)), zeros when None.
      spec: `SLSTMSpec` (static under jit). lengths: scalar int, valid steps.
      reverse: run backwards over the valid prefix. mode: "recurrent" or "auto" (the same:
        h_{t-1} enters the gates, so there is no linear-scan form), or "newton" /
        "quasi_newton": a parallel Newton solve with dense `jax.jacfwd` Jacobians over the
        state (h, c, n, m), `max_iters`, `tol`, `damping`, `fallback` and `return_info`
        (also return the solve's `SolveInfo`; `jaxlstm.core.parallel`).
        unroll, remat: see `scan_cell`.

    Returns:
      `(final_state, hs (T, H))`, zeros at padded steps.
    """
    check_mode(mode, MODES)
    params, xs, state0, lengths = prepare_layer(SLSTM, params, xs, state0, spec=spec,
                                                lengths=lengths)
    step = lambda p, s, x: slstm_step(p, s, x, spec)  # noqa: E731
    return run_layer(step, params, xs, state0, mode=mode, lengths=lengths, reverse=reverse,
                     unroll=unroll, remat=remat, max_iters=max_iters, tol=tol,
                     damping=damping, fallback=fallback, return_info=return_info)


def _output_size(params: SLSTMParams, spec: SLSTMSpec) -> int:
    return params.b.shape[0] // 4


SLSTM = register_family(CellFamily(
    name="slstm", spec_type=SLSTMSpec, init=init_slstm, step=slstm_step,
    zero_state=zero_state, param_count=slstm_param_count, layer=slstm,
    output_size=_output_size, params_type=SLSTMParams, param_shapes=param_shapes,
    modes=MODES, default_mode=lambda num_steps: "recurrent"))
