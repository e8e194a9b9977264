"""NNX modules of the modern cells (sLSTM, mLSTM, minLSTM, minGRU, ParaLSTM, ParaGRU): a cell holding one
family's core parameters, and a stacked, optionally bidirectional, batch-major encoder.

Both read the family table (`jaxlstm.core.family.FAMILIES`): the init, step, zero state and
layer function of the cell named by `family`. No gate math lives here.
"""

from __future__ import annotations

import functools
from typing import Optional

import jax
import jax.numpy as jnp
from flax import nnx

from jaxlstm.core import vmap_layer
from jaxlstm.core.family import get_family
from jaxlstm.nn.cell import ParamTupleCell
from jaxlstm.nn.recurrent import Recurrent

MODERN_CELLS = ("slstm", "mlstm", "minlstm", "mingru", "paralstm", "paragru")


def modern_spec(family: str, num_heads: int = 1):
    """The default spec of `family` with `num_heads` heads (sLSTM, mLSTM, ParaLSTM; the
    minimal RNNs and ParaGRU have no heads, so num_heads must be 1 for them)."""
    spec_type = get_family(family).spec_type
    if family in ("slstm", "mlstm", "paralstm"):
        return spec_type(num_heads=num_heads)
    if num_heads != 1:
        raise ValueError(f"num_heads is an sLSTM/mLSTM option; cell={family!r} must have "
                         f"num_heads=1, got {num_heads}")
    return spec_type()


class ModernCell(ParamTupleCell):
    """One layer of a modern cell: its core parameters as `nnx.Param`s.

    Args:
      family: "slstm", "mlstm", "minlstm" or "mingru". in_features: X. hidden_size: H.
      spec: the family's spec (its default when None). rngs: `nnx.Rngs` with `params`.
    """

    def __init__(self, family: str, in_features: int, hidden_size: int, *, spec=None,
                 dtype=jnp.float32, rngs: nnx.Rngs):
        cell = get_family(family)
        self.family = family
        self.spec = cell.spec_type() if spec is None else spec
        if not isinstance(self.spec, cell.spec_type):
            raise TypeError(f"spec must be a {cell.spec_type.__name__} for family={family!r}, "
                            f"got {type(self.spec).__name__}")
        params = cell.init(rngs.params(), in_features, hidden_size, self.spec, dtype=dtype)
        self.params_type = type(params)
        self._store(params)

    def initial_state(self, batch_size: Optional[int] = None):
        batch = () if batch_size is None else (batch_size,)
        return get_family(self.family).zero_state(self.params, self.spec, batch)

    def __call__(self, state, x: jax.Array):
        """(state, x (B, X)) -> (new_state, h (B, H)): the family's step function."""
        return get_family(self.family).step(self.params, state, x, self.spec)


class ModernRNN(Recurrent):
    """Stacked (bi)directional encoder of a modern cell over (B, T, X) -> (B, T, D·H).

    Args:
      family: "slstm", "mlstm", "minlstm" or "mingru". in_features: X. hidden_size: H.
      spec: the family's spec (default when None). num_layers, bidirectional, dropout
        (between layers, given a key at call time), unroll, remat: as `LSTM`.
      mode: the layer's form ("auto", or e.g. "parallel"/"chunkwise"/"recurrent" for
        mLSTM, "sequential"/"parallel" for minLSTM/minGRU, "scan"/"newton"/"quasi_newton"
        for ParaLSTM/ParaGRU).
    """

    def __init__(self, family: str, in_features: int, hidden_size: int, *, spec=None,
                 num_layers: int = 1, bidirectional: bool = False, dropout: float = 0.0,
                 mode: str = "auto", unroll: int = 1, remat: int | bool = False,
                 dtype=jnp.float32, compute_dtype=None, rngs: nnx.Rngs):
        if family not in MODERN_CELLS:
            raise ValueError(f"family must be one of {list(MODERN_CELLS)}, got {family!r}")
        if compute_dtype is not None:
            raise ValueError(f"compute_dtype is not supported by the {family} layers "
                             f"(they compute in the parameter dtype), got {compute_dtype!r}")
        if not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"num_layers must be a positive int, got {num_layers!r}")
        out = hidden_size * (2 if bidirectional else 1)
        make = lambda k: ModernCell(family, in_features if k == 0 else out, hidden_size,  # noqa: E731
                                    spec=spec, dtype=dtype, rngs=rngs)
        forward = [make(k) for k in range(num_layers)]
        backward = [make(k) for k in range(num_layers)] if bidirectional else None
        self.mode = mode
        self.input_size = in_features  # w_x's first axis is not X for every family (ParaLSTM's heads)
        super().__init__(forward, backward, dropout=dropout, unroll=unroll, remat=remat,
                         rngs=rngs)

    @property
    def in_features(self) -> int:
        return self.input_size

    @property
    def out_features(self) -> int:
        cell = self.forward_cells[-1]
        size = get_family(cell.family).output_size(cell.params, cell.spec)
        return size * (2 if self.bidirectional else 1)

    def layer_fn(self, cell):
        layer = get_family(cell.family).layer
        return vmap_layer(functools.partial(layer, spec=cell.spec, mode=self.mode))
