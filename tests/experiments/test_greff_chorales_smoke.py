"""experiments/greff_chorales.py: the random search's draws, the early-stopping point, the
paired comparison against a hand computation, and a `--quick` run on a tiny corpus."""

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


@pytest.fixture
def greff(monkeypatch):
    monkeypatch.syspath_prepend(str(EXPERIMENTS))
    return importlib.import_module("greff_chorales")


def test_trials_are_seeded_draws_within_the_search_ranges(greff):
    draws = [greff.sample_trial(k) for k in range(50)]
    assert greff.sample_trial(3) == draws[3]
    assert all(20 <= d["hidden_size"] <= 100 and 3e-3 <= d["learning_rate"] <= 3e-2
               and 0.0 <= d["input_noise"] <= 0.3 for d in draws)
    # log-uniform: about half the learning rates below the geometric midpoint sqrt(3e-3 * 3e-2)
    below = sum(d["learning_rate"] < math.sqrt(9e-5) for d in draws)
    assert 15 <= below <= 35


def test_early_stopping_point_is_the_lowest_validation_nll(greff):
    records = [{"step": 10, "split": "train", "nll": 1.0},
               {"step": 50, "split": "valid", "nll": 9.0, "test_nll": 9.1},
               {"step": 100, "split": "valid", "nll": 8.5, "test_nll": 8.7},
               {"step": 150, "split": "valid", "nll": 8.6, "test_nll": 8.4}]
    assert greff.at_best_valid(records)["test_nll"] == 8.7


def test_paired_comparison_by_hand(greff):
    pytest.importorskip("scipy")
    from scipy.stats import t as student_t

    rows = [{"variant": v, "trial": k, "test_nll": x, "valid_nll": x}
            for v, xs in (("vanilla", [8.6, 8.9, 9.3]), ("NFG", [9.0, 9.2, 9.9])) for k, x in enumerate(xs)]
    stats = {s["variant"]: s for s in greff.compare(rows)}
    d = [0.4, 0.3, 0.6]
    mean = sum(d) / 3
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / 2)
    p = 2 * student_t.sf(mean / (sd / math.sqrt(3)), df=2)
    assert stats["NFG"]["diff_vs_vanilla"] == pytest.approx(mean)
    assert stats["NFG"]["p_value"] == pytest.approx(p, rel=1e-6)
    assert stats["NFG"]["median"] == pytest.approx(9.2) and stats["NFG"]["best_by_valid"] == 9.0
    assert stats["vanilla"]["p_value"] is None


def test_quick_run_writes_table_csv_and_box_plot(tmp_path):
    pytest.importorskip("music21")
    from tests.scores import A_MINOR, C_MAJOR, write_score

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for k in range(3):
        for name, voices in (("major", C_MAJOR), ("minor", A_MINOR)):
            write_score(corpus / f"{name}{k}.musicxml", {p: n * (k + 1) for p, n in voices.items()})
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(EXPERIMENTS / "greff_chorales.py"), "--quick", "--out", str(out),
                           f"data.corpus={corpus}", f"data.cache_dir={tmp_path / 'cache'}"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert [r["variant"] for r in rows] == ["vanilla", "NFG"]
    assert all(math.isfinite(float(r["test_nll"])) and r["steps"] == "2" for r in rows)
    assert (out / "greff_chorales.png").is_file() and "| NFG |" in proc.stdout
    for variant, (name, peepholes) in {"vanilla": ("vanilla", True), "NFG": ("nfg", True)}.items():
        model = yaml.safe_load((out / f"{variant}-trial0" / "config.yaml").read_text())["model"]
        assert (model["variant"], model["peepholes"]) == (name, peepholes)
