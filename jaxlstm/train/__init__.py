"""Training: your own model (`fit_model`) or a config (`fit`), checkpoints, metrics, plots."""

from jaxlstm.train.average import Average
from jaxlstm.train.callbacks import Callback
from jaxlstm.train.checkpoint import CheckpointError, CheckpointMismatch
from jaxlstm.train.config import Config, ConfigError, ModelConfig, OptimConfig, TrainConfig, load_config
from jaxlstm.train.interrupt import RunInterrupted
from jaxlstm.train.load_model import load_model
from jaxlstm.train.loop import TaskTrainer, fit, load_run
from jaxlstm.train.optim import make_optimizer, make_schedule
from jaxlstm.train.run import RunExists, TrainingDiverged, fit_model
from jaxlstm.train.runlock import RunLocked
from jaxlstm.train.tasks import TASKS, Task, get_task, register_task
from jaxlstm.train.trainer import Trainer

__all__ = [
    "Average", "Callback", "CheckpointError", "CheckpointMismatch", "Config", "ConfigError", "ModelConfig", "OptimConfig",
    "RunExists", "RunInterrupted", "RunLocked", "TASKS", "Task", "TaskTrainer", "TrainConfig",
    "Trainer", "TrainingDiverged", "fit", "fit_model", "get_task", "load_config", "load_model",
    "load_run", "make_optimizer", "make_schedule", "register_task",
]
