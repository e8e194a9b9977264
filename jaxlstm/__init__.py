"""jaxlstm: a functional LSTM library for JAX.

The flat public API re-exports the core (`jaxlstm.core`); the Flax NNX modules
live in `jaxlstm.nn`, training in `jaxlstm.train`, data in `jaxlstm.data`.
"""

from jaxlstm.core import *  # noqa: F401,F403
from jaxlstm.core import __all__

from jaxlstm.version import __version__  # noqa: E402,F401
