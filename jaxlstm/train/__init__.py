"""Training: your own model (`fit_model`) or a config (`fit`), checkpoints, metrics, plots.

`jaxlstm.train.engine` trains any NNX model (`fit_model`); `jaxlstm.train.lab` runs
experiments from YAML configs and their tasks (`fit`). The modules directly under
`jaxlstm.train` (e.g. `jaxlstm.train.config`) are the deprecated paths of those.
"""

from jaxlstm.train.engine.average import Average
from jaxlstm.train.engine.callbacks import Callback
from jaxlstm.train.engine.checkpoint import CheckpointError, CheckpointMismatch
from jaxlstm.train.engine.config_checks import ConfigError
from jaxlstm.train.engine.interrupt import RunInterrupted
from jaxlstm.train.engine.run import RunExists, TrainingDiverged, fit_model
from jaxlstm.train.engine.runlock import RunLocked
from jaxlstm.train.engine.settings import TrainConfig
from jaxlstm.train.engine.trainer import Trainer
from jaxlstm.train.lab.config import Config, ModelConfig, OptimConfig, load_config
from jaxlstm.train.lab.config_run import TaskTrainer, fit, load_run
from jaxlstm.train.lab.load_model import load_model
from jaxlstm.train.lab.optim import make_optimizer, make_schedule
from jaxlstm.train.lab.tasks import TASKS, Task, get_task, register_task
from jaxlstm.train.moved import keep_attributes, moved_submodules

__all__ = [
    "Average", "Callback", "CheckpointError", "CheckpointMismatch", "Config", "ConfigError", "ModelConfig", "OptimConfig",
    "RunExists", "RunInterrupted", "RunLocked", "TASKS", "Task", "TaskTrainer", "TrainConfig",
    "Trainer", "TrainingDiverged", "fit", "fit_model", "get_task", "load_config", "load_model",
    "load_run", "make_optimizer", "make_schedule", "register_task",
]

__getattr__ = moved_submodules(__name__, (
    "average", "callbacks", "checkpoint", "config", "config_checks", "distributed", "feed",
    "generate", "inspect", "interrupt", "load_model", "loop", "mesh", "metrics", "optim", "plots",
    "progress", "provenance", "run", "run_folder", "runlock", "schema", "sweep", "tasks", "trainer",
    "writers"))
keep_attributes(__name__, ("load_model",))  # the function, not the old module of its name
