"""NNX cells: a core parameter tuple held as `nnx.Param`s, stepping with the core function.

`LSTMCell` is the LSTM's (with projections and the fused step); `FamilyCell` holds any
registered cell family's parameters and steps with its `step` (`GRUCell`, `RNNCell` are
it with the family fixed). Each field of the core's parameter NamedTuple is one
`nnx.Param` attribute of the same name (None stays None), so `cell.params` and
`Cell.from_params` convert without any copying logic. No gate math lives here.

The cells are `flax.nnx.RNNCellBase`s: `cell(carry, x) -> (carry, y)`,
`initialize_carry(input_shape)` and `num_feature_axes`, so `flax.nnx.RNN(cell)` runs
them over time like Flax's own cells.
"""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxlstm.core import CellSpec, LSTMParams, LSTMState, cell_step, hidden_size_of, init_lstm, zero_state
from jaxlstm.core.family import family_of_params, get_family


class ParamTupleCell(nnx.RNNCellBase):
    """Base: stores a core parameter NamedTuple field by field as `nnx.Param`."""

    params_type: type = tuple

    @property
    def num_feature_axes(self) -> int:
        """Inputs are (..., X): one feature axis (what `flax.nnx.RNN` asks)."""
        return 1

    def initialize_carry(self, input_shape: tuple, rngs=None, carry_init=None):
        """The zero carry for inputs of shape `input_shape` = (*batch, X) (nnx.RNN's
        interface; `rngs` and `carry_init` are accepted and unused: the carry is zeros).

        The zeros are weakly typed, so the scan gives the carry the dtype the step computes
        in, the core's rule `jnp.result_type(params, x)`: float64 inputs with float32
        parameters run in float64 under `jax_enable_x64`."""
        zeros = self.initial_state(tuple(input_shape[:-1]))
        return jax.tree.map(lambda a: jax.lax.full(a.shape, 0.0), zeros)

    def _store(self, params) -> None:
        for name, value in params._asdict().items():
            setattr(self, name, None if value is None else nnx.Param(jnp.asarray(value)))

    @property
    def params(self):
        """The core parameter tuple (the same arrays, no copy)."""
        fields = {}
        for name in self.params_type._fields:
            value = getattr(self, name)
            fields[name] = None if value is None else value[...]
        return self.params_type(**fields)


class LSTMCell(ParamTupleCell):
    """One LSTM layer's parameters; `cell(state, x)` is `core.cell_step` on (B, X).

    Args:
      in_features: X. hidden_size: H. spec: the `CellSpec` variant.
      proj_size: R for an LSTMP projection, or None. rngs: `nnx.Rngs` with a `params` stream.
    """

    params_type = LSTMParams

    def __init__(self, in_features: int, hidden_size: int, *, spec: CellSpec = CellSpec(),
                 proj_size: Optional[int] = None, dtype=jnp.float32, rngs: nnx.Rngs):
        self.spec = spec
        self._store(init_lstm(rngs.params(), in_features, hidden_size, spec,
                              proj_size=proj_size, dtype=dtype))

    @classmethod
    def from_params(cls, params: LSTMParams, spec: CellSpec = CellSpec()) -> "LSTMCell":
        """A cell holding `params` (the arrays themselves)."""
        proj = params.w_proj.shape[1] if params.w_proj is not None else None
        cell = cls(params.w_x.shape[0], hidden_size_of(params), spec=spec, proj_size=proj,
                   dtype=params.w_x.dtype, rngs=nnx.Rngs(0))
        cell._store(params)
        return cell

    def initial_state(self, batch_size: Optional[int | tuple] = None) -> LSTMState:
        """Zero `LSTMState` with leading shape `batch_size` (an int, a tuple, or None: ())."""
        batch = () if batch_size is None else tuple(np.atleast_1d(batch_size).tolist())
        return zero_state(self.params, batch)

    def __call__(self, state: LSTMState, x: jax.Array):
        """(state (B, R)/(B, H), x (B, X)) -> (new_state, h (B, R)): `core.cell_step`."""
        return cell_step(self.params, state, x, self.spec)


class FamilyCell(ParamTupleCell):
    """One layer of any registered cell family (`jaxlstm.core.family.FAMILIES`): the
    family's parameters as `nnx.Param`s; `cell(state, x)` is the family's step on (B, X).

    Args:
      family: a registered family's name ("gru", "mlstm", ...). in_features: X.
      hidden_size: H. spec: the family's spec (its default when None).
      dtype: the parameter dtype. rngs: `nnx.Rngs` with a `params` stream.
    """

    family_name: Optional[str] = None  # set by the subclasses that fix the family

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

    @classmethod
    def from_params(cls, params, spec=None) -> "FamilyCell":
        """A cell holding `params` (the arrays themselves); the family is read off their type."""
        family = family_of_params(params)
        spec = family.spec_type() if spec is None else spec
        sizes = (family.input_size(params), family.output_size(params, spec))
        dtype = jax.tree.leaves(params)[0].dtype
        if cls.family_name is None:
            cell = cls(family.name, *sizes, spec=spec, dtype=dtype, rngs=nnx.Rngs(0))
        else:
            cell = cls(*sizes, dtype=dtype, rngs=nnx.Rngs(0))
        cell._store(params)
        return cell

    def initial_state(self, batch_size: Optional[int | tuple] = None):
        """The family's zero state with leading shape `batch_size` (an int, a tuple, or None: ())."""
        batch = () if batch_size is None else tuple(np.atleast_1d(batch_size).tolist())
        return get_family(self.family).zero_state(self.params, self.spec, batch)

    def __call__(self, state, x: jax.Array):
        """(state, x (B, X)) -> (new_state, h (B, H)): the family's step function."""
        return get_family(self.family).step(self.params, state, x, self.spec)


class GRUCell(FamilyCell):
    """One GRU layer (`core.gru_step`); state h (B, H)."""

    family_name = "gru"

    def __init__(self, in_features: int, hidden_size: int, *, dtype=jnp.float32, rngs: nnx.Rngs):
        super().__init__("gru", in_features, hidden_size, dtype=dtype, rngs=rngs)


class RNNCell(FamilyCell):
    """One Elman RNN layer (`core.rnn_step`); state h (B, H)."""

    family_name = "rnn"

    def __init__(self, in_features: int, hidden_size: int, *, dtype=jnp.float32, rngs: nnx.Rngs):
        super().__init__("rnn", in_features, hidden_size, dtype=dtype, rngs=rngs)
