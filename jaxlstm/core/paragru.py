"""ParaGRU (Danieli et al., ParaRNN, ICLR 2026): the GRU (PyTorch's form, `jaxlstm.core.gru`)
with diagonal recurrent weights, made for parallel Newton solves.

Per unit (all products elementwise), with u_t = x_t W + b_x the input pre-activations:

    r_t = σ(u_r + a_r h_{t-1} + b_hr)
    z_t = σ(u_z + a_z h_{t-1} + b_hz)
    n_t = tanh(u_n + r_t (a_n h_{t-1} + b_hn))
    h_t = (1 - z_t) n_t + z_t h_{t-1}

Each unit's h_t depends on that unit's h_{t-1} only, so the step Jacobian is diagonal
(`paragru_jacobian`) and one Newton iteration costs O(T·H).

Shapes: w_x (X, 3H), a (3H,), b_x (3H,), b_h (3H,), blocks r, z, n; state h (H,).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

from jaxlstm.core.family import CellFamily, register_family, register_spec
from jaxlstm.core.parallel import PARALLEL_MODES, run_layer
from jaxlstm.core.scan import prepare_layer
from jaxlstm.core.validation import check_float, check_last_dim, check_mode, check_same_batch

MODES = ("auto", "scan") + PARALLEL_MODES


@register_spec
@dataclasses.dataclass(frozen=True)
class ParaGRUSpec:
    """ParaGRU has no variants; the spec exists so it is a cell family like the others."""


class ParaGRUParams(NamedTuple):
    """w_x (X, 3H); a, b_x, b_h (3H,); blocks r, z, n."""

    w_x: jax.Array
    a: jax.Array
    b_x: jax.Array
    b_h: jax.Array


def init_paragru(key, input_size: int, hidden_size: int, spec: ParaGRUSpec = ParaGRUSpec(), *,
                 dtype=jnp.float32) -> ParaGRUParams:
    """Glorot-uniform w_x, a ~ U(-0.5, 0.5), zero biases."""
    k_x, k_a = jax.random.split(key)
    h3 = 3 * hidden_size
    return ParaGRUParams(
        w_x=jax.nn.initializers.glorot_uniform()(k_x, (input_size, h3), dtype),
        a=jax.random.uniform(k_a, (h3,), dtype, -0.5, 0.5),
        b_x=jnp.zeros((h3,), dtype), b_h=jnp.zeros((h3,), dtype))


def paragru_param_count(spec: ParaGRUSpec, input_size: int, hidden_size: int) -> int:
    """3H·(X + 3): w_x, a, b_x, b_h."""
    return 3 * hidden_size * (input_size + 3)


def zero_state(params: ParaGRUParams, spec: ParaGRUSpec = ParaGRUSpec(),
               batch_shape: tuple = ()) -> jax.Array:
    """h = 0 of shape batch_shape + (H,)."""
    return jnp.zeros(tuple(batch_shape) + (params.a.shape[0] // 3,), params.a.dtype)


def _check_params(params: ParaGRUParams) -> None:
    width = jnp.shape(params.a)[0] if jnp.ndim(params.a) == 1 else None
    ok = (width is not None and width % 3 == 0 and jnp.ndim(params.w_x) == 2
          and params.w_x.shape[1] == width
          and jnp.shape(params.b_x) == (width,) and jnp.shape(params.b_h) == (width,))
    if not ok:
        raise ValueError(f"params must be w_x (X, 3H), a, b_x and b_h (3H,), got shapes "
                         f"{[tuple(jnp.shape(v)) for v in params]}")


def input_preactivations(params: ParaGRUParams, x: jax.Array) -> jax.Array:
    """u = x W + b_x: x (..., X) -> (..., 3H) in blocks r, z, n."""
    return x @ params.w_x + params.b_x


def recurrent_step(params: ParaGRUParams, h: jax.Array, u: jax.Array):
    """One step from the input pre-activations u (..., 3H): (h, u) -> (h_t, h_t)."""
    a_r, a_z, a_n = jnp.split(params.a, 3, axis=-1)
    b_r, b_z, b_n = jnp.split(params.b_h, 3, axis=-1)
    u_r, u_z, u_n = jnp.split(u, 3, axis=-1)
    r = jax.nn.sigmoid(u_r + a_r * h + b_r)
    z = jax.nn.sigmoid(u_z + a_z * h + b_z)
    n = jnp.tanh(u_n + r * (a_n * h + b_n))
    h = (1.0 - z) * n + z * h
    return h, h


def recurrent_jacobian(params: ParaGRUParams, h: jax.Array, u: jax.Array) -> jax.Array:
    """∂h_t/∂h_{t-1} of `recurrent_step` for one step: the diagonal as (1, 1, H)."""
    a_r, a_z, a_n = jnp.split(params.a, 3, axis=-1)
    b_r, b_z, b_n = jnp.split(params.b_h, 3, axis=-1)
    u_r, u_z, u_n = jnp.split(u, 3, axis=-1)
    r = jax.nn.sigmoid(u_r + a_r * h + b_r)
    z = jax.nn.sigmoid(u_z + a_z * h + b_z)
    hidden_n = a_n * h + b_n
    n = jnp.tanh(u_n + r * hidden_n)
    dn = (1.0 - n ** 2) * (r * (1.0 - r) * a_r * hidden_n + r * a_n)
    diag = z + z * (1.0 - z) * a_z * (h - n) + (1.0 - z) * dn
    return diag[None, None]


def _check_step(params, h, x):
    _check_params(params)
    check_float("x", x)
    check_last_dim("x", x, params.w_x.shape[0], "input_size")
    check_last_dim("h", h, params.a.shape[0] // 3, "hidden_size")
    check_same_batch(x=x, h=h)


def paragru_step(params: ParaGRUParams, h: jax.Array, x: jax.Array,
                 spec: ParaGRUSpec = ParaGRUSpec()):
    """One ParaGRU step (module docstring): h (..., H), x (..., X) -> (h_t, h_t)."""
    _check_step(params, h, x)
    return recurrent_step(params, h, input_preactivations(params, x))


def paragru_jacobian(params: ParaGRUParams, h: jax.Array, x: jax.Array,
                     spec: ParaGRUSpec = ParaGRUSpec()) -> jax.Array:
    """∂h_t/∂h_{t-1} of `paragru_step` for one step x (X,): its diagonal as (1, 1, H)."""
    _check_step(params, h, x)
    return recurrent_jacobian(params, h, input_preactivations(params, x))


def paragru(
    params: ParaGRUParams,
    xs: jax.Array,
    h0: Optional[jax.Array] = None,
    *,
    spec: ParaGRUSpec = ParaGRUSpec(),
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
    """Run a ParaGRU layer over xs (T, X); arguments and result as `paralstm` (the Jacobian
    is diagonal, so "newton" and "quasi_newton" are the same iteration)."""
    check_mode(mode, MODES)
    _check_params(params)
    params, xs, h0, lengths = prepare_layer(PARAGRU, params, xs, h0, spec=spec, lengths=lengths,
                                            state_name="h0")
    us = input_preactivations(params, xs)
    return run_layer(recurrent_step, params, us, h0, mode=PARAGRU.form(mode, xs.shape[0]),
                     jacobian=recurrent_jacobian, lengths=lengths, reverse=reverse,
                     unroll=unroll, remat=remat, max_iters=max_iters, tol=tol, damping=damping,
                     fallback=fallback, return_info=return_info)


def _output_size(params: ParaGRUParams, spec: ParaGRUSpec) -> int:
    return params.a.shape[0] // 3


PARAGRU = register_family(CellFamily(
    name="paragru", spec_type=ParaGRUSpec, init=init_paragru, step=paragru_step,
    zero_state=zero_state, param_count=paragru_param_count, layer=paragru,
    output_size=_output_size, jacobian=paragru_jacobian, params_type=ParaGRUParams,
    modes=MODES, default_mode=lambda num_steps: "scan"))
