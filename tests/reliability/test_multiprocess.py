"""Two real processes on this machine: `jaxlstm train --distributed` over CPU collectives (Gloo).

`--coordinator-address 127.0.0.1:PORT --num-processes 2 --process-id {0,1}`, one CPU
device each, so the implicit mesh is data=2: each process computes the gradient of
half of the global batch, the collectives average them. One scenario, to start as few
processes as possible (each start imports JAX and compiles, seconds on 2 cores):

  1. both train; a kill -9 of process 1 after its first checkpoint makes process 0 stop
     within the heartbeat timeout with exit code 3 and one line, instead of hanging;
  2. both resume (`--resume`) from the last checkpoint and finish;
  3. exactly one process wrote the run folder (every metrics record once, the lock
     file names process 0), and the parameters equal those of a single-process run
     of the same config (global batch 8 on one device) to float tolerance.
"""

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np

from jaxlstm.train import fit, load_config, load_run
from jaxlstm.train.engine.metrics import read_metrics
import pytest

pytestmark = pytest.mark.slow  # minutes on 2 cores: the slow tier (.ci/run)

EXE = str(Path(sys.executable).parent / "jaxlstm")
HEARTBEAT_S = 5
OVERRIDES = ["train.checkpoint_every=4", "train.eval_every=4", "train.log_every=1"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_pair(config, logs: Path, tag: str, *args):
    port = _free_port()
    procs = []
    for i in range(2):
        out = open(logs / f"{tag}-{i}.log", "w")
        procs.append(subprocess.Popen(
            [EXE, "train", str(config), "--quiet", "--distributed", "--coordinator-address",
             f"127.0.0.1:{port}", "--num-processes", "2", "--process-id", str(i),
             "--heartbeat-timeout", str(HEARTBEAT_S), *OVERRIDES, *args],
            stdout=out, stderr=subprocess.STDOUT, text=True))
        out.close()
    return procs


def _log(logs: Path, tag: str, i: int) -> str:
    return (logs / f"{tag}-{i}.log").read_text(errors="replace")


def _checkpoint_steps(run: Path) -> list[int]:
    folder = run / "checkpoints"
    return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit()) if folder.exists() else []


def test_two_processes_train_fail_cleanly_resume_and_match_one_process(tiny_lm, tmp_path):
    logs, run = tmp_path, tmp_path / "runs" / "multi"
    procs = _start_pair(tiny_lm, logs, "first", "name=multi", "train.steps=100000")
    try:
        deadline = time.time() + 150
        while time.time() < deadline and not [s for s in _checkpoint_steps(run) if s >= 4]:
            assert all(p.poll() is None for p in procs), _log(logs, "first", 0)[-3000:]
            time.sleep(0.05)
        procs[1].send_signal(signal.SIGKILL)
        killed_at = time.time()
        code = procs[0].wait(timeout=HEARTBEAT_S + 60)  # bounded: never a hang
        took = time.time() - killed_at
    finally:
        for p in procs:
            p.kill()
            p.wait()
    err = _log(logs, "first", 0)
    ours = [line for line in err.splitlines() if line.startswith("jaxlstm ")]
    assert code == 3, err[-3000:]
    assert len(ours) == 1 and ours[0].startswith("jaxlstm train: error: process 0 of 2 lost contact "
                                                 "with the other processes (")
    assert took < HEARTBEAT_S + 30

    last = _checkpoint_steps(run)[-1]
    steps = last + 4
    procs = _start_pair(tiny_lm, logs, "resumed", "name=multi", f"train.steps={steps}", "--resume")
    try:
        codes = [p.wait(timeout=240) for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert codes == [0, 0], _log(logs, "resumed", 0)[-3000:] + _log(logs, "resumed", 1)[-3000:]

    # One writer: each record once (truncated back to the resumed checkpoint), process 0's lock.
    records = [(r["split"], r["step"]) for r in read_metrics(run / "metrics.jsonl")]
    assert len(records) == len(set(records))
    assert [s for split, s in records if split == "train"] == list(range(1, steps + 1))
    assert json.loads((run / ".lock").read_text())["pid"] == procs[0].pid
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == steps and len(summary["versions"]["devices"]) == 2

    # The same global batch of 8 on one device, in this process.
    single = load_config(tiny_lm, [*OVERRIDES, "name=single", f"train.steps={steps}"])
    reference = fit(single, quiet=True)
    _, a = load_run(single.run_dir, which="latest")
    _, b = load_run(run, which="latest")
    assert a.step == b.step == steps
    diffs = [float(np.abs(np.asarray(x) - np.asarray(y)).max())
             for x, y in zip(jax.tree.leaves(a.checkpoint_trees()), jax.tree.leaves(b.checkpoint_trees()))]
    print(f"steps {steps}, failed after {took:.1f} s, max |param diff| {max(diffs):.2e}")
    for x, y in zip(jax.tree.leaves(a.checkpoint_trees()), jax.tree.leaves(b.checkpoint_trees())):
        np.testing.assert_allclose(np.asarray(y), np.asarray(x), rtol=1e-5, atol=1e-6)
    for key, value in reference["final"].items():
        assert abs(summary["final"][key] - value) <= 1e-4 * max(1.0, abs(value)), key
