"""Training: config schema, tasks, Optax optimizers, the loop, checkpoints, metrics, plots."""

from jaxlstm.train.checkpoint import CheckpointError
from jaxlstm.train.config import Config, ConfigError, ModelConfig, OptimConfig, TrainConfig, load_config
from jaxlstm.train.interrupt import RunInterrupted
from jaxlstm.train.loop import RunExists, Trainer, TrainingDiverged, fit, load_run
from jaxlstm.train.optim import make_optimizer, make_schedule
from jaxlstm.train.runlock import RunLocked
from jaxlstm.train.tasks import TASKS, Task, get_task, register_task

__all__ = [
    "CheckpointError", "Config", "ConfigError", "ModelConfig", "OptimConfig", "RunExists",
    "RunInterrupted", "RunLocked", "TASKS", "Task",
    "TrainConfig", "Trainer", "TrainingDiverged", "fit", "get_task", "load_config", "load_run",
    "make_optimizer", "make_schedule", "register_task",
]
