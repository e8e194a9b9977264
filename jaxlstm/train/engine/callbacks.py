"""`Callback`: user code that runs at fixed points of a training run.

Subclass `Callback` and override what you need; pass instances to `fit_model(...,
callbacks=[...])` or `fit(cfg, callbacks=[...])`. Every hook gets the `Trainer`
(`trainer.model` is the current model, `trainer.step` the number of completed steps)
and runs on every process of a multi-host run. Setting `trainer.stop = True` in a
hook ends the run after the current step, with a checkpoint, like early stopping.
Hooks run between compiled steps, never inside `jit`.
"""

from __future__ import annotations


class Callback:
    """No-op hooks; override any of them."""

    def on_train_start(self, trainer) -> None:
        """Before the first step (after a resumed run's checkpoint is restored)."""

    def on_step_end(self, trainer, record: dict) -> None:
        """After every step. `record`: {"step", "loss"} and the step's metrics, as Python
        floats."""

    def on_eval_end(self, trainer, metrics: dict) -> None:
        """After each evaluation; `metrics` as {"valid/loss": float, ...}."""

    def on_checkpoint(self, trainer, step: int) -> None:
        """After the checkpoint of `step` is written."""

    def on_train_end(self, trainer, summary: dict) -> None:
        """After the last step, with the run's summary (before summary.json is written)."""
