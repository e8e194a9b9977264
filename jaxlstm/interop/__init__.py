"""Conversions to and from other libraries' LSTM parameters."""

from jaxlstm.interop.torch import from_torch_lstm, to_torch_state_dict, torch_lstm_layout

__all__ = ["from_torch_lstm", "to_torch_state_dict", "torch_lstm_layout"]
