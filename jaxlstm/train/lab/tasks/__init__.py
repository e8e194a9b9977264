"""The task registry: `get_task(name)` returns the `Task` class of a config's `task:`."""

from jaxlstm.train.lab.tasks.adding import Adding
from jaxlstm.train.lab.tasks.base import Task, cross_entropy
from jaxlstm.train.lab.tasks.char_lm import CharLM
from jaxlstm.train.lab.tasks.stream_lm import StreamLM
from jaxlstm.train.lab.tasks.ctc import CTC
from jaxlstm.train.lab.tasks.tagging import Tagging
from jaxlstm.train.lab.tasks.digits import Digits
from jaxlstm.train.lab.tasks.forecast import Forecast
from jaxlstm.train.lab.tasks.sentiment import Imdb
from jaxlstm.train.lab.tasks.reber import ReberContinual
from jaxlstm.train.lab.tasks.temporal_order import TemporalOrder
from jaxlstm.train.lab.tasks.polyphonic import Polyphonic
from jaxlstm.train.lab.tasks.ts_classification import TsClassification

TASKS: dict[str, type] = {t.name: t for t in (CharLM, Adding, TemporalOrder, ReberContinual,
                                                   Imdb, Digits, Forecast, Tagging, CTC)}
TASKS[StreamLM.name] = StreamLM
TASKS[Polyphonic.name] = Polyphonic
TASKS[TsClassification.name] = TsClassification


def register_task(task: type) -> type:
    """Add a `Task` subclass to the registry (usable as a class decorator)."""
    TASKS[task.name] = task
    return task


def get_task(name: str) -> type:
    if name not in TASKS:
        raise KeyError(f"config key task: must be one of {sorted(TASKS)}, got {name!r}")
    return TASKS[name]


__all__ = ["TASKS", "Task", "cross_entropy", "get_task", "register_task"]
