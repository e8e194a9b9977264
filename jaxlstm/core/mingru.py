"""minGRU (Feng et al. 2024, "Were RNNs all we needed?", sec. 3.1 and appendix B.2).

The update gate reads the input only, so the recurrence is linear in h. Per unit, with the
positive candidate activation g (x + 1/2 for x >= 0, σ(x) below):

    z_t = σ(x_t W_z + b_z),  h̃_t = g(x_t W_h + b_h)
    h_t = (1 - z_t) ⊙ h_{t-1} + z_t ⊙ h̃_t

with log(1 - z_t) = -softplus(z̃_t) and log z_t = -softplus(-z̃_t). `mode="sequential"`
runs the recurrence with `lax.scan`; `mode="parallel"` runs `log_linear_scan` on
log a_t = log(1 - z_t), log b_t = log z_t + log g(x_t W_h + b_h).

Shapes: w_x (X, 2H), b (2H,) in blocks z, h; state h (H,).
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
class MinGRUSpec:
    """minGRU has no variants; the spec exists so it is a cell family like the others."""


class MinGRUParams(NamedTuple):
    """w_x (X, 2H), b (2H,): blocks z, h."""

    w_x: jax.Array
    b: jax.Array


def init_mingru(key, input_size: int, hidden_size: int, spec: MinGRUSpec = MinGRUSpec(), *,
                dtype=jnp.float32) -> MinGRUParams:
    """Glorot-uniform w_x, zero b (z = 1/2 at the start)."""
    return MinGRUParams(
        w_x=jax.nn.initializers.glorot_uniform()(key, (input_size, 2 * hidden_size), dtype),
        b=jnp.zeros((2 * hidden_size,), dtype))


def mingru_param_count(spec: MinGRUSpec, input_size: int, hidden_size: int) -> int:
    """2H·(X + 1)."""
    return 2 * hidden_size * (input_size + 1)


def zero_state(params: MinGRUParams, spec: MinGRUSpec = MinGRUSpec(),
               batch_shape: tuple = ()) -> jax.Array:
    """h = 0 of shape batch_shape + (H,)."""
    return jnp.zeros(tuple(batch_shape) + (params.b.shape[0] // 2,), params.b.dtype)


def param_shapes(params: MinGRUParams, spec: MinGRUSpec = MinGRUSpec()) -> dict:
    """w_x (X, 2H), b (2H,) with X, H read off w_x and b."""
    check_leaf_rank(params, "w_x", 2)
    check_leaf_rank(params, "b", 1)
    width = params.b.shape[0]
    if width % 2 or width == 0:
        raise ValueError(f"params.b must have shape (2H,) with H >= 1 (blocks z, h), "
                         f"got {tuple(params.b.shape)}")
    return {"w_x": (params.w_x.shape[0], width), "b": (width,)}


def _check_params(params: MinGRUParams) -> None:
    for field, want in param_shapes(params).items():
        got = tuple(getattr(params, field).shape)
        if got != want:
            raise ValueError(f"params must be w_x (X, 2H) and b (2H,), got w_x "
                             f"{params.w_x.shape} and b {params.b.shape}")


def _log_coefficients(params: MinGRUParams, x: jax.Array):
    """x (..., X) -> log(1 - z_t), log z_t and the candidate pre-activation, each (..., H)."""
    z_pre, h_pre = jnp.split(x @ params.w_x + params.b, 2, axis=-1)
    return -jax.nn.softplus(z_pre), -jax.nn.softplus(-z_pre), h_pre


def mingru_step(params: MinGRUParams, h: jax.Array, x: jax.Array,
                spec: MinGRUSpec = MinGRUSpec()):
    """One step: h (..., H), x (..., X) -> (h_t, h_t)."""
    _check_params(params)
    check_float("x", x)
    check_last_dim("x", x, params.w_x.shape[0], "input_size")
    check_last_dim("h", h, params.b.shape[0] // 2, "hidden_size")
    check_same_batch(x=x, h=h)
    log_keep, log_z, h_pre = _log_coefficients(params, x)
    h = jnp.exp(log_keep) * h + jnp.exp(log_z) * g(h_pre)
    return h, h


def mingru_jacobian(params: MinGRUParams, h: jax.Array, x: jax.Array,
                    spec: MinGRUSpec = MinGRUSpec()) -> jax.Array:
    """∂h_t/∂h_{t-1} = 1 - z_t for one step x (X,): the diagonal as (1, 1, H)."""
    return jnp.exp(_log_coefficients(params, x)[0])[None, None]


def mingru(
    params: MinGRUParams,
    xs: jax.Array,
    h0: Optional[jax.Array] = None,
    *,
    spec: MinGRUSpec = MinGRUSpec(),
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
    """Run a minGRU layer over xs (T, X); arguments and result as `minlstm`."""
    check_mode(mode, MODES)
    params, xs, h0, lengths = prepare_layer(MINGRU, params, xs, h0, spec=spec,
                                            lengths=lengths, state_name="h0")
    mode = MINGRU.form(mode, xs.shape[0])  # "auto": default_mode
    if return_info and mode not in PARALLEL_MODES:
        raise ValueError(f"return_info needs mode in {list(PARALLEL_MODES)}, got mode={mode!r}")
    if mode == "sequential":
        step = lambda p, s, x: mingru_step(p, s, x, spec)  # noqa: E731
        return scan_cell(step, params, xs, h0, lengths=lengths, reverse=reverse,
                         unroll=unroll, remat=remat)
    if mode in PARALLEL_MODES:
        step = lambda p, s, x: mingru_step(p, s, x, spec)  # noqa: E731
        jac = lambda p, s, x: mingru_jacobian(p, s, x, spec)  # noqa: E731
        return run_layer(step, params, xs, h0, mode=mode, jacobian=jac, lengths=lengths,
                         reverse=reverse, max_iters=max_iters, tol=tol, damping=damping,
                         fallback=fallback, return_info=return_info)
    log_keep, log_z, h_pre = _log_coefficients(params, xs)
    return log_linear_scan(log_keep, log_z + log_g(h_pre), h0, lengths=lengths, reverse=reverse)


def _output_size(params: MinGRUParams, spec: MinGRUSpec) -> int:
    return params.b.shape[0] // 2


MINGRU = register_family(CellFamily(
    name="mingru", spec_type=MinGRUSpec, init=init_mingru, step=mingru_step,
    zero_state=zero_state, param_count=mingru_param_count, layer=mingru,
    output_size=_output_size, params_type=MinGRUParams, param_shapes=param_shapes,
    jacobian=mingru_jacobian, modes=MODES,
    default_mode=linear_scan_default_mode))
