"""`fit`: train a config into a run folder; `load_run`: get a trained run back.

A config run is a `Task` (data, model, loss, evaluation; `jaxlstm.train.lab.tasks`) put onto
the generic loop of `jaxlstm.train.engine.run` through `TaskTrainer`. Its run folder holds, besides
what every run writes (metrics.jsonl, checkpoints/, learning_curves.png, summary.json):
  config.yaml   the fully resolved config (rerun it with `jaxlstm train RUN/config.yaml`)
  model.json    the task's name and the sizes its model takes from the data (vocabulary,
                features, classes), so `jaxlstm.train.lab.load_model(RUN)` rebuilds the model
                without loading the data

Step s uses the batch of step s of `Task.train_data` (rows drawn from
`np.random.default_rng([seed, s])`, or an epoch's permutation with `train.order: epochs`;
`jaxlstm.data.Batches`) and the dropout key
`fold_in(key(seed), s)`, so a run resumed from a checkpoint continues exactly as the
uninterrupted run would have.

Scaling (see `jaxlstm.train.engine.mesh`): with `train.mesh` the state lives on a device mesh
and batches are split over its `data` axis; `train.grad_accum_steps: k` runs each
step's batch as k micro-batches in one `lax.scan` and applies one update with their
mean gradient, so steps, schedules and resume mean the same for every k;
`train.distributed` initializes multi-host JAX; with more than one process and no
`train.mesh` the mesh is `data=-1` (data-parallel over every process's devices).

A stateful task (truncated BPTT, e.g. `stream_lm`) also defines
`initial_carry(batch_size)` and `train_chunk(step, batch_size)` (the batch of step s,
a function of s alone), and its `loss(model, batch, key, carry)` returns
`(loss, metrics, new_carry)`. The loop passes each step's final carry into the next
step and saves it in checkpoints, so a resumed run stays bit-identical.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Optional, Sequence

import jax
from flax import nnx

from jaxlstm.train.engine import mesh as meshlib
from jaxlstm.train.engine.callbacks import Callback
from jaxlstm.train.lab.config import Config, load_config
from jaxlstm.train.engine.config_checks import ConfigError
from jaxlstm.train.engine.memory_check import check_batch_fits
from jaxlstm.train.lab.load_model import restore_checkpoint
from jaxlstm.train.engine.distributed import initialize as initialize_distributed
from jaxlstm.train.lab.optim import make_optimizer
from jaxlstm.train.engine.run import RunExists, TrainingDiverged, run_training
from jaxlstm.train.engine.run_folder import check_run_folder
from jaxlstm.train.lab.tasks import get_task
from jaxlstm.train.engine.trainer import Trainer

__all__ = ["RunExists", "TaskTrainer", "TrainingDiverged", "fit", "load_run"]


class TaskTrainer(Trainer):
    """The `Trainer` of a config: its task's model, loss, batches and evaluation, the
    optimizer of `cfg.optim`, and the mesh of `cfg.train.mesh`. `task` and `cfg` are
    kept as attributes."""

    def __init__(self, cfg: Config):
        tc = cfg.train
        task = get_task(cfg.task)(cfg)
        model = task.make_model(nnx.Rngs(params=tc.seed))
        mesh = None
        if tc.mesh is not None or jax.process_count() > 1:
            mesh = meshlib.make_mesh(tc.mesh or "data=-1")
            meshlib.check_batch_size(mesh, tc.batch_size, tc.grad_accum_steps)
        stateful = hasattr(task, "initial_carry")
        if stateful:
            if tc.order != "replacement" or tc.bucket:
                raise ConfigError(f"config keys train.order/train.bucket: task {task.name} reads its "
                                  f"lanes in order (truncated BPTT), must be 'replacement'/false, got "
                                  f"{tc.order!r}/{tc.bucket}")
            data = lambda step: task.train_chunk(step, tc.batch_size)  # noqa: E731
        else:
            _check_batch_fits(cfg, task)
            data = task.train_data(tc.batch_size, tc.seed, tc.order, tc.bucket)
        super().__init__(model, task.loss, data, optimizer=make_optimizer(cfg.optim, tc.steps),
                         evaluate=task.evaluate, seed=tc.seed, grad_accum_steps=tc.grad_accum_steps,
                         mesh=mesh, shard_params=tc.shard_params,
                         initial_carry=task.initial_carry(tc.batch_size) if stateful else None)
        self.cfg, self.task = cfg, task


def _check_batch_fits(cfg: Config, task) -> None:
    """MemoryError naming train.batch_size, before the first batch is built, when one
    batch cannot fit in the machine's memory (`memory_check.check_batch_fits`)."""
    tc, m = cfg.train, cfg.model
    row = task.train_data(1, tc.seed, tc.order, tc.bucket)(0)
    directions = 2 if m.bidirectional else 1
    check_batch_fits(row, tc.batch_size, (m.hidden_size or 0) * m.num_layers * directions,
                     state_rows=tc.batch_size // (tc.grad_accum_steps * jax.process_count()))


class _TaskPlots(Callback):
    """The task's own figures, written at the end of the run (by process 0)."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir

    def on_train_end(self, trainer, summary) -> None:
        model = trainer.host_model()  # a collective in a multi-host run: every process calls it
        if jax.process_index() == 0:
            trainer.task.write_plots(model, self.run_dir)


RESUMABLE_CHANGES = ("steps", "progress", "mesh", "shard_params", "distributed", "writers")


def _check_same_experiment(saved: Config, cfg: Config) -> None:
    """A resumed run must keep everything but the step budget, the progress bar and
    where it runs (mesh, parameter sharding, multi-host)."""
    a, b = saved.to_dict(), cfg.to_dict()
    for d in (a, b):
        for key in RESUMABLE_CHANGES:
            d["train"].pop(key, None)
    differ = [f"{section}.{k}" for section in a if isinstance(a[section], dict)
              for k in a[section] if a[section][k] != b[section].get(k)]
    differ += [k for k in a if not isinstance(a[k], dict) and a[k] != b[k]]
    if differ:
        raise ValueError(f"--resume: the config differs from the run's config.yaml in {differ}; "
                         f"resume with the same config (only train.steps may change)")


def model_json(cfg: Config, task) -> str:
    """model.json of a config run: what `load_model` needs besides config.yaml."""
    return json.dumps({"task": cfg.task, "dims": task.model_dims()}, indent=2) + "\n"


def fit(cfg: Config, *, resume: bool = False, quiet: bool = False,
        callbacks: Sequence[Callback] = ()) -> dict:
    """Train `cfg` into `cfg.run_dir`; returns the summary (also written to summary.json).

    Args:
      resume: continue from the latest readable checkpoint of an existing run folder
        (a damaged checkpoint is set aside as `checkpoints/S.corrupt-N`, see
        `Checkpoints.set_aside`). Without it, an existing run folder is an error
        (nothing is overwritten).
      quiet: no progress bar.
      callbacks: `jaxlstm.train.Callback`s run at the loop's hooks.

    Raises:
      RunExists: the run folder exists and `resume` is False.
      RunLocked: another run is writing the run folder (the message names its pid and host).
      TrainingDiverged: the loss, the validation loss or the parameters became NaN/Inf
        (the message names the step and the last good checkpoint).
      RunInterrupted: SIGINT or SIGTERM, after saving a checkpoint of the last completed step.
    """
    if cfg.train.distributed:
        initialize_distributed()
    run_dir = cfg.run_dir
    if jax.process_count() == 1:
        check_run_folder(run_dir, resume)  # fail fast, before building; checked again under the lock
    if resume and (run_dir / "config.yaml").exists():
        _check_same_experiment(load_config(run_dir / "config.yaml"), cfg)
    trainer = TaskTrainer(cfg)  # before any file is written: a missing data file leaves no run folder
    task = trainer.task
    return run_training(
        trainer, run_dir, cfg.train, monitor=cfg.train.monitor or task.monitor,
        monitor_mode=task.monitor_mode, name=cfg.name, resume=resume, quiet=quiet,
        callbacks=[*callbacks, _TaskPlots(run_dir)], baseline=task.baseline(),
        files={"config.yaml": cfg.to_yaml(), "model.json": model_json(cfg, task)},
        title=f"{cfg.name} ({cfg.task})", writer_config=cfg.to_dict(), summary_extra={"task": cfg.task})


def load_run(run_dir, *, which: str = "best", notify: Optional[Callable[[str], None]] = None):
    """(config, trainer) of a finished or stopped config run, with its `which` ("best"
    or "latest") checkpoint restored; `trainer.step` is its step. This builds the task
    (its data too); `jaxlstm.train.lab.load_model` gets the model alone, without the data.

    When that checkpoint is missing or damaged the next older readable one is used and
    `notify` (default `warnings.warn`) gets one line saying which step replaces which.

    Raises:
      FileNotFoundError: `run_dir` has no config.yaml.
      CheckpointError: no checkpoint of the run can be read.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise FileNotFoundError(f"{run_dir} is not a run folder: no config.yaml in it")
    cfg = load_config(run_dir / "config.yaml")
    trainer = TaskTrainer(cfg)
    task = trainer.task
    step, trees = restore_checkpoint(run_dir, trainer.checkpoint_trees(), which=which,
                                     monitor=cfg.train.monitor or task.monitor,
                                     monitor_mode=task.monitor_mode, notify=notify,
                                     from_leaves=trainer.trees_from_leaves)
    trainer.step = step
    trainer.restore_trees(trees)
    return cfg, trainer
