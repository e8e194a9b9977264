"""Flax NNX modules on top of the core: cells, stacked layers, CRF, CTC and task models.

No gate math is written here: every module calls the core functions with the
parameters it stores (`cell.params` is the core's `LSTMParams`).
"""

from jaxlstm.nn.cell import FamilyCell, GRUCell, LSTMCell, ParamTupleCell, RNNCell
from jaxlstm.nn.crf import CRF, allowed_transitions, crf_log_likelihood, crf_log_partition, crf_viterbi
from jaxlstm.nn.ctc import ctc_greedy_decode, ctc_loss, edit_distance, label_error_rate
from jaxlstm.nn.heads import (
    LanguageModel, SequenceClassifier, SequenceLabeler, SequenceRegressor, last_valid, masked_mean,
)
from jaxlstm.nn.encoder import cell_modes, cell_spec_type, cells, make_encoder
from jaxlstm.nn.recurrent import GRU, LSTM, RNN, FamilyRNN, Recurrent
from jaxlstm.nn.tagger import BiLSTMCRF

__all__ = [
    "BiLSTMCRF", "CRF", "FamilyCell", "FamilyRNN", "GRU", "GRUCell", "LSTM", "LSTMCell", "LanguageModel", "ParamTupleCell",
    "RNN", "RNNCell", "Recurrent", "SequenceClassifier", "SequenceLabeler", "SequenceRegressor",
    "allowed_transitions", "crf_log_likelihood", "crf_log_partition", "crf_viterbi",
    "ctc_greedy_decode", "ctc_loss", "edit_distance", "label_error_rate", "last_valid",
    "CELLS", "cell_modes", "cell_spec_type", "cells", "make_encoder", "masked_mean",
]


def __getattr__(name):
    if name == "CELLS":  # read at access time: a family registered later is a cell too
        return cells()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
