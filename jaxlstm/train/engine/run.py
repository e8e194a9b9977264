"""`run_training`: train a `Trainer` into a run folder (its steps: `step_loop.StepLoop`);
`fit_model`: the same for your own model.

A run folder holds
  metrics.jsonl       one line per logged train step and per evaluation
  checkpoints/        Orbax checkpoints of named trees (the last `keep_checkpoints` and
                      the best; see `jaxlstm.train.engine.checkpoint`)
  learning_curves.png
  summary.json        final and best metrics, baselines, parameter count, wall time,
                      versions and provenance
and, for a config run, config.yaml and model.json (see `jaxlstm.train.lab.config_run`).

Faults (see docs/reliability.md): the run folder is locked (`runlock.RunLock`) while a
run writes it; an update that makes the parameters or optimizer state non-finite, and a
non-finite training or validation loss, stop the run before anything of that step is
saved (`TrainingDiverged`); SIGINT and SIGTERM stop it after the current step with a
checkpoint (`RunInterrupted`); a damaged checkpoint met on resume is set aside and the
run continues from the one before it. In a multi-host run only process 0 writes files
other than checkpoints (which Orbax writes collectively).
"""

from __future__ import annotations

import dataclasses
import platform
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

import jax
import numpy as np
import optax
from flax import nnx

from jaxlstm.train.engine import mesh as meshlib
from jaxlstm.train.engine.callbacks import Callback
from jaxlstm.train.engine.distributed import initialize as initialize_distributed, is_main_process
from jaxlstm.train.engine.metrics import read_metrics, write_json_atomic
from jaxlstm.train.engine.plots import plot_learning_curves
from jaxlstm.train.engine.provenance import provenance
from jaxlstm.train.engine.run_folder import RunExists, RunFolder, RunFolderError, check_run_folder
from jaxlstm.train.engine.runlock import RunLocked
from jaxlstm.train.engine.settings import TrainConfig
from jaxlstm.train.engine.step_loop import StepLoop, TrainingDiverged
from jaxlstm.train.engine.trainer import Trainer


REFUSALS = (RunExists, RunLocked, RunFolderError)


def _agree_on_refusal(error: Optional[Exception], run_dir: Path) -> Optional[Exception]:
    """Process 0 decides whether the run may use `run_dir`; in a multi-host run every
    other process gets an error of the same class when it refused."""
    if jax.process_count() == 1:
        return error
    from jax.experimental import multihost_utils

    code = 0 if error is None else 1 + REFUSALS.index(type(error))
    code = int(multihost_utils.broadcast_one_to_all(np.int32(code)))
    if error is None and code:
        error = REFUSALS[code - 1](f"process 0 refused run folder {run_dir} (its error says why)")
    return error


def _versions() -> dict:
    import flax

    from jaxlstm.core.backends.onednn import kernel_status

    return {"python": sys.version.split()[0], "jax": jax.__version__, "flax": flax.__version__,
            "optax": optax.__version__, "platform": platform.platform(),
            "devices": [str(d) for d in jax.devices()], "lstm_cpu_path": kernel_status()}


def run_training(trainer: Trainer, run_dir, settings: TrainConfig, *, monitor: str = "valid/loss",
                 monitor_mode: str = "min", name: str = "run", resume: bool = False,
                 quiet: bool = False, callbacks: Sequence[Callback] = (),
                 baseline: Optional[dict] = None, files: Optional[dict[str, str]] = None,
                 title: Optional[str] = None, writer_config: Optional[dict] = None,
                 summary_extra: Optional[dict] = None) -> dict:
    """Train `trainer` for `settings.steps` steps into `run_dir`; returns the summary.

    `settings` gives the loop's schedule (eval_every, log_every, checkpoint_every,
    keep_checkpoints, early_stopping_patience, progress, writers); `files` are text files
    written into the run folder first (e.g. config.yaml); `title` heads the learning
    curves (default `name`); `writer_config` is the config the W&B writer records;
    `summary_extra` is merged into the summary.

    Raises:
      RunExists: the run folder exists and `resume` is False.
      RunLocked: another run is writing the run folder (the message names its pid and host).
      TrainingDiverged: the loss, the validation loss or the parameters became NaN/Inf.
      RunInterrupted: SIGINT or SIGTERM, after saving a checkpoint of the last completed step.
    """
    run_dir = Path(run_dir)
    main = is_main_process()
    folder, refusal = RunFolder(run_dir, resume), None
    if main:
        try:
            folder.open()
        except REFUSALS as e:
            refusal = e
    refusal = _agree_on_refusal(refusal, run_dir)
    if refusal is not None:
        raise refusal
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        if main:
            for file_name, text in (files or {}).items():
                (run_dir / file_name).write_text(text, encoding="utf-8")
        return _train(trainer, run_dir, settings, monitor=monitor, monitor_mode=monitor_mode,
                      name=name, resume=resume, quiet=quiet, callbacks=list(callbacks),
                      baseline=baseline or {}, title=title or name, writer_config=writer_config,
                      summary_extra=summary_extra or {}, main=main, folder=folder)
    except (TrainingDiverged, KeyboardInterrupt):
        raise  # the folder explains what happened (metrics, the last good checkpoint)
    except BaseException:
        if main:  # a failed start: leave no folder that blocks the corrected command
            folder.discard_if_unused()
        raise
    finally:
        folder.close()


def _train(trainer: Trainer, run_dir: Path, tc: TrainConfig, *, monitor, monitor_mode, name, resume,
           quiet, callbacks, baseline, title, writer_config, summary_extra, main, folder) -> dict:
    """The body of `run_training`, run while holding the run folder's lock: the steps, then
    the summary, the learning curves and summary.json."""
    loop = StepLoop(trainer, run_dir, tc, monitor=monitor, monitor_mode=monitor_mode, name=name,
                    resume=resume, quiet=quiet, callbacks=callbacks, writer_config=writer_config,
                    main=main, folder=folder)
    step = loop.run()
    # a resume with no step left, or data that ended: report the model as it is
    final = loop.last_eval or trainer.evaluate(loop.eval_step)
    meta = loop.meta
    meta["wall_time"] = loop.wall_time()

    summary = {
        "name": name, **summary_extra, "steps": step,
        "stopped_early": loop.stopped_early, "data_ended": loop.data_ended, "final": final, "monitor": monitor, "best": meta["best"],
        "best_step": meta["best_step"], "baseline": baseline, "param_count": trainer.param_count(),
        "wall_time_s": round(meta["wall_time"], 2), "versions": _versions(), "provenance": provenance(),
    }
    for cb in callbacks:
        cb.on_train_end(trainer, summary)
    if main:
        plot_learning_curves(read_metrics(run_dir / "metrics.jsonl"), run_dir / "learning_curves.png",
                             title=title, baseline=baseline)
        write_json_atomic(run_dir / "summary.json", summary)
    return summary


def fit_model(model: nnx.Module, loss: Callable, train_data: Any, *,
              optimizer: optax.GradientTransformation, run_dir, steps: int,
              eval_data: Optional[Iterable] = None, evaluate: Optional[Callable] = None,
              monitor: str = "valid/loss", monitor_mode: str = "min", resume: bool = False,
              callbacks: Sequence[Callback] = (), quiet: bool = False, name: Optional[str] = None,
              baseline: Optional[dict] = None, mesh: Any = None, **settings) -> dict:
    """Train your own NNX `model` on `train_data` with `loss`; returns the run's summary.

    Args:
      model: any `flax.nnx.Module`; trained in place (its parameters and state are the
        trained ones when `fit_model` returns, even after an error or interruption), and
        left in `train()` mode.
      loss: `loss(model, batch)` or `loss(model, batch, key)` returning `loss` or
        `(loss, metrics)`; scalars or `Average(total, count)` (`jaxlstm.train.Average`).
        `key` is the step's dropout key (None in evaluation); `model.eval()` mode is
        used in evaluation, `model.train()` in training.
      train_data: a callable `step -> batch`, an iterable of batches, or a Grain
        iterator (see `jaxlstm.train.engine.feed`); a batch is any pytree of arrays with a
        leading batch axis.
      optimizer: an Optax transformation, e.g. `optax.adamw(1e-3)`.
      run_dir: the run folder (a new one, or an existing one with `resume=True`).
      steps: optimizer steps in all.
      eval_data: held-out batches (a list, or anything iterable more than once),
        evaluated with `loss`; or `evaluate(model, eval_step) -> {name: float}`.
      monitor / monitor_mode: the evaluation metric ("valid/<name>") that picks the
        best checkpoint and drives early stopping, and "min" or "max".
      resume: continue the run in `run_dir` from its latest readable checkpoint.
      callbacks: `jaxlstm.train.Callback` instances.
      mesh: a device mesh spec ("data=8") or a `jax.sharding.Mesh`; batches are split
        over its "data" axis.
      **settings: the loop's other options, as in a config's `train:` section: seed,
        eval_every, log_every, checkpoint_every, keep_checkpoints,
        early_stopping_patience, grad_accum_steps, shard_params, writers, progress,
        distributed.

    Raises:
      ConfigError: an invalid setting (named). RunExists, RunLocked, TrainingDiverged,
      RunInterrupted: as `run_training`.
    """
    for i, cb in enumerate(callbacks):
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks[{i}]: expected a jaxlstm.train.Callback instance (subclass "
                            f"it and override its hooks), got {type(cb).__name__}")
    if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        raise TypeError(f"optimizer: expected an optax.GradientTransformation (e.g. "
                        f"optax.adam(1e-3)), got {type(optimizer).__name__}")
    unknown = sorted(set(settings) - set(TrainConfig.__dataclass_fields__))
    if unknown:
        raise TypeError(f"fit_model: unknown setting(s) {unknown}; the settings are the keys of a "
                        f"config's train: section ({sorted(TrainConfig.__dataclass_fields__)})")
    if settings.get("early_stopping_patience") and eval_data is None and evaluate is None:
        raise ValueError("early_stopping_patience: needs evaluation (eval_data or evaluate), got neither")
    mesh_text = mesh if isinstance(mesh, str) else None
    tc = TrainConfig(steps=steps, monitor=monitor, mesh=mesh_text, **settings)
    if tc.distributed:
        initialize_distributed()
    run_dir = Path(run_dir)
    if jax.process_count() == 1:
        check_run_folder(run_dir, resume)  # before building; checked again under the lock
    if mesh_text is not None or (mesh is None and jax.process_count() > 1):
        mesh = meshlib.make_mesh(mesh_text or "data=-1")
    trainer = Trainer(model, loss, train_data, optimizer=optimizer, evaluate=evaluate,
                      eval_data=eval_data, seed=tc.seed, grad_accum_steps=tc.grad_accum_steps,
                      mesh=mesh, shard_params=tc.shard_params)
    name = name or run_dir.name
    try:
        return run_training(trainer, run_dir, tc, monitor=monitor, monitor_mode=monitor_mode,
                            name=name, resume=resume, quiet=quiet, callbacks=callbacks,
                            baseline=baseline, summary_extra={
                                "model": type(model).__name__,
                                "settings": {k: v for k, v in dataclasses.asdict(tc).items()
                                             if k != "batch_size"}})
    finally:
        nnx.update(model, nnx.state(trainer.host_model()))
