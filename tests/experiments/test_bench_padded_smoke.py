"""`experiments/bench_padded.py --quick` keeps working and jaxlstm agrees with Flax on padded batches."""

import re
import subprocess
import sys
from pathlib import Path
import pytest

pytestmark = pytest.mark.slow  # minutes on 2 cores: the slow tier (.ci/run)

BENCH = Path(__file__).resolve().parents[2] / "experiments" / "bench_padded.py"


def test_quick_padded_benchmark_runs_and_agrees_with_flax():
    proc = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    diff = float(re.search(r"max \|diff\| (\S+)\)", proc.stdout).group(1))
    assert diff < 1e-5
    rows = re.findall(r"^  (jaxlstm|jaxlstm full|flax|torch packed|torch full)\s+(\d+\.\d+) ms", proc.stdout, re.M)
    assert [name for name, _ in rows] == ["jaxlstm", "jaxlstm full", "flax", "torch packed", "torch full"]
    assert all(float(ms) > 0 for _, ms in rows)
