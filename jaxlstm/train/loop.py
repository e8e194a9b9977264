"""`fit`: train a config into a run folder; `load_run`: get a trained model back.

A run folder holds
  config.yaml      the fully resolved config (rerun it with `jaxlstm train RUN/config.yaml`)
  metrics.jsonl    one line per logged train step and per evaluation
  checkpoints/     Orbax checkpoints (the last `train.keep_checkpoints` and the best)
  learning_curves.png
  summary.json     final and best metrics, baselines, parameter count, wall time, versions

Step s uses the batch drawn from `np.random.default_rng([seed, s])` and the dropout
key `fold_in(key(seed), s)`, so a run resumed from a checkpoint continues exactly as
the uninterrupted run would have.
"""

from __future__ import annotations

import math
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from tqdm.auto import tqdm

from jaxlstm.train.checkpoint import Checkpoints
from jaxlstm.train.config import Config, load_config
from jaxlstm.train.metrics import append_metrics, read_metrics, truncate_metrics, write_json_atomic
from jaxlstm.train.optim import make_optimizer
from jaxlstm.train.plots import plot_learning_curves
from jaxlstm.train.tasks import get_task


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class RunExists(FileExistsError):
    """The run folder exists and neither resume nor a new name was asked for."""


@dataclass
class Trainer:
    """The pieces of a run, built from its config."""

    cfg: Config
    task: Any
    graphdef: Any
    state: Any          # the model's nnx.Param state: what the optimizer trains
    rest: Any           # every other variable (e.g. a CRF's fixed constraint biases)
    optimizer: optax.GradientTransformation
    opt_state: Any

    @classmethod
    def build(cls, cfg: Config) -> "Trainer":
        task = get_task(cfg.task)(cfg)
        model = task.make_model(nnx.Rngs(params=cfg.train.seed))
        graphdef, state, rest = nnx.split(model, nnx.Param, ...)
        optimizer = make_optimizer(cfg.optim, cfg.train.steps)
        return cls(cfg, task, graphdef, state, rest, optimizer, optimizer.init(state))

    @property
    def model(self) -> nnx.Module:
        return nnx.merge(self.graphdef, self.state, self.rest)

    def param_count(self) -> int:
        return int(sum(np.prod(x.shape) for x in jax.tree.leaves(self.state)))

    def compiled_steps(self):
        task, graphdef, rest, optimizer = self.task, self.graphdef, self.rest, self.optimizer

        def loss_fn(state, batch, key):
            return task.loss(nnx.merge(graphdef, state, rest), batch, key)

        @jax.jit
        def train_step(state, opt_state, batch, key):
            (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state, batch, key)
            updates, opt_state = optimizer.update(grads, opt_state, state)
            state = optax.apply_updates(state, updates)
            return state, opt_state, loss, {**metrics, "grad_norm": optax.tree.norm(grads)}

        eval_step = jax.jit(lambda state, batch: loss_fn(state, batch, None))
        return train_step, eval_step

    def evaluate(self, eval_step) -> dict:
        metrics = self.task.evaluate(self.model, lambda batch: eval_step(self.state, batch))
        return {f"valid/{k}" if not k.startswith("valid/") else k: v for k, v in metrics.items()}


def _versions() -> dict:
    import flax
    import optax as _optax

    return {"python": sys.version.split()[0], "jax": jax.__version__, "flax": flax.__version__,
            "optax": _optax.__version__, "platform": platform.platform(),
            "devices": [str(d) for d in jax.devices()]}


def _improved(value: float, best: Optional[float], mode: str) -> bool:
    if best is None:
        return True
    return value < best if mode == "min" else value > best


def _check_same_experiment(saved: Config, cfg: Config) -> None:
    """A resumed run must keep everything but the step budget and the progress bar."""
    a, b = saved.to_dict(), cfg.to_dict()
    for d in (a, b):
        d["train"].pop("steps"), d["train"].pop("progress")
    differ = [f"{section}.{k}" for section in a if isinstance(a[section], dict)
              for k in a[section] if a[section][k] != b[section].get(k)]
    differ += [k for k in a if not isinstance(a[k], dict) and a[k] != b[k]]
    if differ:
        raise ValueError(f"--resume: the config differs from the run's config.yaml in {differ}; "
                         f"resume with the same config (only train.steps may change)")


def fit(cfg: Config, *, resume: bool = False, quiet: bool = False) -> dict:
    """Train `cfg` into `cfg.run_dir`; returns the summary (also written to summary.json).

    Args:
      resume: continue from the latest readable checkpoint of an existing run folder.
        Without it, an existing run folder is an error (nothing is overwritten).
      quiet: no progress bar.

    Raises:
      RunExists: the run folder exists and `resume` is False.
      TrainingDiverged: the loss became NaN/Inf (the message names the step).
      KeyboardInterrupt: after saving a checkpoint of the last completed step.
    """
    run_dir = cfg.run_dir
    if run_dir.exists() and any(run_dir.iterdir()) and not resume:
        raise RunExists(f"run folder {run_dir} already exists; pass --resume to continue it, "
                        f"or choose another name (name=...) or out_dir")
    run_dir.mkdir(parents=True, exist_ok=True)
    if resume and (run_dir / "config.yaml").exists():
        _check_same_experiment(load_config(run_dir / "config.yaml"), cfg)
    (run_dir / "config.yaml").write_text(cfg.to_yaml(), encoding="utf-8")

    trainer = Trainer.build(cfg)
    task, tc = trainer.task, cfg.train
    monitor = tc.monitor or task.monitor
    checkpoints = Checkpoints(run_dir / "checkpoints", tc.keep_checkpoints, monitor, task.monitor_mode)
    metrics_path = run_dir / "metrics.jsonl"
    meta = {"best": None, "best_step": None, "bad_evals": 0, "wall_time": 0.0}
    start = 0
    if resume:
        restored = checkpoints.restore((trainer.state, trainer.opt_state))
        if restored is not None:
            start, (trainer.state, trainer.opt_state), meta = restored
            truncate_metrics(metrics_path, start)
    elif metrics_path.exists():
        metrics_path.unlink()

    train_step, eval_step = trainer.compiled_steps()
    base_key = jax.random.key(tc.seed)
    last_eval: dict = {}
    stopped_early = False
    t0 = time.perf_counter()
    bar = tqdm(total=tc.steps, initial=start, disable=quiet or not tc.progress, desc=cfg.name,
               dynamic_ncols=True, file=sys.stderr)
    step = start
    window_t, window_n = time.perf_counter(), 0

    wall_before = meta["wall_time"]

    def save(step: int, metrics: Optional[dict]) -> None:
        meta["wall_time"] = wall_before + time.perf_counter() - t0
        checkpoints.save(step, (trainer.state, trainer.opt_state), meta, metrics)

    try:
        while step < tc.steps:
            batch = task.train_batch(np.random.default_rng([tc.seed, step]), tc.batch_size)
            key = jax.random.fold_in(base_key, step)
            state, opt_state, loss, metrics = train_step(trainer.state, trainer.opt_state, batch, key)
            loss = float(loss)
            if not math.isfinite(loss):
                last = checkpoints.steps()
                raise TrainingDiverged(
                    f"loss became {loss} at step {step + 1}; stopped without saving. The last good "
                    f"checkpoint is step {last[-1] if last else 'none'} in {checkpoints.directory}. "
                    f"Try a lower optim.learning_rate or optim.clip_norm.")
            trainer.state, trainer.opt_state = state, opt_state
            step += 1
            window_n += tc.batch_size
            if step % tc.log_every == 0 or step == tc.steps:
                now = time.perf_counter()
                rate = window_n / max(now - window_t, 1e-9)
                window_t, window_n = now, 0
                record = {"step": step, "split": "train", "loss": loss,
                          **{k: float(v) for k, v in metrics.items()}, "seq_per_s": rate}
                append_metrics(metrics_path, record)
                bar.set_postfix(loss=f"{loss:.4f}", seq_s=f"{rate:.0f}")
            bar.update(1)
            is_ckpt = step % tc.checkpoint_every == 0 or step == tc.steps
            if step % tc.eval_every == 0 or is_ckpt:
                last_eval = trainer.evaluate(eval_step)
                append_metrics(metrics_path, {"step": step, "split": "valid",
                                              **{k.split("/", 1)[1]: v for k, v in last_eval.items()}})
                value = last_eval.get(monitor)
                if value is not None and _improved(value, meta["best"], task.monitor_mode):
                    meta.update(best=value, best_step=step, bad_evals=0)
                else:
                    meta["bad_evals"] += 1
                patience = tc.early_stopping_patience
                if patience and meta["bad_evals"] >= patience:
                    stopped_early = True
                    save(step, last_eval)
                    break
            if is_ckpt:
                save(step, last_eval or None)
    except KeyboardInterrupt:
        bar.close()
        save(step, None)
        checkpoints.close()
        print(f"\ninterrupted: saved a checkpoint at step {step} in {checkpoints.directory}; "
              f"continue with --resume", file=sys.stderr)
        raise
    finally:
        bar.close()
    checkpoints.close()
    meta["wall_time"] = wall_before + time.perf_counter() - t0

    records = read_metrics(metrics_path)
    plot_learning_curves(records, run_dir / "learning_curves.png", title=f"{cfg.name} ({cfg.task})")
    task.write_plots(trainer.model, run_dir)
    summary = {
        "name": cfg.name, "task": cfg.task, "steps": step, "stopped_early": stopped_early,
        "final": last_eval, "monitor": monitor, "best": meta["best"], "best_step": meta["best_step"],
        "baseline": task.baseline(), "param_count": trainer.param_count(),
        "wall_time_s": round(meta["wall_time"], 2), "versions": _versions(),
    }
    write_json_atomic(run_dir / "summary.json", summary)
    return summary


def load_run(run_dir, *, which: str = "best"):
    """(config, trainer) of a finished or stopped run, with its `which` ("best" or
    "latest") checkpoint restored into `trainer.state`."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise FileNotFoundError(f"{run_dir} is not a run folder: no config.yaml in it")
    cfg = load_config(run_dir / "config.yaml")
    trainer = Trainer.build(cfg)
    task = trainer.task
    checkpoints = Checkpoints(run_dir / "checkpoints", cfg.train.keep_checkpoints,
                              cfg.train.monitor or task.monitor, task.monitor_mode)
    step = None
    if which == "best":
        summary_path = run_dir / "summary.json"
        if summary_path.exists():
            import json

            step = json.loads(summary_path.read_text()).get("best_step")
        if step not in checkpoints.steps():
            step = None
    restored = checkpoints.restore((trainer.state, trainer.opt_state), step)
    checkpoints.close()
    if restored is None:
        raise FileNotFoundError(f"no readable checkpoint in {run_dir / 'checkpoints'}")
    _, (trainer.state, trainer.opt_state), _ = restored
    return cfg, trainer
