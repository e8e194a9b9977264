"""The pure-function core: gates, cell steps, scan over time, init, counts.

No Flax, no Optax: parameters and states are plain pytrees, so everything
here composes with `jit`, `vmap`, `grad` and `scan` in any JAX code.
"""

from jaxlstm.core.batch import lstm_batch, vmap_layer
from jaxlstm.core.cell import GateTrace, cell_step
from jaxlstm.core.backends.onednn import kernel_status
from jaxlstm.core.dispatch import BACKENDS, Choice, explain
from jaxlstm.core.family import FAMILIES, CellFamily, family_of, get_family, register_family
from jaxlstm.core.gates import (
    block_preactivation,
    candidate,
    forget_gate,
    input_gate,
    output_gate,
    preactivations,
)
from jaxlstm.core.gru import GRUParams, gru, gru_step, init_gru
from jaxlstm.core.params import (
    LSTMParams,
    LSTMState,
    hidden_size_of,
    init_lstm,
    param_count,
    param_shapes,
    zero_state,
)
from jaxlstm.core.rnn import RNNParams, init_rnn, rnn, rnn_step
from jaxlstm.core.lstm import lstm
from jaxlstm.core.scan import scan_cell, valid_prefix_reversal
from jaxlstm.core.mingru import (MinGRUParams, MinGRUSpec, init_mingru, mingru, mingru_step,
                                 mingru_param_count)
from jaxlstm.core.minlstm import (MinLSTMParams, MinLSTMSpec, init_minlstm, minlstm,
                                  minlstm_param_count, minlstm_step)
from jaxlstm.core.mlstm import (MLSTMParams, MLSTMSpec, MLSTMState, init_mlstm, mlstm,
                                mlstm_param_count, mlstm_step)
from jaxlstm.core.slstm import (SLSTMParams, SLSTMSpec, SLSTMState, init_slstm, slstm,
                                slstm_param_count, slstm_step)
from jaxlstm.core.spec import ACTIVATIONS, VARIANTS, CellSpec
from jaxlstm.core.validation import check_finite
from jaxlstm.core.stack import bidirectional, init_lstm_stack, lstm_stack, stack

__all__ = [
    "ACTIVATIONS", "BACKENDS", "CellFamily", "CellSpec", "Choice", "FAMILIES", "VARIANTS", "GateTrace", "GRUParams", "LSTMParams", "LSTMState",
    "RNNParams", "bidirectional", "block_preactivation", "check_finite", "candidate", "cell_step", "explain", "family_of",
    "forget_gate", "get_family", "gru", "gru_step", "hidden_size_of", "init_gru", "init_lstm",
    "init_lstm_stack", "init_rnn", "input_gate", "kernel_status", "lstm", "lstm_batch", "lstm_stack", "output_gate",
    "param_count", "param_shapes", "preactivations", "register_family", "rnn", "rnn_step", "scan_cell", "stack",
    "valid_prefix_reversal", "vmap_layer", "zero_state",
    # the modern family
    "MLSTMParams", "MLSTMSpec", "MLSTMState", "MinGRUParams", "MinGRUSpec", "MinLSTMParams",
    "MinLSTMSpec", "SLSTMParams", "SLSTMSpec", "SLSTMState", "init_mingru", "init_minlstm",
    "init_mlstm", "init_slstm", "mingru", "mingru_step", "minlstm", "minlstm_step", "mlstm",
    "mlstm_step", "slstm", "slstm_step", "mingru_param_count", "minlstm_param_count",
    "mlstm_param_count", "slstm_param_count",
]
