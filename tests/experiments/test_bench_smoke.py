"""`experiments/bench.py --quick` keeps working: every library agrees with jaxlstm and is timed."""

import os
import re
import subprocess
import sys
from pathlib import Path
import pytest

pytestmark = pytest.mark.slow  # minutes on 2 cores: the slow tier (.ci/run)

BENCH = Path(__file__).resolve().parents[2] / "experiments" / "bench.py"


def test_quick_benchmark_runs_and_all_libraries_agree():
    """Torch imported before jaxlstm: the order that used to switch the kernel off."""
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    proc = subprocess.run([sys.executable, str(BENCH), "--quick", "--repeats", "1",
                           "--torch-first"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    agreement = re.findall(r"max\|diff\| = (\S+) (\w+)", out)
    assert "torch imported BEFORE jaxlstm" in out and "kernel: oneDNN kernel in use" in out
    libs = {"lstm_batch", "nn.LSTM", "jaxlstm-xla", "flax", "equinox", "keras", "torch"}
    assert len(agreement) == 2 * len(libs), out  # 1 layer and 2-layer bidir, per library
    assert all(status == "ok" and float(err) < 1e-4 for err, status in agreement)
    rows = [line for line in out.splitlines() if line.startswith("| Q")]
    assert len(rows) == 2  # the single-layer and the 2-layer bidirectional case
    times = [float(t) for row in rows for t in re.findall(r"(\d+\.\d+) /", row)]
    assert len(times) == 2 * (1 + len(libs)) and all(t > 0 for t in times)
    assert all(re.search(r"\(\d+ %\)", row) for row in rows)  # share of the matmul peak
