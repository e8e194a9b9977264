"""Faults survived: SIGKILL at random points, SIGINT (also during an evaluation or a
checkpoint save), SIGTERM (pre-emption), determinism across runs.

The kill and signal tests run the real `jaxlstm` console script in a subprocess, as a
user would; the ones that must hit an exact point (a signal inside an evaluation or a
save) send a real signal to the test process itself from inside that call.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxlstm.cli import main
from jaxlstm.train import TaskTrainer, load_run
from jaxlstm.train.engine.checkpoint import Checkpoints
from jaxlstm.train.engine.interrupt import RunInterrupted, StepInterrupt
from jaxlstm.train.engine.metrics import read_metrics

EXE = str(Path(sys.executable).parent / "jaxlstm")


def _cmd(config, *extra):
    return [EXE, "train", str(config), "--quiet", *extra]


def _params(run_dir):
    _, trainer = load_run(run_dir, which="latest")
    return [np.asarray(x) for x in jax.tree.leaves((trainer.params, trainer.opt_state))]


def _wait_for_checkpoint(run_dir: Path, proc, at_least: int, timeout=120.0):
    start = time.time()
    while time.time() - start < timeout:
        steps = [int(p.name) for p in (run_dir / "checkpoints").glob("*") if p.name.isdigit()]
        if len([s for s in steps if s >= at_least]) or proc.poll() is not None:
            return
        time.sleep(0.05)
    raise TimeoutError("no checkpoint appeared")


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume_matches_uninterrupted(tiny_lm, tmp_path):
    overrides = ["train.steps=40", "train.checkpoint_every=2", "train.eval_every=20"]
    subprocess.run(_cmd(tiny_lm, *overrides, "name=clean"), check=True, capture_output=True)

    run = tmp_path / "runs" / "killed"
    rng = random.Random(0)
    proc = subprocess.Popen(_cmd(tiny_lm, *overrides, "name=killed"), stderr=subprocess.PIPE)
    kills = 0
    for target in (4, 16):
        _wait_for_checkpoint(run, proc, target)
        time.sleep(rng.uniform(0.0, 0.3))  # anywhere, including inside a checkpoint write
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
        proc = subprocess.Popen(_cmd(tiny_lm, *overrides, "name=killed", "--resume"),
                                stderr=subprocess.PIPE)
    assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()[-2000:]
    assert kills >= 1
    assert (run / ".lock").is_file()  # the killed runs' lock file never blocked a resume
    for a, b in zip(_params(tmp_path / "runs" / "clean"), _params(run)):
        np.testing.assert_array_equal(a, b)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 40


def test_sigint_saves_a_checkpoint_and_exits_130(tiny_lm, tmp_path):
    run = tmp_path / "runs" / "tiny"
    proc = subprocess.Popen(_cmd(tiny_lm, "train.steps=100000", "train.checkpoint_every=1000"),
                            stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and not any(
            r.get("step", 0) >= 10 for r in read_metrics(run / "metrics.jsonl")):
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=120)  # reads stderr while waiting: a full pipe cannot block it
    finally:
        proc.kill()
    err = err.decode()
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted: saved a checkpoint at step" in err
    step = int(err.split("checkpoint at step ")[1].split()[0])
    assert step >= 10 and (run / "checkpoints" / str(step)).is_dir()


def test_sigterm_saves_a_checkpoint_exits_143_and_resumes(tiny_lm, tmp_path, capsys):
    """Pre-emption: SLURM, Kubernetes and cloud schedulers send SIGTERM before SIGKILL."""
    run = tmp_path / "runs" / "tiny"
    overrides = ["train.checkpoint_every=1000", "train.log_every=1"]
    proc = subprocess.Popen(_cmd(tiny_lm, "train.steps=100000", *overrides), stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not any(
                r.get("step", 0) >= 5 for r in read_metrics(run / "metrics.jsonl")):
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    err = err.decode()
    assert proc.returncode == 143, err[-2000:]
    line = next(x for x in err.splitlines() if x.startswith("interrupted: "))
    assert line.endswith(f"in {run / 'checkpoints'} (SIGTERM); continue with --resume")
    step = int(line.split("checkpoint at step ")[1].split()[0])
    assert step >= 5 and (run / "checkpoints" / str(step)).is_dir()
    assert main(["train", str(tiny_lm), "--resume", "--quiet", *overrides, f"train.steps={step + 3}"]) == 0
    assert json.loads((run / "summary.json").read_text())["steps"] == step + 3


def _signal_inside(monkeypatch, owner, name, signum, at_call=1):
    """Patch `owner.name` to send `signum` to this process when called the `at_call`-th time
    (before doing its work), as a signal arriving during that call would."""
    original, calls = getattr(owner, name), []

    def patched(*args, **kwargs):
        calls.append(1)
        if len(calls) == at_call:
            os.kill(os.getpid(), signum)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, patched)
    return calls


@pytest.mark.parametrize("owner,name", [(TaskTrainer, "evaluate"), (Checkpoints, "save")],
                         ids=["during-eval", "during-save"])
def test_sigint_during_eval_or_save_exits_130_and_resumes(tiny_lm, tmp_path, capsys, monkeypatch,
                                                          owner, name):
    run = tmp_path / "runs" / "tiny"
    _signal_inside(monkeypatch, owner, name, signal.SIGINT)  # the first eval / save: step 10
    assert main(["train", str(tiny_lm), "--quiet"]) == 130
    err = capsys.readouterr().err
    assert (f"interrupted: saved a checkpoint at step 10 in {run / 'checkpoints'} (SIGINT); "
            f"continue with --resume") in err and "error" not in err
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["10"]
    monkeypatch.undo()
    assert main(["train", str(tiny_lm), "--resume", "--quiet"]) == 0
    assert json.loads((run / "summary.json").read_text())["steps"] == 20


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_first_signal_is_a_request_and_the_second_interrupts(signum):
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    interrupt = StepInterrupt.install()
    try:
        os.kill(os.getpid(), signum)
        time.sleep(0.01)  # let the handler run
        assert interrupt.requested and interrupt.signum == signum
        with pytest.raises(RunInterrupted) as caught:
            os.kill(os.getpid(), signum)
            time.sleep(0.01)
        assert caught.value.exit_code == 128 + signum and isinstance(caught.value, KeyboardInterrupt)
    finally:
        interrupt.restore()
    assert {s: signal.getsignal(s) for s in previous} == previous


def test_same_seed_same_config_gives_bit_identical_metrics(tiny_lm, tmp_path):
    from jaxlstm.train import fit, load_config

    for name in ("a", "b"):
        fit(load_config(tiny_lm, [f"name={name}", "model.dropout=0.3", "model.num_layers=2"]), quiet=True)
    strip = lambda rs: [{k: v for k, v in r.items() if k != "seq_per_s"} for r in rs]
    a = strip(read_metrics(tmp_path / "runs" / "a" / "metrics.jsonl"))
    b = strip(read_metrics(tmp_path / "runs" / "b" / "metrics.jsonl"))
    assert a == b and len(a) > 4
