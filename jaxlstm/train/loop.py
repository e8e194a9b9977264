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

Scaling (see `jaxlstm.train.mesh`): with `train.mesh` the state lives on a device
mesh and batches are split over its `data` axis; `train.grad_accum_steps: k` runs
each step's batch as k micro-batches in one `lax.scan` and applies one update with
their mean gradient, so steps, schedules and resume mean the same for every k;
`train.distributed` initializes multi-host JAX; with more than one process and no
`train.mesh` the mesh is `data=-1` (data-parallel over every process's devices), and
only process 0 writes files other than checkpoints (which Orbax writes collectively).

Faults (see docs/reliability.md): the run folder is locked (`runlock.RunLock`) while
a run writes it; an update that makes the parameters or optimizer state non-finite,
and a non-finite training or validation loss, stop the run before anything of that
step is saved (`TrainingDiverged`); SIGINT and SIGTERM stop it after the current step
with a checkpoint (`RunInterrupted`); a damaged checkpoint met on `--resume` is set
aside and the run continues from the one before it.

A stateful task (truncated BPTT, e.g. `stream_lm`) also defines
`initial_carry(batch_size)` and `train_chunk(step, batch_size)` (the batch of step s,
a function of s alone), and its `loss(model, batch, key, carry)` returns
`(loss, metrics, new_carry)`. The loop passes each step's final carry into the next
step and saves it in checkpoints, so a resumed run stays bit-identical.
"""

from __future__ import annotations

import json
import math
import platform
import signal
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jaxlstm.train import mesh as meshlib
from jaxlstm.train.checkpoint import CheckpointError, Checkpoints
from jaxlstm.train.config import Config, load_config
from jaxlstm.train.distributed import initialize as initialize_distributed, is_main_process
from jaxlstm.train.interrupt import RunInterrupted, StepInterrupt
from jaxlstm.train.metrics import read_metrics, truncate_metrics, write_json_atomic
from jaxlstm.train.optim import make_optimizer
from jaxlstm.train.plots import plot_learning_curves
from jaxlstm.train.progress import Progress
from jaxlstm.train.provenance import provenance
from jaxlstm.train.runlock import LOCK_NAME, RunLock, RunLocked
from jaxlstm.train.writers import Writers, make_writers
from jaxlstm.train.tasks import get_task


class TrainingDiverged(RuntimeError):
    """The training or validation loss, the parameters or the optimizer state became
    NaN or infinite; nothing of that step was saved, the last good checkpoint is kept."""


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
    mesh: Any = None    # the jax.sharding.Mesh of train.mesh, or None: one device
    carry: Any = None   # a stateful task's carried state (leaves (B, ...)), else None
    step: Optional[int] = None  # the step of the checkpoint `load_run` restored

    @classmethod
    def build(cls, cfg: Config) -> "Trainer":
        task = get_task(cfg.task)(cfg)
        model = task.make_model(nnx.Rngs(params=cfg.train.seed))
        graphdef, state, rest = nnx.split(model, nnx.Param, ...)
        optimizer = make_optimizer(cfg.optim, cfg.train.steps)
        trainer = cls(cfg, task, graphdef, state, rest, optimizer, optimizer.init(state))
        if trainer.stateful:
            trainer.carry = task.initial_carry(cfg.train.batch_size)
        if cfg.train.mesh is not None or jax.process_count() > 1:
            trainer.mesh = meshlib.make_mesh(cfg.train.mesh or "data=-1")
            meshlib.check_batch_size(trainer.mesh, cfg.train.batch_size, cfg.train.grad_accum_steps)
            trainer.state, trainer.opt_state, trainer.carry = meshlib.put(
                trainer.checkpoint_tree(), trainer.shardings())
        return trainer

    @property
    def stateful(self) -> bool:
        return hasattr(self.task, "initial_carry")

    def checkpoint_tree(self):
        """What a checkpoint holds: (model state, optimizer state, carried state or None)."""
        return self.state, self.opt_state, self.carry

    def shardings(self):
        """Shardings of `checkpoint_tree()` on the mesh."""
        mesh = self.mesh
        state = meshlib.param_shardings(mesh, self.state, self.cfg.train.shard_params)
        opt = meshlib.opt_state_shardings(mesh, self.optimizer, self.opt_state, state)
        carry = jax.tree.map(lambda x: meshlib.row_sharding(mesh, x.shape), self.carry)
        return state, opt, carry

    def batch(self, step: int):
        """The training batch of `step` (on the mesh's devices when there is one)."""
        tc = self.cfg.train
        if self.stateful:
            batch = self.task.train_chunk(step, tc.batch_size)
        else:
            batch = (self.__dict__.get("_train_data") or self.__dict__.setdefault("_train_data", self.task.train_data(tc.batch_size, tc.seed, tc.order, tc.bucket)))(step)  # TEMPORARY (branch batches): the lead's loop calls task.train_data once
        return batch if self.mesh is None else meshlib.put_rows(self.mesh, batch)

    def key(self, step: int):
        """The dropout key of `step`."""
        key = jax.random.fold_in(jax.random.key(self.cfg.train.seed), step)
        return key if self.mesh is None else meshlib.put_replicated(self.mesh, key)

    @property
    def model(self) -> nnx.Module:
        return nnx.merge(self.graphdef, self.state, self.rest)

    def param_count(self) -> int:
        return int(sum(np.prod(x.shape) for x in jax.tree.leaves(self.state)))

    def compiled_steps(self):
        """(train_step, eval_step), jitted.

        train_step(state, opt_state, batch, key[, carry]) -> (state, opt_state, loss,
        metrics[, carry]); eval_step(state, batch[, carry]) -> (loss, metrics[, carry]);
        the carry only for a stateful task. The train metrics hold "grad_norm" and
        "finite": whether every floating leaf of the new (state, opt_state, carry) is finite.
        """
        task, graphdef, rest, optimizer = self.task, self.graphdef, self.rest, self.optimizer
        stateful, accum = self.stateful, self.cfg.train.grad_accum_steps
        shardings = self.shardings() if self.mesh is not None else None

        def loss_fn(state, batch, key, carry):
            model = nnx.merge(graphdef, state, rest)
            if stateful:
                loss, metrics, carry = task.loss(model, batch, key, carry)
                return loss, (metrics, carry)
            loss, metrics = task.loss(model, batch, key)
            return loss, (metrics, None)

        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

        @jax.jit
        def train_step(state, opt_state, batch, key, carry=None):
            if accum == 1:
                (loss, (metrics, carry)), grads = grad_fn(state, batch, key, carry)
            else:
                (loss, (metrics, carry)), grads = accumulate_gradients(
                    grad_fn, accum, state, batch, key, carry)
            updates, opt_state = optimizer.update(grads, opt_state, state)
            state = optax.apply_updates(state, updates)
            if shardings is not None:
                state, opt_state, carry = jax.lax.with_sharding_constraint(
                    (state, opt_state, carry), shardings)
            finite = all_finite((state, opt_state, carry))
            out = state, opt_state, loss, {**metrics, "grad_norm": optax.tree.norm(grads),
                                           "finite": finite}
            return out + (carry,) if stateful else out

        @jax.jit
        def eval_step(state, batch, carry=None):
            loss, (metrics, carry) = loss_fn(state, batch, None, carry)
            return (loss, metrics, carry) if stateful else (loss, metrics)

        return train_step, eval_step

    def evaluate(self, eval_step) -> dict:
        def step(*batch_and_carry):
            if self.mesh is not None:
                batch_and_carry = meshlib.put_rows(self.mesh, batch_and_carry)
            return eval_step(self.state, *batch_and_carry)

        metrics = self.task.evaluate(self.model, step)
        return {f"valid/{k}" if not k.startswith("valid/") else k: v for k, v in metrics.items()}


def all_finite(tree) -> jax.Array:
    """A scalar bool: no inf or NaN in any floating-point leaf of `tree`."""
    checks = [jnp.isfinite(x).all() for x in jax.tree.leaves(tree)
              if jnp.issubdtype(jnp.result_type(x), jnp.inexact)]
    return jnp.all(jnp.stack(checks)) if checks else jnp.array(True)


def accumulate_gradients(grad_fn, steps: int, state, batch, key, carry):
    """`grad_fn(state, batch, key, carry) -> ((loss, (metrics, carry)), grads)` over the
    batch as `steps` micro-batches, one `lax.scan` step each; loss, metrics and grads
    are the micro-batch means, so for a loss that is a mean over rows they equal the
    full batch's. Micro-batch j holds rows j, j + steps, j + 2·steps, ... (a strided
    split keeps every micro-batch spread evenly over the `data` shards); its dropout
    key is `fold_in(key, j)`. Only one micro-batch's activations are alive at a time.
    """

    def split(x):  # (B, ...) -> (steps, B / steps, ...)
        return x.reshape(x.shape[0] // steps, steps, *x.shape[1:]).swapaxes(0, 1)

    def join(x):  # the inverse of split
        return x.swapaxes(0, 1).reshape(-1, *x.shape[2:])

    micro_batches, micro_carries = jax.tree.map(split, (batch, carry))

    def micro_step(total, inputs):
        j, micro_batch, micro_carry = inputs
        micro_key = None if key is None else jax.random.fold_in(key, j)
        (loss, (metrics, new_carry)), grads = grad_fn(state, micro_batch, micro_key, micro_carry)
        total = jax.tree.map(jnp.add, total, (loss, metrics, grads))
        return total, new_carry

    first = jax.tree.map(lambda x: x[0], (micro_batches, micro_carries))
    shapes = jax.eval_shape(grad_fn, state, first[0], key, first[1])
    (loss_shape, (metrics_shape, _)), grads_shape = shapes
    zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), (loss_shape, metrics_shape, grads_shape))
    total, new_carries = jax.lax.scan(micro_step, zeros,
                                      (jnp.arange(steps), micro_batches, micro_carries))
    loss, metrics, grads = jax.tree.map(lambda t: t / steps, total)
    return (loss, (metrics, jax.tree.map(join, new_carries))), grads


def _versions() -> dict:
    import flax
    import optax as _optax

    from jaxlstm.core.backends.onednn import kernel_status

    return {"python": sys.version.split()[0], "jax": jax.__version__, "flax": flax.__version__,
            "optax": _optax.__version__, "platform": platform.platform(),
            "devices": [str(d) for d in jax.devices()], "lstm_cpu_path": kernel_status()}


def _improved(value: float, best: Optional[float], mode: str) -> bool:
    if best is None:
        return True
    return value < best if mode == "min" else value > best


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


def _check_new_or_resume(run_dir: Path, resume: bool) -> None:
    """RunExists unless `run_dir` is absent, empty (but for its lock file) or resumed."""
    if resume or not run_dir.exists():
        return
    if any(p.name != LOCK_NAME for p in run_dir.iterdir()):
        raise RunExists(f"run folder {run_dir} already exists; pass --resume to continue it, "
                        f"or choose another name (name=...) or out_dir")


REFUSALS = (RunExists, RunLocked)


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


def _agreed_signal(interrupt: StepInterrupt) -> int:
    """The signal number asking the run to stop (0: none); in a multi-host run the
    largest over all processes, so that every process stops after the same step."""
    signum = interrupt.signum or 0
    if jax.process_count() == 1:
        return signum
    from jax.experimental import multihost_utils

    return int(np.max(multihost_utils.process_allgather(np.int32(signum))))


def fit(cfg: Config, *, resume: bool = False, quiet: bool = False) -> dict:
    """Train `cfg` into `cfg.run_dir`; returns the summary (also written to summary.json).

    Args:
      resume: continue from the latest readable checkpoint of an existing run folder
        (a damaged checkpoint is set aside as `checkpoints/S.corrupt-N`, see
        `Checkpoints.set_aside`). Without it, an existing run folder is an error
        (nothing is overwritten).
      quiet: no progress bar.

    Raises:
      RunExists: the run folder exists and `resume` is False.
      RunLocked: another run is writing the run folder (the message names its pid and host).
      TrainingDiverged: the loss, the validation loss or the parameters became NaN/Inf
        (the message names the step and the last good checkpoint).
      RunInterrupted: SIGINT or SIGTERM, after saving a checkpoint of the last completed step.
    """
    if cfg.train.distributed:
        initialize_distributed()
    main = is_main_process()
    run_dir = cfg.run_dir
    if jax.process_count() == 1:
        _check_new_or_resume(run_dir, resume)  # fail fast, before building; checked again below
    if resume and (run_dir / "config.yaml").exists():
        _check_same_experiment(load_config(run_dir / "config.yaml"), cfg)
    trainer = Trainer.build(cfg)  # before any file is written: a missing data file leaves no run folder
    lock, refusal = RunLock(run_dir), None
    if main:
        try:
            lock.acquire()
            _check_new_or_resume(run_dir, resume)  # under the lock: no other run writes now
        except REFUSALS as e:
            lock.release()
            refusal = e
    refusal = _agree_on_refusal(refusal, run_dir)
    if refusal is not None:
        raise refusal
    try:
        return _train(cfg, trainer, resume=resume, quiet=quiet, main=main)
    finally:
        lock.release()


def _train(cfg: Config, trainer: Trainer, *, resume: bool, quiet: bool, main: bool) -> dict:
    """The body of `fit`, run while holding the run folder's lock."""
    run_dir = cfg.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    if main:
        (run_dir / "config.yaml").write_text(cfg.to_yaml(), encoding="utf-8")

    task, tc = trainer.task, cfg.train
    monitor = tc.monitor or task.monitor
    checkpoints = Checkpoints(run_dir / "checkpoints", tc.keep_checkpoints, monitor, task.monitor_mode)
    metrics_path = run_dir / "metrics.jsonl"
    meta = {"best": None, "best_step": None, "bad_evals": 0, "wall_time": 0.0}
    start = 0
    note = (lambda message: print(f"resume: {message}", file=sys.stderr)) if main else (lambda m: None)
    if resume:
        restored = checkpoints.restore(trainer.checkpoint_tree(), set_aside=True, notify=note)
        if restored is not None:
            start, (trainer.state, trainer.opt_state, trainer.carry), meta = restored
        elif checkpoints.steps() or any(checkpoints.directory.glob("*.corrupt-*")):
            note(f"no readable checkpoint in {checkpoints.directory}; starting from step 0")
        if main:
            truncate_metrics(metrics_path, start)
    elif metrics_path.exists() and main:
        metrics_path.unlink()

    train_step, eval_step = trainer.compiled_steps()
    writers = make_writers(tc.writers, run_dir, name=cfg.name, config=cfg.to_dict(),
                           start_step=start) if main else Writers()
    last_eval: dict = {}
    stopped_early = False
    t0 = time.perf_counter()
    bar = Progress(tc.steps, start, cfg.name, enabled=not quiet and tc.progress)
    step = start
    window_t, window_n = time.perf_counter(), 0

    wall_before = meta["wall_time"]

    def save(step: int, metrics: Optional[dict]) -> bool:
        meta["wall_time"] = wall_before + time.perf_counter() - t0
        return checkpoints.save(step, trainer.checkpoint_tree(), meta, metrics)

    def diverged(what: str, at: int) -> TrainingDiverged:
        last = checkpoints.steps()
        return TrainingDiverged(
            f"{what} at step {at}; stopped without saving. The last good checkpoint is step "
            f"{last[-1] if last else 'none'} in {checkpoints.directory}. Try a lower "
            f"optim.learning_rate or optim.clip_norm.")

    interrupt = StepInterrupt.install()  # SIGINT/SIGTERM stop between steps
    try:
        while step < tc.steps:
            signum = _agreed_signal(interrupt)
            if signum:
                raise RunInterrupted(signum)
            carry = (trainer.carry,) if trainer.stateful else ()
            state, opt_state, loss, metrics, *carry = train_step(
                trainer.state, trainer.opt_state, trainer.batch(step), trainer.key(step), *carry)
            finite = bool(metrics.pop("finite"))
            loss = float(loss)
            if not math.isfinite(loss):
                raise diverged(f"loss became {loss}", step + 1)
            if not finite:
                raise diverged(f"the update made the parameters or optimizer state non-finite "
                               f"(inf/nan; the loss before it was {loss:.4g})", step + 1)
            # One statement: a second signal cannot land between the new state and its step.
            trainer.state, trainer.opt_state, trainer.carry, step = (
                state, opt_state, carry[0] if carry else trainer.carry, step + 1)
            window_n += tc.batch_size
            if step % tc.log_every == 0 or step == tc.steps:
                now = time.perf_counter()
                rate = window_n / max(now - window_t, 1e-9)
                window_t, window_n = now, 0
                record = {"step": step, "split": "train", "loss": loss,
                          **{k: float(v) for k, v in metrics.items()}, "seq_per_s": rate}
                writers.write(record)
                bar.set_postfix(loss=f"{loss:.4f}", seq_s=f"{rate:.0f}")
            bar.update(1)
            is_ckpt = step % tc.checkpoint_every == 0 or step == tc.steps
            if step % tc.eval_every == 0 or is_ckpt:
                last_eval = trainer.evaluate(eval_step)
                writers.write({"step": step, "split": "valid",
                               **{k.split("/", 1)[1]: v for k, v in last_eval.items()}})
                bar.evaluated(step, last_eval)
                for key in dict.fromkeys(("valid/loss", monitor)):
                    if key in last_eval and not math.isfinite(last_eval[key]):
                        raise diverged(f"validation {key.split('/', 1)[1]} became {last_eval[key]}", step)
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
    except KeyboardInterrupt as e:
        bar.close()
        e = e if isinstance(e, RunInterrupted) else RunInterrupted(signal.SIGINT)
        try:
            save(step, None)  # nothing is written when step `step` is saved already
            done = f"saved a checkpoint at step {step}"
        except Exception as err:  # noqa: BLE001 -- report it; the previous checkpoints stay
            last = checkpoints.steps()
            done = (f"could not save step {step} ({type(err).__name__}: {str(err)[:160]}); the "
                    f"last checkpoint is step {last[-1] if last else 'none'}")
        print(f"\ninterrupted: {done} in {checkpoints.directory} ({signal.Signals(e.signum).name}); "
              f"continue with --resume", file=sys.stderr)
        raise e from None
    finally:
        interrupt.restore()
        bar.close()
        writers.close()
        checkpoints.close()
    if not last_eval:  # a resume with no step left to train: report the restored model
        last_eval = trainer.evaluate(eval_step)
    meta["wall_time"] = wall_before + time.perf_counter() - t0

    summary = {
        "name": cfg.name, "task": cfg.task, "steps": step, "stopped_early": stopped_early,
        "final": last_eval, "monitor": monitor, "best": meta["best"], "best_step": meta["best_step"],
        "baseline": task.baseline(), "param_count": trainer.param_count(),
        "wall_time_s": round(meta["wall_time"], 2), "versions": _versions(),
        "provenance": provenance(),
    }
    model = trainer.model
    if jax.process_count() > 1:  # the plots run on process 0 alone: give it host-local arrays
        model = nnx.merge(trainer.graphdef, meshlib.to_host(trainer.state), trainer.rest)
    if main:
        records = read_metrics(metrics_path)
        plot_learning_curves(records, run_dir / "learning_curves.png", title=f"{cfg.name} ({cfg.task})",
                             baseline=summary["baseline"])
        task.write_plots(model, run_dir)
        write_json_atomic(run_dir / "summary.json", summary)
    return summary


def _best_step(run_dir: Path, steps: list[int], notify: Callable[[str], None]) -> Optional[int]:
    """The best step summary.json names, if its checkpoint is kept; else None (and a note)."""
    path = run_dir / "summary.json"
    latest = f"using the latest checkpoint, step {steps[-1]}"
    try:
        best = json.loads(path.read_text(encoding="utf-8")).get("best_step")
    except FileNotFoundError:
        notify(f"{run_dir} has no summary.json (the run has not finished), so its best step is "
               f"not known; {latest}")
        return None
    except (OSError, ValueError, AttributeError) as e:
        notify(f"{path} could not be read ({type(e).__name__}); {latest}")
        return None
    if best not in steps:
        notify(f"the best step {best} of {run_dir} has no checkpoint; {latest}")
        return None
    return best


def load_run(run_dir, *, which: str = "best", notify: Optional[Callable[[str], None]] = None):
    """(config, trainer) of a finished or stopped run, with its `which` ("best" or
    "latest") checkpoint restored into `trainer.state`; `trainer.step` is its step.

    When that checkpoint is missing or damaged the next older readable one is used and
    `notify` (default `warnings.warn`) gets one line saying which step replaces which.

    Raises:
      FileNotFoundError: `run_dir` has no config.yaml.
      CheckpointError: no checkpoint of the run can be read.
    """
    notify = notify or (lambda message: warnings.warn(message, stacklevel=3))
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise FileNotFoundError(f"{run_dir} is not a run folder: no config.yaml in it")
    cfg = load_config(run_dir / "config.yaml")
    trainer = Trainer.build(cfg)
    task = trainer.task
    checkpoints = Checkpoints(run_dir / "checkpoints", cfg.train.keep_checkpoints,
                              cfg.train.monitor or task.monitor, task.monitor_mode)
    try:
        steps = checkpoints.steps()
        if not steps:
            raise CheckpointError(f"no checkpoint in {checkpoints.directory}")
        step = _best_step(run_dir, steps, notify) if which == "best" else None
        restored = checkpoints.restore(trainer.checkpoint_tree(), step, notify=notify)
    finally:
        checkpoints.close()
    if restored is None:
        raise CheckpointError(f"no readable checkpoint in {checkpoints.directory} (steps {steps} "
                              f"are all damaged)")
    trainer.step, (trainer.state, trainer.opt_state, trainer.carry), _ = restored
    return cfg, trainer
