"""The pure-function core: gates, cell steps, scan over time, init, counts.

No Flax, no Optax: parameters and states are plain pytrees, so everything
here composes with `jit`, `vmap`, `grad` and `scan` in any JAX code.
"""

from jaxlstm.core.batch import lstm_batch, vmap_layer
from jaxlstm.core.cell import GateTrace, cell_step
from jaxlstm.core.backends.onednn import kernel_status
from jaxlstm.core.dispatch import BACKENDS, Choice
from jaxlstm.core.explain import explain
from jaxlstm.core.family import (FAMILIES, CellFamily, family_of, family_of_params, get_family,
                                 register_family)
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
from jaxlstm.core.serialization import register_for_export
from jaxlstm.core.parallel import PARALLEL_MODES, SolveInfo, parallel_scan_cell
from jaxlstm.core.paragru import (ParaGRUParams, ParaGRUSpec, init_paragru, paragru,
                                  paragru_jacobian, paragru_param_count, paragru_step)
from jaxlstm.core.paralstm import (ParaLSTMParams, ParaLSTMSpec, ParaLSTMState, init_paralstm,
                                   paralstm, paralstm_jacobian, paralstm_param_count,
                                   paralstm_step)
from jaxlstm.core.spec import ACTIVATIONS, VARIANTS, CellSpec
from jaxlstm.core.validation import check_finite
from jaxlstm.core.stack import bidirectional, init_lstm_stack, lstm_stack, stack

__all__ = [
    "ACTIVATIONS", "BACKENDS", "bidirectional", "block_preactivation", "candidate",
    "cell_step", "CellFamily", "CellSpec", "check_finite", "Choice", "explain", "FAMILIES", "family_of_params",
    "family_of", "forget_gate", "GateTrace", "get_family", "gru", "gru_step", "GRUParams",
    "hidden_size_of", "init_gru", "init_lstm", "init_lstm_stack", "init_mingru",
    "init_minlstm", "init_mlstm", "init_rnn", "init_slstm", "input_gate", "kernel_status",
    "lstm", "lstm_batch", "lstm_stack", "LSTMParams", "LSTMState", "mingru",
    "mingru_param_count", "mingru_step", "MinGRUParams", "MinGRUSpec", "minlstm",
    "minlstm_param_count", "minlstm_step", "MinLSTMParams", "MinLSTMSpec", "mlstm",
    "mlstm_param_count", "mlstm_step", "MLSTMParams", "MLSTMSpec", "MLSTMState", "output_gate",
    "param_count", "param_shapes", "preactivations", "register_family", "rnn", "rnn_step",
    "register_for_export", "RNNParams", "scan_cell", "slstm", "slstm_param_count", "slstm_step", "SLSTMParams",
    "SLSTMSpec", "SLSTMState", "stack", "valid_prefix_reversal", "VARIANTS", "vmap_layer",
    "zero_state", "PARALLEL_MODES", "SolveInfo", "parallel_scan_cell", "ParaGRUParams",
    "ParaGRUSpec", "init_paragru", "paragru", "paragru_jacobian", "paragru_param_count",
    "paragru_step", "ParaLSTMParams", "ParaLSTMSpec", "ParaLSTMState", "init_paralstm",
    "paralstm", "paralstm_jacobian", "paralstm_param_count", "paralstm_step",
]
