"""The task registry: `get_task(name)` returns the `Task` class of a config's `task:`."""

from jaxlstm.train.tasks.adding import Adding
from jaxlstm.train.tasks.base import Task, cross_entropy
from jaxlstm.train.tasks.char_lm import CharLM

TASKS: dict[str, type] = {t.name: t for t in (CharLM, Adding)}


def register_task(task: type) -> type:
    """Add a `Task` subclass to the registry (usable as a class decorator)."""
    TASKS[task.name] = task
    return task


def get_task(name: str) -> type:
    if name not in TASKS:
        raise KeyError(f"config key task: must be one of {sorted(TASKS)}, got {name!r}")
    return TASKS[name]


__all__ = ["TASKS", "Task", "cross_entropy", "get_task", "register_task"]
