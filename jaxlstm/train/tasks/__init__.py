"""Deprecated path of `jaxlstm.train.lab.tasks`: the same registry (`TASKS`, `get_task`,
`register_task`) and task classes."""

import warnings

from jaxlstm.train.lab.tasks import (CTC, TASKS, Adding, CharLM, Digits, Forecast, Imdb,  # noqa: F401
                                     Polyphonic, ReberContinual, StreamLM, Tagging, Task,
                                     TemporalOrder, TsClassification, cross_entropy, get_task,
                                     register_task)
from jaxlstm.train.moved import moved_submodules

warnings.warn("jaxlstm.train.tasks is deprecated: it moved to jaxlstm.train.lab.tasks; import it "
              "from there", DeprecationWarning, stacklevel=2)

__all__ = ["TASKS", "Task", "cross_entropy", "get_task", "register_task"]

__getattr__ = moved_submodules(__name__, (
    "adding", "base", "char_lm", "classification", "ctc", "digits", "forecast", "polyphonic",
    "reber", "sentiment", "stream_lm", "tagging", "temporal_order", "ts_classification"))
