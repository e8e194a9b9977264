"""`experiments/profile_step.py` keeps working: it prints a per-op table that includes the loops."""

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "profile_step.py"


def test_profile_prints_op_table_with_both_loops():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--shape", "2,5,3,4", "--runs", "1", "--top", "100"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = re.findall(r"^\| (\S+) \| (\d+\.\d+) \| (\d+(?:\.\d+)?) \|$", proc.stdout, re.M)
    assert len(rows) >= 5, proc.stdout
    loops = [name for name, _, calls in rows if name.startswith("while") and float(calls) == 1]
    assert len(loops) == 2, proc.stdout  # the forward and the backward scan, once per step
    assert all(float(ms) >= 0 for _, ms, _ in rows)
    assert re.search(r"ms wall \(median of 1, unprofiled\), \d+ page faults per step", proc.stdout), proc.stdout


def test_bad_shape_is_named():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--shape", "2,5,3"], capture_output=True, text=True)
    assert proc.returncode != 0 and "--shape must be four positive ints B,T,X,H" in proc.stderr
