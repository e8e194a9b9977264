"""`make_encoder`: the recurrent stack a config's `model.cell` names, for the task models."""

from __future__ import annotations

from typing import Optional

from flax import nnx

from jaxlstm.core import CellSpec
from jaxlstm.nn.modern import MODERN_CELLS, ModernRNN, modern_spec
from jaxlstm.nn.recurrent import GRU, LSTM, RNN, Recurrent
from jaxlstm.nn.xlstm_blocks import XLSTM

CELLS = ("lstm", "gru", "rnn") + MODERN_CELLS + ("xlstm",)


def make_encoder(cell: str, in_features: int, hidden_size: int, *, spec: CellSpec = CellSpec(),
                 proj_size: Optional[int] = None, rngs: nnx.Rngs, **kwargs) -> Recurrent:
    """The recurrent stack named by `cell` in `CELLS`.

    The modern cells (`jaxlstm.nn.modern`) also take `num_heads` and `mode`; "xlstm"
    (`jaxlstm.nn.xlstm_blocks.XLSTM`) takes `num_layers` blocks of width `hidden_size` in the
    mLSTM:sLSTM `ratio`, `num_heads`, `mode` and `dropout`.
    """
    if cell in MODERN_CELLS + ("xlstm",):
        return _make_modern(cell, in_features, hidden_size, proj_size=proj_size, rngs=rngs,
                            **kwargs)
    if cell == "lstm":
        return LSTM(in_features, hidden_size, spec=spec, proj_size=proj_size, rngs=rngs, **kwargs)
    if proj_size is not None:
        raise ValueError(f"proj_size is an LSTM option; cell={cell!r} has none")
    if cell == "gru":
        return GRU(in_features, hidden_size, rngs=rngs, **kwargs)
    if cell == "rnn":
        return RNN(in_features, hidden_size, rngs=rngs, **kwargs)
    raise ValueError(f"cell must be one of {list(CELLS)}, got {cell!r}")


def _make_modern(cell, in_features, hidden_size, *, proj_size, rngs, num_heads: int = 1,
                 mode: str = "auto", ratio: str = "1:1", **kwargs):
    if proj_size is not None:
        raise ValueError(f"proj_size is an LSTM option; cell={cell!r} has none")
    if cell != "xlstm":
        return ModernRNN(cell, in_features, hidden_size, spec=modern_spec(cell, num_heads),
                         mode=mode, rngs=rngs, **kwargs)
    for key, default in (("bidirectional", False), ("unroll", 1), ("remat", False),
                         ("compute_dtype", None)):
        if kwargs.get(key, default) != default:
            raise ValueError(f"{key} is not an option of cell='xlstm' (causal residual blocks), "
                             f"got {kwargs[key]!r}")
    return XLSTM(in_features, hidden_size, num_blocks=kwargs.get("num_layers", 1), ratio=ratio,
                 num_heads=num_heads, dropout=kwargs.get("dropout", 0.0), mode=mode, rngs=rngs)
