"""minLSTM (Feng et al. 2024, "Were RNNs all we needed?", sec. 3.2 and appendix B.3).

The gates read the input only, so the recurrence is linear in h and runs as a parallel
scan. Per unit, with the positive candidate activation g (x + 1/2 for x >= 0, σ(x) below):

    f_t = σ(x_t W_f + b_f),  i_t = σ(x_t W_i + b_i),  h̃_t = g(x_t W_h + b_h)
    f'_t = f_t / (f_t + i_t),  i'_t = i_t / (f_t + i_t)
    h_t = f'_t ⊙ h_{t-1} + i'_t ⊙ h̃_t

In log space, with δ_t = log i_t - log f_t = softplus(-f̃_t) - softplus(-ĩ_t):
log f'_t = -softplus(δ_t), log i'_t = -softplus(-δ_t). `mode="sequential"` runs the
recurrence with `lax.scan`; `mode="parallel"` runs `log_linear_scan` on
log a_t = log f'_t, log b_t = log i'_t + log g(x_t W_h + b_h).

Shapes: w_x (X, 3H), b (3H,) in blocks f, i, h; state h (H,).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

from jaxlstm.core.family import CellFamily, register_family, register_spec
from jaxlstm.core.logscan import g, linear_scan_default_mode, log_g, log_linear_scan
from jaxlstm.core.parallel import PARALLEL_MODES, run_layer
from jaxlstm.core.scan import prepare_layer, scan_cell
from jaxlstm.core.validation import (check_float, check_last_dim, check_leaf_rank, check_mode,
                                    check_same_batch)

MODES = ("auto", "sequential", "parallel") + PARALLEL_MODES


@register_spec
@dataclasses.dataclass(frozen=True)
class MinLSTMSpec:
    """minLSTM has no variants; the spec exists so it is a cell family like the others."""


class MinLSTMParams(NamedTuple):
    """w_x (X, 3H), b (3H,): blocks f, i, h."""

    w_x: jax.Array
    b: jax.Array


def init_minlstm(key, input_size: int, hidden_size: int, spec: MinLSTMSpec = MinLSTMSpec(), *,
                 dtype=jnp.float32) -> MinLSTMParams:
    """Glorot-uniform w_x, zero b (f' = i' = 1/2 at the start)."""
    return MinLSTMParams(
        w_x=jax.nn.initializers.glorot_uniform()(key, (input_size, 3 * hidden_size), dtype),
        b=jnp.zeros((3 * hidden_size,), dtype))


def minlstm_param_count(spec: MinLSTMSpec, input_size: int, hidden_size: int) -> int:
    """3H·(X + 1)."""
    return 3 * hidden_size * (input_size + 1)


def zero_state(params: MinLSTMParams, spec: MinLSTMSpec = MinLSTMSpec(),
               batch_shape: tuple = ()) -> jax.Array:
    """h = 0 of shape batch_shape + (H,)."""
    return jnp.zeros(tuple(batch_shape) + (params.b.shape[0] // 3,), params.b.dtype)


def param_shapes(params: MinLSTMParams, spec: MinLSTMSpec = MinLSTMSpec()) -> dict:
    """w_x (X, 3H), b (3H,) with X, H read off w_x and b."""
    check_leaf_rank(params, "w_x", 2)
    check_leaf_rank(params, "b", 1)
    width = params.b.shape[0]
    if width % 3 or width == 0:
        raise ValueError(f"params.b must have shape (3H,) with H >= 1 (blocks f, i, h), "
                         f"got {tuple(params.b.shape)}")
    return {"w_x": (params.w_x.shape[0], width), "b": (width,)}


def _check_params(params: MinLSTMParams) -> None:
    for field, want in param_shapes(params).items():
        got = tuple(getattr(params, field).shape)
        if got != want:
            raise ValueError(f"params must be w_x (X, 3H) and b (3H,), got w_x "
                             f"{params.w_x.shape} and b {params.b.shape}")


def _log_coefficients(params: MinLSTMParams, x: jax.Array):
    """x (..., X) -> log f'_t, log i'_t and the candidate pre-activation, each (..., H)."""
    f_pre, i_pre, h_pre = jnp.split(x @ params.w_x + params.b, 3, axis=-1)
    delta = jax.nn.softplus(-f_pre) - jax.nn.softplus(-i_pre)
    return -jax.nn.softplus(delta), -jax.nn.softplus(-delta), h_pre


def minlstm_step(params: MinLSTMParams, h: jax.Array, x: jax.Array,
                 spec: MinLSTMSpec = MinLSTMSpec()):
    """One step: h (..., H), x (..., X) -> (h_t, h_t)."""
    _check_params(params)
    check_float("x", x)
    check_last_dim("x", x, params.w_x.shape[0], "input_size")
    check_last_dim("h", h, params.b.shape[0] // 3, "hidden_size")
    check_same_batch(x=x, h=h)
    log_f, log_i, h_pre = _log_coefficients(params, x)
    h = jnp.exp(log_f) * h + jnp.exp(log_i) * g(h_pre)
    return h, h


def minlstm_jacobian(params: MinLSTMParams, h: jax.Array, x: jax.Array,
                     spec: MinLSTMSpec = MinLSTMSpec()) -> jax.Array:
    """∂h_t/∂h_{t-1} = f'_t for one step x (X,): the diagonal as (1, 1, H)."""
    return jnp.exp(_log_coefficients(params, x)[0])[None, None]


def minlstm(
    params: MinLSTMParams,
    xs: jax.Array,
    h0: Optional[jax.Array] = None,
    *,
    spec: MinLSTMSpec = MinLSTMSpec(),
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
    """Run a minLSTM layer over xs (T, X).

    Args:
      h0: (H,) initial state, zeros when None. lengths: scalar int, the valid steps.
      reverse: run backwards over the valid prefix.
      mode: "sequential" (`lax.scan`), "parallel" (`lax.associative_scan` in log space)
        or "auto" (`default_mode(T)`); both give the same result. "newton" /
        "quasi_newton" run the generic parallel Newton solver (`jaxlstm.core.parallel`,
        `max_iters`, `tol`, `damping`, `fallback`, `return_info` for a `SolveInfo`) with the
        diagonal Jacobian f'_t: the recurrence is linear, so
        one iteration solves it; they exist to check the solver, "parallel" is the fast form.
      unroll, remat: for the sequential form (see `scan_cell`).

    Returns:
      `(h_final (H,), hs (T, H))`, zeros at padded steps.
    """
    check_mode(mode, MODES)
    params, xs, h0, lengths = prepare_layer(MINLSTM, params, xs, h0, spec=spec,
                                            lengths=lengths, state_name="h0")
    mode = MINLSTM.form(mode, xs.shape[0])  # "auto": default_mode
    if return_info and mode not in PARALLEL_MODES:
        raise ValueError(f"return_info needs mode in {list(PARALLEL_MODES)}, got mode={mode!r}")
    if mode == "sequential":
        step = lambda p, s, x: minlstm_step(p, s, x, spec)  # noqa: E731
        return scan_cell(step, params, xs, h0, lengths=lengths, reverse=reverse,
                         unroll=unroll, remat=remat)
    if mode in PARALLEL_MODES:
        step = lambda p, s, x: minlstm_step(p, s, x, spec)  # noqa: E731
        jac = lambda p, s, x: minlstm_jacobian(p, s, x, spec)  # noqa: E731
        return run_layer(step, params, xs, h0, mode=mode, jacobian=jac, lengths=lengths,
                         reverse=reverse, max_iters=max_iters, tol=tol, damping=damping,
                         fallback=fallback, return_info=return_info)
    log_f, log_i, h_pre = _log_coefficients(params, xs)
    return log_linear_scan(log_f, log_i + log_g(h_pre), h0, lengths=lengths, reverse=reverse)


def _output_size(params: MinLSTMParams, spec: MinLSTMSpec) -> int:
    return params.b.shape[0] // 3


MINLSTM = register_family(CellFamily(
    name="minlstm", spec_type=MinLSTMSpec, init=init_minlstm, step=minlstm_step,
    zero_state=zero_state, param_count=minlstm_param_count, layer=minlstm,
    output_size=_output_size, params_type=MinLSTMParams, param_shapes=param_shapes,
    jacobian=minlstm_jacobian, modes=MODES,
    default_mode=linear_scan_default_mode))
