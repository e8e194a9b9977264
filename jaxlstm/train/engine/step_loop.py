"""`StepLoop`: the step loop of one run, from the resumed step to `settings.steps`.

Its phases: `step` (one optimizer step, the divergence checks, logging and the step
callbacks), `evaluate` (due every `eval_every` steps and at every checkpoint: writers,
callbacks, the divergence check of the validation loss and the best and early-stopping
bookkeeping), `checkpoint`, and `should_stop` (early stopping's patience is spent). `run`
goes through them until the step budget, early stopping, `trainer.stop` or the end of the
data; on SIGINT/SIGTERM it saves a checkpoint of the last completed step and raises
`RunInterrupted`. `run_training` (`jaxlstm.train.engine.run`) builds it under the run
folder's lock and writes the summary from what it leaves.
"""

from __future__ import annotations

import math
import signal
import sys
import time
from pathlib import Path
from typing import Optional

import jax
import numpy as np

from jaxlstm.train.engine.average import batch_rows
from jaxlstm.train.engine.checkpoint import Checkpoints
from jaxlstm.train.engine.feed import DataExhausted
from jaxlstm.train.engine.interrupt import RunInterrupted, StepInterrupt
from jaxlstm.train.engine.metrics import truncate_metrics
from jaxlstm.train.engine.progress import Progress
from jaxlstm.train.engine.settings import TrainConfig
from jaxlstm.train.engine.trainer import Trainer
from jaxlstm.train.engine.writers import Writers, make_writers


class TrainingDiverged(RuntimeError):
    """The training or validation loss, the parameters or the optimizer state became
    NaN or infinite; nothing of that step was saved, the last good checkpoint is kept."""


def _agreed_signal(interrupt: StepInterrupt) -> int:
    """The signal number asking the run to stop (0: none); in a multi-host run the
    largest over all processes, so that every process stops after the same step."""
    signum = interrupt.signum or 0
    if jax.process_count() == 1:
        return signum
    from jax.experimental import multihost_utils

    return int(np.max(multihost_utils.process_allgather(np.int32(signum))))


def _improved(value: float, best: Optional[float], mode: str) -> bool:
    if best is None:
        return True
    return value < best if mode == "min" else value > best


class StepLoop:
    """The steps of `trainer` into `run_dir` on the schedule of `settings`; built with
    the trainer restored from the latest readable checkpoint when `resume`.

    After `run`: `last_eval` (the last evaluation's metrics, {} if none), `meta` (best,
    best_step, bad_evals, wall_time, the feed's state), `stopped_early`, `data_ended`
    (the feed's message when the data ended, else None)."""

    def __init__(self, trainer: Trainer, run_dir: Path, settings: TrainConfig, *, monitor: str,
                 monitor_mode: str, name: str, resume: bool, quiet: bool, callbacks: list,
                 writer_config: Optional[dict], main: bool, folder):
        self.trainer, self.settings, self.callbacks = trainer, settings, callbacks
        self.monitor, self.monitor_mode, self.main, self.folder = monitor, monitor_mode, main, folder
        self.checkpoints = Checkpoints(run_dir / "checkpoints", settings.keep_checkpoints, monitor,
                                       monitor_mode)
        self.meta = {"best": None, "best_step": None, "bad_evals": 0, "wall_time": 0.0, "data": None}
        start = self._resume(run_dir / "metrics.jsonl") if resume else self._fresh(run_dir / "metrics.jsonl")
        trainer.feed.start(start, self.meta.get("data"))
        trainer.step, trainer.stop = start, False
        self.train_step, self.eval_step = trainer.compiled_steps()
        self.writers = make_writers(settings.writers, run_dir, name=name, config=writer_config,
                                    start_step=start) if main else Writers()
        self.last_eval: dict = {}
        self.stopped_early, self.data_ended = False, None
        self.t0 = time.perf_counter()
        self.bar = Progress(settings.steps, start, name, enabled=not quiet and settings.progress)
        self.window_t, self.window_n = time.perf_counter(), 0
        self.wall_before = self.meta["wall_time"]

    def _note(self, message: str) -> None:
        if self.main:
            print(f"resume: {message}", file=sys.stderr)

    def _resume(self, metrics_path: Path) -> int:
        """The step to start from: the latest readable checkpoint's (restored), else 0."""
        start = 0
        restored = self.checkpoints.restore(self.trainer.checkpoint_trees(), set_aside=True,
                                            notify=self._note,
                                            from_leaves=self.trainer.trees_from_leaves)
        if restored is not None:
            start, trees, saved_meta = restored
            self.trainer.restore_trees(trees)
            self.meta.update(saved_meta)
        elif self.checkpoints.steps() or any(self.checkpoints.directory.glob("*.corrupt-*")):
            self._note(f"no readable checkpoint in {self.checkpoints.directory}; starting from step 0")
        if self.main:
            truncate_metrics(metrics_path, start)
        return start

    def _fresh(self, metrics_path: Path) -> int:
        if metrics_path.exists() and self.main:
            metrics_path.unlink()
        return 0

    def diverged(self, what: str, at: int) -> TrainingDiverged:
        """The error of a non-finite `what` at step `at`, naming the last good checkpoint."""
        last = self.checkpoints.steps()
        return TrainingDiverged(
            f"{what} at step {at}; stopped without saving. The last good checkpoint is step "
            f"{last[-1] if last else 'none'} in {self.checkpoints.directory}. Try a lower "
            f"learning rate or gradient clipping (optim.learning_rate, optim.clip_norm).")

    def step(self, batch) -> None:
        """One optimizer step on `batch`, its logging and the step callbacks.

        Raises:
          TrainingDiverged: the loss or the updated state is not finite (nothing kept).
        """
        trainer, tc = self.trainer, self.settings
        *state, loss, metrics = self.train_step(*trainer.train_state()[:3], batch,
                                                trainer.key(trainer.step), trainer.carry)
        finite = bool(metrics.pop("finite"))
        loss = float(loss)
        if not math.isfinite(loss):
            raise self.diverged(f"loss became {loss}", trainer.step + 1)
        if not finite:
            raise self.diverged(f"the update made the parameters or optimizer state non-finite "
                                f"(inf/nan; the loss before it was {loss:.4g})", trainer.step + 1)
        # One statement: a second signal cannot land between the new state and its step.
        trainer.params, trainer.model_state, trainer.opt_state, trainer.carry, trainer.step = (
            *state, trainer.step + 1)
        step = trainer.step
        self.window_n += batch_rows(batch)
        record = {"step": step, "split": "train", "loss": loss, **{k: float(v) for k, v in metrics.items()}}
        if step % tc.log_every == 0 or step == tc.steps:
            now = time.perf_counter()
            rate = self.window_n / max(now - self.window_t, 1e-9)
            self.window_t, self.window_n = now, 0
            self.writers.write({**record, "seq_per_s": rate})
            self.bar.set_postfix(loss=f"{loss:.4f}", seq_s=f"{rate:.0f}")
        self.bar.update(1)
        for cb in self.callbacks:
            cb.on_step_end(trainer, record)

    def evaluate(self) -> dict:
        """Evaluate the model, record it and update the best and the count of evaluations
        without improvement; returns the metrics ({} without evaluation data).

        Raises:
          TrainingDiverged: the validation loss or the monitored metric is not finite.
          ValueError: the monitored metric is not among the evaluation's.
        """
        step, monitor = self.trainer.step, self.monitor
        metrics = self.last_eval = self.trainer.evaluate(self.eval_step)
        if metrics:
            self.writers.write({"step": step, "split": "valid",
                                **{k.split("/", 1)[1]: v for k, v in metrics.items()}})
            self.bar.evaluated(step, metrics)
        for cb in self.callbacks:
            cb.on_eval_end(self.trainer, metrics)
        for key in dict.fromkeys(("valid/loss", monitor)):
            if key in metrics and not math.isfinite(metrics[key]):
                raise self.diverged(f"validation {key.split('/', 1)[1]} became {metrics[key]}", step)
        if metrics and monitor not in metrics:
            raise ValueError(f"monitor: {monitor!r} is not among the evaluation metrics "
                             f"{sorted(metrics)}")
        value = metrics.get(monitor)
        if value is not None:
            if _improved(value, self.meta["best"], self.monitor_mode):
                self.meta.update(best=value, best_step=step, bad_evals=0)
            else:
                self.meta["bad_evals"] += 1
        return metrics

    def should_stop(self) -> bool:
        """Early stopping: `early_stopping_patience` evaluations in a row without improvement."""
        patience = self.settings.early_stopping_patience
        return bool(patience and self.meta["bad_evals"] >= patience)

    def checkpoint(self) -> None:
        """Save the current step with the last evaluation (nothing if it is saved already)."""
        self._save(self.trainer.step, self.last_eval or None)

    def _save(self, step: int, metrics: Optional[dict]) -> None:
        self.meta["wall_time"] = self.wall_time()
        self.meta["data"] = self.trainer.feed.state()
        if self.checkpoints.save(step, self.trainer.checkpoint_trees(), self.meta, metrics):
            for cb in self.callbacks:
                cb.on_checkpoint(self.trainer, step)

    def stop(self, error: KeyboardInterrupt) -> RunInterrupted:
        """After SIGINT/SIGTERM: save the last completed step, say so; the error to raise."""
        self.bar.close()
        error = error if isinstance(error, RunInterrupted) else RunInterrupted(signal.SIGINT)
        step = self.trainer.step
        try:
            self._save(step, None)  # nothing is written when step `step` is saved already
            done = f"saved a checkpoint at step {step}"
        except Exception as err:  # noqa: BLE001 -- report it; the previous checkpoints stay
            last = self.checkpoints.steps()
            done = (f"could not save step {step} ({type(err).__name__}: {str(err)[:160]}); the "
                    f"last checkpoint is step {last[-1] if last else 'none'}")
        print(f"\ninterrupted: {done} in {self.checkpoints.directory} "
              f"({signal.Signals(error.signum).name}); continue with --resume", file=sys.stderr)
        return error

    def run(self) -> int:
        """Step until the budget, early stopping, `trainer.stop` or the end of the data;
        returns the number of completed steps. Closes the writers and checkpoints.

        Raises:
          TrainingDiverged: as `step` and `evaluate`.
          RunInterrupted: SIGINT or SIGTERM, after the checkpoint of the last completed step.
        """
        trainer, tc = self.trainer, self.settings
        for cb in self.callbacks:
            cb.on_train_start(trainer)
        interrupt = StepInterrupt.install()  # SIGINT/SIGTERM stop between steps
        try:
            while trainer.step < tc.steps:
                signum = _agreed_signal(interrupt)
                if signum:
                    raise RunInterrupted(signum)
                if self.main:
                    self.folder.check_present(trainer.step)
                try:
                    batch = trainer.batch(trainer.step)
                except DataExhausted as e:
                    self.data_ended = str(e)
                    self.checkpoint()
                    break
                self.step(batch)
                step = trainer.step
                is_ckpt = step % tc.checkpoint_every == 0 or step == tc.steps or trainer.stop
                if step % tc.eval_every == 0 or is_ckpt:
                    self.evaluate()
                    if self.should_stop():
                        self.stopped_early = True
                        self.checkpoint()
                        break
                if is_ckpt:
                    self.checkpoint()
                if trainer.stop:
                    break
        except KeyboardInterrupt as e:
            raise self.stop(e) from None
        finally:
            interrupt.restore()
            self.bar.close()
            self.writers.close()
            self.checkpoints.close()
        return trainer.step

    def wall_time(self) -> float:
        """Seconds of training in this run folder: the resumed runs' and this one's so far."""
        return self.wall_before + time.perf_counter() - self.t0
