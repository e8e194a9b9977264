"""One run per run folder: a second run is refused naming the holder; a lock left by a
killed run does not block; two runs started together leave one consistent folder.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

import jaxlstm.train.engine.runlock as runlock
from jaxlstm.cli import main
from jaxlstm.train import load_run
from jaxlstm.train.engine.metrics import read_metrics
from jaxlstm.train.engine.runlock import RunLock, RunLocked

EXE = str(Path(sys.executable).parent / "jaxlstm")

# A process that takes the lock with jaxlstm's own RunLock (loaded from its file alone,
# so it starts in well under a second), says so, and holds it until killed.
HOLDER = textwrap.dedent("""
    import importlib.util, sys, time
    spec = importlib.util.spec_from_file_location("runlock", sys.argv[1])
    runlock = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runlock)
    runlock.RunLock(sys.argv[2]).acquire()
    print("locked", flush=True)
    time.sleep(600)
""")


def test_a_locked_run_folder_is_refused_naming_the_holder_until_it_dies(tiny_lm, tmp_path, capsys):
    run = tmp_path / "runs" / "tiny"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, runlock.__file__, str(run)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert main(["train", str(tiny_lm), "--quiet"]) == 2
        err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("jaxlstm ")]
        assert len(err) == 1
        assert err[0].startswith(f"jaxlstm train: error: run folder {run} is in use by another run "
                                 f"(pid {holder.pid} on host {socket.gethostname()} since ")
        assert sorted(p.name for p in run.iterdir()) == [".lock"]  # nothing written
        with pytest.raises(RunLocked, match=f"pid {holder.pid}"):  # --resume is refused too
            RunLock(run).acquire()
        assert main(["train", str(tiny_lm), "--resume", "--quiet"]) == 2
    finally:
        holder.send_signal(signal.SIGKILL)  # the kernel drops its flock; its .lock file stays
        holder.wait()
    assert json.loads((run / ".lock").read_text())["pid"] == holder.pid
    assert main(["train", str(tiny_lm), "train.steps=10", "--quiet"]) == 0
    assert json.loads((run / ".lock").read_text())["pid"] == os.getpid()
    assert (run / "summary.json").is_file()


def test_lock_is_released_when_the_run_ends(tmp_path):
    lock = RunLock(tmp_path / "r").acquire()
    with pytest.raises(RunLocked, match=f"in use by another run \\(pid {os.getpid()} on host "):
        RunLock(tmp_path / "r").acquire()  # a second open file description conflicts as well
    lock.release()
    with RunLock(tmp_path / "r"):
        pass


def test_two_runs_started_together_leave_one_consistent_run_folder(tiny_lm, tmp_path):
    """The red-team race: two runs of different experiments (seeds 1 and 2) into one folder,
    the second started before the first has created it."""
    procs = []
    for seed in (1, 2):
        procs.append(subprocess.Popen([EXE, "train", str(tiny_lm), "--quiet", f"train.seed={seed}"],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        time.sleep(0.3)
    outputs = [p.communicate(timeout=300) for p in procs]
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 2], outputs
    winner, loser = (1, 2) if codes[0] == 0 else (2, 1)
    refusal = outputs[loser - 1][1]
    assert "is in use by another run (pid" in refusal or "already exists; pass --resume" in refusal

    run = tmp_path / "runs" / "tiny"
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["seed"] == winner
    steps = [(r["split"], r["step"]) for r in read_metrics(run / "metrics.jsonl")]
    assert len(steps) == len(set(steps)) and ("train", 20) in steps  # one writer, complete
    summary = json.loads((run / "summary.json").read_text())
    cfg, trainer = load_run(run, which="latest")
    assert trainer.step == summary["steps"] == 20 and cfg.train.seed == winner
