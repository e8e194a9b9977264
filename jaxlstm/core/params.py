"""LSTM parameters and state as plain pytrees; initialisation and counting.

Shapes (X input size, H hidden size, R = H or the projection size, G gate blocks):
  w_x: (X, G·H)   input weights, blocks in the order i, f, g, o (absent ones skipped)
  w_h: (R, G·H)   recurrent weights ("peephole_full": (H, 3·H), read c_{t-1}, blocks i, f, o)
  b:   (G·H,)     bias
  w_peep: (P, H)  diagonal peepholes, one row per present gate among i, f, o, or None
  w_proj: (H, R)  projection h_t = (o ⊙ act(c_t)) · w_proj (LSTMP), or None
"""

from __future__ import annotations

import numbers
from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp

from jaxlstm.core.spec import CellSpec

Initializer = Callable[..., jax.Array]


class LSTMParams(NamedTuple):
    """The weights of one LSTM layer in one direction (see the module docstring)."""

    w_x: jax.Array
    w_h: jax.Array
    b: jax.Array
    w_peep: Optional[jax.Array] = None
    w_proj: Optional[jax.Array] = None


class LSTMState(NamedTuple):
    """The LSTM carry: h (..., R) the output, c (..., H) the cell state."""

    h: jax.Array
    c: jax.Array


def param_shapes(
    spec: CellSpec, input_size: int, hidden_size: int, proj_size: Optional[int] = None
) -> LSTMParams:
    """The shape of every leaf `init_lstm` creates, as an `LSTMParams` of tuples."""
    _check_sizes(input_size, hidden_size, proj_size)
    g, h = spec.num_blocks, hidden_size
    r = proj_size or hidden_size
    recurrent_rows = h if spec.variant == "peephole_full" else r
    return LSTMParams(
        w_x=(input_size, g * h),
        w_h=(recurrent_rows, len(spec.recurrent_blocks) * h),
        b=(g * h,),
        w_peep=(len(spec.peephole_gates), h) if spec.peepholes else None,
        w_proj=(h, r) if proj_size else None,
    )


def param_count(
    spec: CellSpec, input_size: int, hidden_size: int, proj_size: Optional[int] = None
) -> int:
    """Number of scalars in one layer's `LSTMParams`.

    For the vanilla LSTM this is 4·H·(H + X + 1) (seed 000's formula).
    """
    total = 0
    for shape in param_shapes(spec, input_size, hidden_size, proj_size):
        if shape is not None:
            n = 1
            for d in shape:
                n *= d
            total += n
    return total


def in_float32(init: Initializer) -> Initializer:
    """`init` run in float32 and cast to the requested dtype when that is narrower
    (float16, bfloat16): the orthogonal initializer's QR decomposition has no LAPACK
    kernel below float32, and a float32 draw rounded once is as good as any."""

    def wrapped(key, shape, dtype=jnp.float32):
        if jnp.issubdtype(dtype, jnp.floating) and jnp.finfo(dtype).bits < 32:
            return init(key, shape, jnp.float32).astype(dtype)
        return init(key, shape, dtype)

    return wrapped


def init_lstm(
    key: jax.Array,
    input_size: int,
    hidden_size: int,
    spec: CellSpec = CellSpec(),
    *,
    proj_size: Optional[int] = None,
    dtype=jnp.float32,
    kernel_init: Initializer = jax.nn.initializers.glorot_uniform(),
    recurrent_init: Initializer = jax.nn.initializers.orthogonal(),
    bias_init: Initializer = jax.nn.initializers.zeros,
    peephole_init: Initializer = jax.nn.initializers.uniform(0.1),
    proj_init: Initializer = jax.nn.initializers.glorot_uniform(),
) -> LSTMParams:
    """Initialise one LSTM layer.

    Defaults: Glorot-uniform input weights, orthogonal recurrent weights, zero
    bias plus `spec.forget_bias` on the forget block (Jozefowicz et al. 2015),
    peepholes uniform in [0, 0.1), Glorot-uniform projection. Each initializer
    is a `jax.nn.initializers` function `(key, shape, dtype) -> array`.
    """
    shapes = param_shapes(spec, input_size, hidden_size, proj_size)
    kernel_init, recurrent_init, bias_init, peephole_init, proj_init = map(
        in_float32, (kernel_init, recurrent_init, bias_init, peephole_init, proj_init))
    k_x, k_h, k_b, k_p, k_r = jax.random.split(key, 5)
    b = bias_init(k_b, shapes.b, dtype)
    if "f" in spec.blocks:
        f = spec.blocks.index("f")
        b = b.at[f * hidden_size : (f + 1) * hidden_size].add(spec.forget_bias)
    return LSTMParams(
        w_x=kernel_init(k_x, shapes.w_x, dtype),
        w_h=recurrent_init(k_h, shapes.w_h, dtype),
        b=b,
        w_peep=peephole_init(k_p, shapes.w_peep, dtype) if shapes.w_peep else None,
        w_proj=proj_init(k_r, shapes.w_proj, dtype) if shapes.w_proj else None,
    )


def zero_state(params: LSTMParams, batch_shape: tuple[int, ...] = (), dtype=None) -> LSTMState:
    """The all-zeros `LSTMState` for `params`, with leading `batch_shape`, in `dtype`
    (default: the parameters' dtype)."""
    hidden = hidden_size_of(params)
    out = params.w_proj.shape[1] if params.w_proj is not None else hidden
    dtype = params.w_x.dtype if dtype is None else dtype
    return LSTMState(
        h=jnp.zeros(batch_shape + (out,), dtype), c=jnp.zeros(batch_shape + (hidden,), dtype)
    )


def hidden_size_of(params: LSTMParams) -> int:
    """H, read off the parameters (the projection input, or w_h's row count)."""
    if params.w_proj is not None:
        return params.w_proj.shape[0]
    return params.w_h.shape[0]


def _check_sizes(input_size, hidden_size, proj_size):
    sizes = [("input_size", input_size), ("hidden_size", hidden_size)]
    if proj_size is not None:
        sizes.append(("proj_size", proj_size))
    for name, value in sizes:
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
