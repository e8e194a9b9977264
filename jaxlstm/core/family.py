"""The cell interface: what one cell family provides, and the table of families.

A *cell family* (the LSTM with its variants, the Elman RNN, the GRU, sLSTM, mLSTM,
minLSTM, minGRU) is one module that defines

- a spec: a frozen dataclass registered with `register_spec` (hashable, so it can be a
  static argument of `jit`, and a pytree without leaves, so plain `jax.jit(layer)(params,
  xs, spec=spec)` works);
- a parameter pytree and `init(key, input_size, hidden_size, spec, *, dtype) -> params`;
- `step(params, state, x, spec) -> (state, out)`: one time step, x (..., X), the same
  argument order as a `lax.scan` body;
- `zero_state(params, spec, batch_shape=()) -> state`;
- `param_count(spec, input_size, hidden_size) -> int`;
- `layer(params, xs (T, X), state0=None, *, spec, lengths, reverse, ...) -> (final, hs)`:
  the family's public function over one sequence;
- optionally `jacobian(params, state, x, spec) -> (k, k, m)`: the step's exact
  ∂state_t/∂state_{t-1} in the block layout of `jaxlstm.core.parallel.jacobian` (for the
  parallel Newton solves; without it they take the dense `jax.jacfwd` of the step);

and registers a `CellFamily` naming them in `FAMILIES`. The config schema, the NNX
modules and the interop read this table instead of repeating each family's fields.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

import jax


@dataclasses.dataclass(frozen=True)
class CellFamily:
    """One cell family's functions (see the module docstring for their signatures).

    Attributes:
      name: the family's name in configs and `FAMILIES` ("lstm", "gru", "slstm", ...).
      spec_type: its spec dataclass; `spec_type()` is the default cell.
      init, step, zero_state, param_count, layer: as in the module docstring.
      output_size: `output_size(params, spec) -> int`, the feature size of `hs`.
      params_type: the parameter pytree's type (e.g. `GRUParams`); None: not checked here.
      param_shapes: `param_shapes(params, spec) -> {field: shape}`, the shape of every
        parameter leaf that `spec` and the sizes read off `params` imply (ValueError when
        no size fits); `check_layer_call` compares the leaves with it.
      jacobian: the structured step Jacobian, or None (see the module docstring).
      modes: the values the layer's `mode` argument takes, its default first; () when the
        layer has no `mode`.
      default_mode: `default_mode(T) -> str`, the form `mode="auto"` runs for T steps.
      input_size: `input_size(params) -> int`, the X its layer takes (default: w_x's rows).
    """

    name: str
    spec_type: type
    init: Callable[..., Any]
    step: Callable[..., Any]
    zero_state: Callable[..., Any]
    param_count: Callable[..., int]
    layer: Callable[..., Any]
    output_size: Callable[..., int]
    params_type: Optional[type] = None
    param_shapes: Optional[Callable[..., dict]] = None
    jacobian: Optional[Callable[..., Any]] = None
    modes: tuple = ()
    default_mode: Optional[Callable[[int], str]] = None
    input_size: Callable[[Any], int] = lambda params: params.w_x.shape[0]

    def form(self, mode: Optional[str], num_steps: int) -> str:
        """The form a layer call with `mode` (None: the default) runs over T steps: "auto"
        resolved by `default_mode`. A mode the family does not take is a ValueError."""
        mode = self.modes[0] if mode is None and self.modes else mode
        if mode not in self.modes:
            raise ValueError(f"mode must be one of {list(self.modes)} for {self.name}, "
                             f"got {mode!r}")
        return self.default_mode(num_steps) if mode == "auto" else mode


FAMILIES: dict[str, CellFamily] = {}


def register_family(family: CellFamily) -> CellFamily:
    """Add `family` to `FAMILIES` under its name (a second family of that name is an error)."""
    if family.name in FAMILIES and FAMILIES[family.name] is not family:
        raise ValueError(f"a cell family named {family.name!r} is already registered")
    FAMILIES[family.name] = family
    return family


def get_family(name: str) -> CellFamily:
    """The registered family called `name`; ValueError naming the known ones otherwise."""
    if name not in FAMILIES:
        raise ValueError(f"cell must be one of {sorted(FAMILIES)}, got {name!r}")
    return FAMILIES[name]


def family_of(spec) -> CellFamily:
    """The registered family whose spec type `spec` is an instance of."""
    for family in FAMILIES.values():
        if isinstance(spec, family.spec_type):
            return family
    raise TypeError(f"spec must be the spec of a registered cell family "
                    f"({sorted(FAMILIES)}), got {type(spec).__name__}")


def family_of_params(params) -> CellFamily:
    """The registered family whose parameter type `params` is an instance of."""
    for family in FAMILIES.values():
        if family.params_type is not None and isinstance(params, family.params_type):
            return family
    known = sorted(f.params_type.__name__ for f in FAMILIES.values() if f.params_type)
    raise TypeError(f"params must be the parameters of a registered cell family "
                    f"({', '.join(known)}), got {type(params).__name__}")


def register_spec(cls: type) -> type:
    """Class decorator: `cls` (a frozen dataclass) becomes a pytree with no leaves whose
    value is carried as static data, so a spec passes through `jax.jit` (and `vmap`,
    `grad`) as an ordinary argument and recompiles only when it changes."""
    jax.tree_util.register_static(cls)
    return cls
