"""Divergence: nothing non-finite is ever saved, and a NaN validation loss stops the run.

The red-team case: `optim.learning_rate=inf` with `train.checkpoint_every=1` stopped at
step 2 calling step 1 "good", while step 1's update had made the parameters NaN. inf
is now rejected by the config, so the same fault is made with 1e300: a finite Python
float whose product with the float32 gradients overflows to inf in the update.
"""

import math

import jax
import numpy as np
import pytest

from jaxlstm.cli import main
from jaxlstm.train import TaskTrainer, TrainingDiverged, fit, load_config, load_run
from jaxlstm.train.engine.checkpoint import Checkpoints

OVERFLOW = ["optim.name=sgd", "optim.momentum=0.0", "optim.clip_norm=null", "optim.learning_rate=1e300",
            "train.checkpoint_every=1", "train.eval_every=1"]


def _steps(run):
    checkpoints = Checkpoints(run / "checkpoints", 2, "valid/bpc", "min")
    steps = checkpoints.steps()
    checkpoints.close()
    return steps


def test_an_update_to_non_finite_parameters_is_never_saved(tiny_lm, tmp_path, capsys):
    with np.errstate(over="ignore"):
        assert np.isinf(np.float32(1e300))  # the learning rate in float32, as the update uses it
    run = tmp_path / "runs" / "tiny"
    assert main(["train", str(tiny_lm), "--quiet", *OVERFLOW]) == 1
    err = capsys.readouterr().err
    assert ("training diverged: the update made the parameters or optimizer state non-finite "
            "(inf/nan; the loss before it was ") in err
    assert "at step 1; stopped without saving. The last good checkpoint is step none" in err
    assert _steps(run) == []
    assert main(["eval", str(run), "--which", "latest"]) == 2  # no checkpoint, not a NaN result
    assert "error: no checkpoint in" in capsys.readouterr().err


def test_a_nan_validation_loss_stops_the_run_before_its_checkpoint(tiny_lm, monkeypatch):
    original, calls = TaskTrainer.evaluate, []

    def evaluate(self, eval_step):  # the second evaluation (step 20) gives NaN
        calls.append(1)
        metrics = original(self, eval_step)
        return {**metrics, "valid/loss": math.nan} if len(calls) == 2 else metrics

    monkeypatch.setattr(TaskTrainer, "evaluate", evaluate)
    cfg = load_config(tiny_lm)  # evaluations and checkpoints at 10 and 20
    with pytest.raises(TrainingDiverged, match=r"validation loss became nan at step 20; stopped "
                                               r"without saving. The last good checkpoint is step 10 "):
        fit(cfg, quiet=True)
    assert _steps(cfg.run_dir) == [10]
    monkeypatch.undo()
    _, trainer = load_run(cfg.run_dir, which="latest")
    assert all(np.isfinite(x).all() for x in jax.tree.leaves(trainer.params))
