"""The sweep report: per-key CSV columns and the median/min/max over seeds, by hand."""

import csv
import json

import pytest

from jaxlstm.train.lab.sweep import write_sweep_report


def summary(best, steps=10, final=None):
    return {"monitor": "valid/loss", "best": best, "best_step": steps, "steps": steps,
            "param_count": 7, "final": final or {"valid/loss": best + 0.5}}


def runs():
    grid = [({"model.cell": "lstm", "optim.learning_rate": "0.1"}, [0.30, 0.10, 0.20]),
            ({"model.cell": "rnn", "optim.learning_rate": "0.1"}, [0.9, 0.4, 0.5, 1.0])]
    out = []
    for point, bests in grid:
        label = ",".join(f"{k.split('.')[-1]}={v}" for k, v in point.items())
        for seed, best in enumerate(bests):
            out.append({"point": point, "label": label, "seed": seed, "summary": summary(best)})
    return out


def test_median_min_max_over_seeds(tmp_path):
    write_sweep_report(runs(), tmp_path, title="t")
    rows = {r["point"]: r for r in json.loads((tmp_path / "results.json").read_text())["rows"]}
    lstm, rnn = rows["cell=lstm,learning_rate=0.1"], rows["cell=rnn,learning_rate=0.1"]
    # sorted 0.10, 0.20, 0.30: median 0.20; sorted 0.4, 0.5, 0.9, 1.0: median (0.5 + 0.9) / 2
    assert lstm["best valid/loss median"] == pytest.approx(0.20)
    assert (lstm["min"], lstm["max"], lstm["seeds"]) == (pytest.approx(0.10), pytest.approx(0.30), 3)
    assert rnn["best valid/loss median"] == pytest.approx(0.70)
    assert (rnn["min"], rnn["max"], rnn["seeds"]) == (pytest.approx(0.4), pytest.approx(1.0), 4)
    assert rnn["final"]["valid/loss"] == pytest.approx(1.20)
    assert lstm["model.cell"] == "lstm" and lstm["optim.learning_rate"] == "0.1"
    table = (tmp_path / "results.md").read_text()
    assert "| cell=lstm,learning_rate=0.1 | 3 | 0.2 | 0.1 | 0.3 |" in table


def test_csv_has_a_column_per_grid_key(tmp_path):
    write_sweep_report(runs(), tmp_path)
    with open(tmp_path / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:4] == ["point", "model.cell", "optim.learning_rate", "seed"]
    assert [r["model.cell"] for r in rows] == ["lstm"] * 3 + ["rnn"] * 4
    assert {r["optim.learning_rate"] for r in rows} == {"0.1"}
    assert [float(r["best"]) for r in rows[3:]] == [0.9, 0.4, 0.5, 1.0]


def test_results_json_has_provenance(tmp_path):
    write_sweep_report(runs(), tmp_path)
    out = json.loads((tmp_path / "results.json").read_text())
    assert out["grid_keys"] == ["model.cell", "optim.learning_rate"]
    assert set(out["provenance"]) == {"jaxlstm", "git_commit", "git_dirty", "created_utc"}
