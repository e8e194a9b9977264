"""Compiled kernels: onednn_lstm.cc (oneDNN LSTM behind XLA FFI), loaded by jaxlstm.core.backends.onednn."""
