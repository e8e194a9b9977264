"""experiments/poly_music.py on a generated JSB_Chorales.mat: key=value overrides reach every
run wherever they stand on the command line, the table row is the run's best validation
record, and a finished run is read back instead of rerun."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from jaxlstm.train.engine.metrics import read_metrics
from tests.data.test_poly_music import random_pieces, write_mat

pytestmark = pytest.mark.slow  # trains two tiny models: .ci/run's slow tier

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


def _module():
    spec = importlib.util.spec_from_file_location("poly_music", EXPERIMENTS / "poly_music.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_overrides_after_the_cells_reach_the_run_and_the_row_is_the_best_valid(tmp_path):
    rng = np.random.default_rng(0)
    write_mat(tmp_path / "JSB_Chorales.mat", traindata=random_pieces(rng, [12, 9, 15, 10]),
              validdata=random_pieces(rng, [8, 11]), testdata=random_pieces(rng, [9]))
    out = tmp_path / "runs"
    poly = _module()
    argv = ["--data-dir", str(tmp_path), "--benchmarks", "jsb", "--cells", "rnn", "gru",
            "train.steps=4", "train.eval_every=2", "train.checkpoint_every=4",
            "train.batch_size=2", "model.hidden_size=8", "--out", str(out)]
    assert poly.main(argv) == 0
    lines = (out / "results.md").read_text().splitlines()
    assert [line.split(" | ")[1] for line in lines[2:]] == ["rnn", "gru"]
    for cell, line in zip(["rnn", "gru"], lines[2:]):
        run_dir = out / f"jsb_{cell}"
        assert json.loads((run_dir / "summary.json").read_text())["steps"] == 4
        valid = [r for r in read_metrics(run_dir / "metrics.jsonl") if r.get("split") == "valid"]
        best = min(valid, key=lambda r: r["nll"])
        assert [r["step"] for r in valid] == [2, 4]
        assert line.split(" | ")[2] == f"{best['test_nll']:.2f}"
        assert line.split(" | ")[4] == f"{best['step']} / 4"
    before = (out / "jsb_rnn" / "metrics.jsonl").read_text()
    assert poly.main(argv) == 0  # read back, not rerun
    assert (out / "jsb_rnn" / "metrics.jsonl").read_text() == before
