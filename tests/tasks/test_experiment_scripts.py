"""The long-lag experiment scripts: `--quick` runs write their table and plot, and the
steps-to-solve measure is read correctly from metrics records."""

import csv
import importlib
import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow  # minutes on 2 cores: the slow tier (.ci/run)

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


def _run(script, out):
    proc = subprocess.run([sys.executable, str(EXPERIMENTS / script), "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture
def forget_bias(monkeypatch):
    monkeypatch.syspath_prepend(str(EXPERIMENTS))
    return importlib.import_module("forget_bias")


def test_steps_to_solve_is_the_first_valid_record_over_the_threshold(forget_bias):
    records = [{"step": 10, "split": "train", "loss": 1.0, "accuracy": 0.99},   # train: ignored
               {"step": 100, "split": "valid", "accuracy": 0.5},
               {"step": 200, "split": "valid", "accuracy": 0.9},
               {"step": 300, "split": "valid", "accuracy": 0.95}]
    assert forget_bias.steps_to_solve(records, 0.9) == 200
    assert forget_bias.steps_to_solve(records, 0.92) == 300
    assert forget_bias.steps_to_solve(records, 0.96) is None


def test_greff_variants_quick_writes_table_and_box_plot(tmp_path):
    out = _run("greff_variants.py", tmp_path)
    for name in ("results.md", "results.csv", "results.json", "sweep.png"):
        assert (tmp_path / name).is_file(), name
    rows = list(csv.DictReader(open(tmp_path / "results.csv")))
    assert [r["point"] for r in rows] == ["vanilla", "nfg"]
    assert all(math.isfinite(float(r["best"])) for r in rows)
    assert "| vanilla |" in out and "| nfg |" in out
    for variant in ("vanilla", "nfg"):
        model = yaml.safe_load((tmp_path / f"{variant}-seed0" / "config.yaml").read_text())["model"]
        assert model["variant"] == variant


def test_forget_bias_quick_writes_table_and_plot(tmp_path):
    out = _run("forget_bias.py", tmp_path)
    for name in ("results.md", "results.csv", "forget_bias.png"):
        assert (tmp_path / name).is_file(), name
    rows = list(csv.DictReader(open(tmp_path / "results.csv")))
    assert [r["forget_bias"] for r in rows] == ["1.0", "0.0"]
    assert all(0.0 <= float(r["best_accuracy"]) <= 1.0 and r["steps"] == "4" for r in rows)
    assert "| 1.0 |" in out and "| 0.0 |" in out
    for bias in ("1.0", "0.0"):       # the runs used the gated cell with the asked-for bias
        model = yaml.safe_load((tmp_path / f"forget_bias={bias}-seed0" / "config.yaml").read_text())["model"]
        assert model["variant"] == "vanilla" and model["forget_bias"] == float(bias)
