"""The training loop end to end: run folder, resume, divergence, optimizers."""

import json

import jax
import numpy as np
import pytest

from jaxlstm.train import OptimConfig, RunExists, TrainingDiverged, fit, load_config, load_run, make_schedule
from jaxlstm.train.engine.checkpoint import Checkpoints
from jaxlstm.train.engine.metrics import read_metrics


def _leaves(run_dir, which="latest"):
    _, trainer = load_run(run_dir, which=which)
    return [np.asarray(x) for x in jax.tree.leaves(trainer.params)]


def test_run_folder_contents_and_learning(tiny_lm):
    cfg = load_config(tiny_lm, ["train.steps=60"])
    summary = fit(cfg, quiet=True)
    run = cfg.run_dir
    for name in ("config.yaml", "metrics.jsonl", "learning_curves.png", "summary.json"):
        assert (run / name).is_file(), name
    assert json.loads((run / "summary.json").read_text())["param_count"] == summary["param_count"]
    records = read_metrics(run / "metrics.jsonl")
    train = [r for r in records if r["split"] == "train"]
    assert [r["step"] for r in train] == list(range(5, 61, 5))
    # It learns: far below the uniform baseline and below the unigram baseline.
    assert summary["final"]["valid/bpc"] < summary["baseline"]["unigram_bpc"] - 0.3
    assert summary["versions"]["jax"] == jax.__version__
    from jaxlstm.core.backends.onednn import kernel_status
    assert summary["versions"]["lstm_cpu_path"] == kernel_status()  # which LSTM path ran


def test_resume_gives_bit_identical_parameters(tiny_lm, tmp_path):
    full = load_config(tiny_lm, ["name=full", "model.dropout=0.2", "model.num_layers=2"])
    fit(full, quiet=True)
    part = load_config(tiny_lm, ["name=part", "model.dropout=0.2", "model.num_layers=2", "train.steps=10"])
    fit(part, quiet=True)
    resumed = load_config(tiny_lm, ["name=part", "model.dropout=0.2", "model.num_layers=2"])
    fit(resumed, resume=True, quiet=True)
    for a, b in zip(_leaves(full.run_dir), _leaves(resumed.run_dir)):
        np.testing.assert_array_equal(a, b)
    # metrics.jsonl has no duplicated steps after the resume.
    steps = [r["step"] for r in read_metrics(resumed.run_dir / "metrics.jsonl") if r["split"] == "train"]
    assert steps == sorted(set(steps))


def test_existing_run_folder_is_never_overwritten(tiny_lm):
    cfg = load_config(tiny_lm, ["train.steps=10"])
    fit(cfg, quiet=True)
    with pytest.raises(RunExists, match="already exists; pass --resume"):
        fit(cfg, quiet=True)
    with pytest.raises(ValueError, match=r"differs from the run's config.yaml in \['model.hidden_size'\]"):
        fit(load_config(tiny_lm, ["train.steps=10", "model.hidden_size=8"]), resume=True, quiet=True)


def test_nan_loss_stops_with_the_step_and_keeps_last_checkpoint(tiny_lm):
    # Warm-up: step 1's learning rate is 0 (a good checkpoint), step 2's is 5e37.
    cfg = load_config(tiny_lm, ["optim.name=sgd", "optim.learning_rate=1e38", "optim.clip_norm=null",
                                "optim.momentum=0.0", "optim.warmup_steps=2",
                                "train.checkpoint_every=1", "train.eval_every=1"])
    with pytest.raises(TrainingDiverged, match=r"(loss became (nan|inf)|non-finite).* at step 2; .*last good checkpoint is step 1 "):
        fit(cfg, quiet=True)
    ckpt = Checkpoints(cfg.run_dir / "checkpoints", 2, "valid/bpc", "min")
    steps = ckpt.steps()
    ckpt.close()
    assert steps == [1]  # the last good checkpoint stays, nothing of step 2
    _, trainer = load_run(cfg.run_dir, which="latest")
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves((trainer.params, trainer.opt_state)))
    _, eval_step = trainer.compiled_steps()
    assert np.isfinite(trainer.evaluate(eval_step)["valid/loss"])  # and it really is good


def test_corrupted_latest_checkpoint_falls_back_with_warning(tiny_lm):
    cfg = load_config(tiny_lm)
    fit(cfg, quiet=True)
    latest = cfg.run_dir / "checkpoints" / "20"
    for f in latest.rglob("*"):
        if f.is_file() and f.stat().st_size > 0 and "params" in str(f):
            f.write_bytes(b"\0" * 7)
    with pytest.warns(UserWarning, match="checkpoint step 20 .* could not be read .*; using step 10 instead"):
        cfg2, trainer = load_run(cfg.run_dir, which="latest")
    assert trainer.step == 10


def test_best_and_last_checkpoints_are_kept(tiny_lm):
    cfg = load_config(tiny_lm, ["train.steps=50", "train.keep_checkpoints=1"])
    summary = fit(cfg, quiet=True)
    kept = sorted(int(p.name) for p in (cfg.run_dir / "checkpoints").iterdir() if p.name.isdigit())
    assert 50 in kept and summary["best_step"] in kept and len(kept) <= 2


def test_early_stopping(tiny_lm):
    cfg = load_config(tiny_lm, ["train.steps=200", "train.eval_every=5", "train.early_stopping_patience=1",
                                "optim.learning_rate=0.0001"])
    summary = fit(cfg, quiet=True)
    assert summary["stopped_early"] or summary["steps"] == 200
    assert summary["steps"] % 5 == 0


def test_schedule_warmup_and_decay():
    cfg = OptimConfig(learning_rate=1.0, schedule="linear", warmup_steps=10)
    lr = make_schedule(cfg, 110)
    assert float(lr(0)) == 0.0 and float(lr(5)) == pytest.approx(0.5)
    assert float(lr(10)) == pytest.approx(1.0) and float(lr(60)) == pytest.approx(0.5)
    cos = make_schedule(OptimConfig(learning_rate=2.0, schedule="cosine"), 100)
    assert float(cos(0)) == pytest.approx(2.0) and float(cos(100)) == pytest.approx(0.02)
