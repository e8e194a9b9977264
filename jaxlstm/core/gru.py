"""The GRU baseline (Cho et al. 2014, PyTorch's form), run through the LSTM's driver.

    r_t = σ(x_t W_r + b_xr + h_{t-1} U_r + b_hr)
    z_t = σ(x_t W_z + b_xz + h_{t-1} U_z + b_hz)
    n_t = tanh(x_t W_n + b_xn + r_t ⊙ (h_{t-1} U_n + b_hn))
    h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

Shapes: w_x (X, 3H), w_h (H, 3H), b_x (3H,), b_h (3H,), blocks r, z, n. With a
`compute_dtype` the two matmuls run in it and the rest in the state's dtype.
"""

from __future__ import annotations

import dataclasses

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

from jaxlstm.core.params import in_float32
from jaxlstm.core.cell import to_compute_dtype
from jaxlstm.core.rnn import register_vector_state_family, scan_vector_state
from jaxlstm.core.family import register_spec
from jaxlstm.core.validation import check_float, check_last_dim, check_same_batch


class GRUParams(NamedTuple):
    """GRU weights, blocks r, z, n: w_x (X, 3H), w_h (H, 3H), b_x (3H,), b_h (3H,)."""

    w_x: jax.Array
    w_h: jax.Array
    b_x: jax.Array
    b_h: jax.Array


def init_gru(key, input_size: int, hidden_size: int, *, dtype=jnp.float32) -> GRUParams:
    """Glorot-uniform input weights, orthogonal recurrent weights, zero biases."""
    k_x, k_h = jax.random.split(key)
    h3 = 3 * hidden_size
    return GRUParams(
        w_x=jax.nn.initializers.glorot_uniform()(k_x, (input_size, h3), dtype),
        w_h=in_float32(jax.nn.initializers.orthogonal())(k_h, (hidden_size, h3), dtype),
        b_x=jnp.zeros((h3,), dtype),
        b_h=jnp.zeros((h3,), dtype),
    )


def gru_step(params: GRUParams, h: jax.Array, x: jax.Array, *,
             compute_dtype: Optional[jnp.dtype] = None):
    """One GRU step: h (..., H), x (..., X) -> (h_t, h_t) (the output in `compute_dtype`)."""
    check_float("x", x)
    check_last_dim("x", x, params.w_x.shape[0], "input_size")
    check_last_dim("h", h, params.w_h.shape[0], "hidden_size")
    check_same_batch(x=x, h=h)
    x_c, h_c, w_x, w_h, b_x, b_h = to_compute_dtype(
        compute_dtype, x, h, params.w_x, params.w_h, params.b_x, params.b_h)
    xr, xz, xn = jnp.split((x_c @ w_x + b_x).astype(h.dtype), 3, axis=-1)
    hr, hz, hn = jnp.split((h_c @ w_h + b_h).astype(h.dtype), 3, axis=-1)
    r = jax.nn.sigmoid(xr + hr)
    z = jax.nn.sigmoid(xz + hz)
    n = jnp.tanh(xn + r * hn)
    h = (1.0 - z) * n + z * h
    return h, h if compute_dtype is None else h.astype(compute_dtype)


def gru(
    params: GRUParams,
    xs: jax.Array,
    h0: Optional[jax.Array] = None,
    *,
    lengths: Optional[jax.Array] = None,
    reverse: bool = False,
    unroll: int = 1,
    remat: int | bool = False,
    compute_dtype: Optional[jnp.dtype] = None,
    spec: Optional["GRUSpec"] = None,
    mode: str = "scan",
    max_iters: Optional[int] = None,
    tol: Optional[float] = None,
    damping: float = 0.0,
    fallback: bool = True,
    return_info: bool = False,
):
    """Run a GRU over xs (T, X); returns (h_final (H,), hs (T, H)). See `lstm`.

    `spec` (GRUSpec(), which has no options) is accepted for the cell-family interface;
    `mode` "scan", "newton" or "quasi_newton", and `damping`, `fallback`, `return_info`
    (see `scan_vector_state`)."""
    return scan_vector_state(GRU_FAMILY, params, xs, h0, spec=spec, lengths=lengths,
                             reverse=reverse, unroll=unroll, remat=remat,
                             compute_dtype=compute_dtype, mode=mode, max_iters=max_iters,
                             tol=tol, damping=damping, fallback=fallback,
                             return_info=return_info)


@register_spec
@dataclasses.dataclass(frozen=True)
class GRUSpec:
    """The GRU cell has no variants; its spec exists for the cell-family interface."""


GRU_FAMILY = register_vector_state_family("gru", GRUSpec, GRUParams, init_gru, gru_step, gru,
                                          blocks=3, biases=("b_x", "b_h"))
