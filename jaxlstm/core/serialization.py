"""The core's pytree types, registered for `jax.export` serialization.

`Exported.serialize()` records the input and output pytree structure by name, so every
NamedTuple that appears in a call's arguments or results (parameters, states, gate
traces) is registered under a stable name `jaxlstm.<Type>`; deserializing needs the
same registration, i.e. `import jaxlstm` in the process that loads the module.
"""

from __future__ import annotations

import jax

from jaxlstm.core.cell import GateTrace
from jaxlstm.core.gru import GRUParams
from jaxlstm.core.mingru import MinGRUParams
from jaxlstm.core.minlstm import MinLSTMParams
from jaxlstm.core.mlstm import MLSTMParams, MLSTMState
from jaxlstm.core.params import LSTMParams, LSTMState
from jaxlstm.core.rnn import RNNParams
from jaxlstm.core.slstm import SLSTMParams, SLSTMState

SERIALIZED_TYPES = (GateTrace, GRUParams, LSTMParams, LSTMState, MinGRUParams, MinLSTMParams,
                    MLSTMParams, MLSTMState, RNNParams, SLSTMParams, SLSTMState)


def register_for_export(cls: type) -> type:
    """Register the NamedTuple `cls` for `jax.export` serialization as `jaxlstm.<name>`
    (once; a family defined outside jaxlstm may call it for its own types)."""
    name = f"jaxlstm.{cls.__name__}"
    try:
        jax.export.register_namedtuple_serialization(cls, serialized_name=name)
    except ValueError as e:  # registered already (a module reloaded)
        if "already registered" not in str(e):
            raise
    return cls


for _cls in SERIALIZED_TYPES:
    register_for_export(_cls)
