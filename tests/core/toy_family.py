"""A cell family defined outside jaxlstm/, in this one file: the independently recurrent
network (IndRNN, Li et al. 2018) with a choice of activation,

    h_t = act(x_t W + u ⊙ h_{t-1} + b)          w_x (X, H), u (H,), b (H,); state h (H,)

`register_family(INDRNN)` (here inside `registered()`, so other tests see the library's
own table) makes it a cell like the library's: tests/core/test_toy_family.py runs it
through the core, a YAML config, `jaxlstm config`, the NNX modules and `fit`, and
tests/core/test_conformance.py through every transformation, with no change to jaxlstm/:
the proof that a new cell family is one file.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

from jaxlstm.core.family import FAMILIES, CellFamily, register_family, register_spec
from jaxlstm.core.parallel import PARALLEL_MODES, run_layer
from jaxlstm.core.scan import prepare_layer
from jaxlstm.core.validation import check_mode

ACTIVATIONS = {"tanh": jnp.tanh, "sin": jnp.sin}
MODES = ("scan",) + PARALLEL_MODES


@register_spec
@dataclasses.dataclass(frozen=True)
class IndRNNSpec:
    """The IndRNN variant.

    Attributes:
      activation: "tanh" or "sin".
    """

    activation: str = "tanh"

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"IndRNNSpec.activation must be one of {list(ACTIVATIONS)}, "
                             f"got {self.activation!r}")


class IndRNNParams(NamedTuple):
    w_x: jax.Array
    u: jax.Array
    b: jax.Array


def init(key, input_size: int, hidden_size: int, spec: IndRNNSpec = IndRNNSpec(), *,
         dtype=jnp.float32) -> IndRNNParams:
    k1, k2 = jax.random.split(key)
    return IndRNNParams(jax.nn.initializers.glorot_uniform()(k1, (input_size, hidden_size), dtype),
                        jax.random.uniform(k2, (hidden_size,), dtype, -0.9, 0.9),
                        jnp.zeros((hidden_size,), dtype))


def step(params: IndRNNParams, h, x, spec: IndRNNSpec = IndRNNSpec()):
    h = ACTIVATIONS[spec.activation](x @ params.w_x + params.u * h + params.b)
    return h, h


def zero_state(params, spec=IndRNNSpec(), batch_shape=()):
    return jnp.zeros(tuple(batch_shape) + params.u.shape, params.u.dtype)


def param_shapes(params, spec=IndRNNSpec()) -> dict:
    hidden = params.u.shape[-1]
    return {"w_x": (params.w_x.shape[0], hidden), "u": (hidden,), "b": (hidden,)}


def layer(params, xs, h0=None, *, spec: IndRNNSpec = IndRNNSpec(), lengths=None,
          reverse: bool = False, mode: str = "scan", unroll: int = 1, remat: int | bool = False,
          max_iters: Optional[int] = None, tol: Optional[float] = None, damping: float = 0.0,
          fallback: bool = True, return_info: bool = False):
    """xs (T, X) -> (h_T (H,), hs (T, H))."""
    check_mode(mode, MODES)
    params, xs, h0, lengths = prepare_layer(INDRNN, params, xs, h0, spec=spec, lengths=lengths,
                                            state_name="h0")
    return run_layer(lambda p, h, x: step(p, h, x, spec), params, xs, h0, mode=mode,
                     lengths=lengths, reverse=reverse, unroll=unroll, remat=remat,
                     max_iters=max_iters, tol=tol, damping=damping, fallback=fallback,
                     return_info=return_info)


INDRNN = CellFamily(
    name="indrnn", spec_type=IndRNNSpec, init=init, step=step, zero_state=zero_state,
    param_count=lambda spec, input_size, hidden_size: hidden_size * (input_size + 2),
    layer=layer, output_size=lambda params, spec=IndRNNSpec(): params.u.shape[-1],
    params_type=IndRNNParams, param_shapes=param_shapes, modes=MODES)


@contextlib.contextmanager
def registered():
    """INDRNN in `FAMILIES` (so configs, `make_encoder` and `FamilyRNN` know "indrnn")
    for the duration of the block."""
    register_family(INDRNN)
    try:
        yield INDRNN
    finally:
        FAMILIES.pop("indrnn", None)
