"""`make_encoder`: the recurrent stack a config's `model.cell` names, for the task models.

Every registered cell family (`jaxlstm.core.family.FAMILIES`) is a cell, with its spec's
fields as its options; "xlstm" (the mLSTM/sLSTM block stack) is one more, with `XLSTMSpec`.
A family registered later (from any module) is a cell as soon as it is registered.
"""

from __future__ import annotations

from typing import Optional

from flax import nnx

from jaxlstm.core.family import FAMILIES, get_family
from jaxlstm.nn.recurrent import LSTM, FamilyRNN, Recurrent, family_modes
from jaxlstm.nn.xlstm_blocks import XLSTM, XLSTMSpec


def cells() -> tuple[str, ...]:
    """The names `make_encoder` and a config's `model.cell` take: the classic cells, every
    other registered family in the order registered, then "xlstm"."""
    classic = tuple(name for name in ("lstm", "gru", "rnn") if name in FAMILIES)
    return classic + tuple(name for name in FAMILIES if name not in classic) + ("xlstm",)


def __getattr__(name):
    if name == "CELLS":  # read at access time, so families registered later are in it
        return cells()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _check_cell(cell: str) -> None:
    if cell not in cells():
        raise ValueError(f"cell must be one of {list(cells())}, got {cell!r}")


def cell_spec_type(cell: str) -> type:
    """The spec dataclass holding `cell`'s options (a family's spec type; `XLSTMSpec`)."""
    _check_cell(cell)
    return XLSTMSpec if cell == "xlstm" else get_family(cell).spec_type


def cell_modes(cell: str) -> tuple[str, ...]:
    """The `mode` values `make_encoder(cell, ...)` takes, "auto" first. The LSTM's stack
    (`nn.LSTM`, the fused kernel) has only "auto"; "xlstm" takes the mLSTM's."""
    _check_cell(cell)
    if cell == "lstm":
        return ("auto",)
    return family_modes(get_family("mlstm" if cell == "xlstm" else cell))


def make_encoder(cell: str, in_features: int, hidden_size: int, *, spec=None,
                 mode: str = "auto", proj_size: Optional[int] = None, rngs: nnx.Rngs,
                 **kwargs) -> Recurrent:
    """The recurrent stack named by `cell` (one of `cells()`).

    Args:
      cell: "lstm" (`nn.LSTM`), "xlstm" (`nn.xlstm_blocks.XLSTM`, `num_layers` blocks of
        width `hidden_size`) or any other registered family (`FamilyRNN`).
      spec: the cell's options, an instance of `cell_spec_type(cell)` (its default when None).
      mode: one of `cell_modes(cell)`. proj_size: the LSTM's projection (LSTM only).
      kwargs: num_layers, bidirectional, dropout, unroll, remat, compute_dtype, dtype (as
        `nn.LSTM`; "xlstm" takes num_layers and dropout only).
    """
    spec_type = cell_spec_type(cell)
    spec = spec_type() if spec is None else spec
    if not isinstance(spec, spec_type):
        raise TypeError(f"spec must be a {spec_type.__name__} for cell={cell!r}, "
                        f"got {type(spec).__name__}")
    if mode not in cell_modes(cell):
        raise ValueError(f"mode must be one of {list(cell_modes(cell))} for cell={cell!r}, "
                         f"got {mode!r}")
    if proj_size is not None and cell != "lstm":
        raise ValueError(f"proj_size is an LSTM option; cell={cell!r} has none")
    if cell == "lstm":
        return LSTM(in_features, hidden_size, spec=spec, proj_size=proj_size, rngs=rngs, **kwargs)
    if cell == "xlstm":
        return _make_xlstm(in_features, hidden_size, spec, mode, rngs, **kwargs)
    return FamilyRNN(cell, in_features, hidden_size, spec=spec, mode=mode, rngs=rngs, **kwargs)


def _make_xlstm(in_features, hidden_size, spec: XLSTMSpec, mode, rngs, **kwargs):
    for key, default in (("bidirectional", False), ("unroll", 1), ("remat", False),
                         ("compute_dtype", None)):
        if kwargs.get(key, default) != default:
            raise ValueError(f"{key} is not an option of cell='xlstm' (causal residual blocks), "
                             f"got {kwargs[key]!r}")
    return XLSTM(in_features, hidden_size, num_blocks=kwargs.get("num_layers", 1),
                 ratio=spec.ratio, num_heads=spec.num_heads, dropout=kwargs.get("dropout", 0.0),
                 mode=mode, rngs=rngs)
