"""Early stopping stops, at the evaluation the patience says, and keeps the best step."""

import json

from jaxlstm.train import fit, load_config
from tests.train.scripted_task import scripted_config


def test_stops_after_patience_evaluations_without_improvement(tmp_path):
    # evaluations every 5 steps: 1.0, 0.9 (best, step 10), then 0.95, 0.93, 0.91 — three
    # evaluations in a row that are not below 0.9, so patience 3 stops at step 25.
    cfg = load_config(scripted_config(tmp_path, [1.0, 0.9, 0.95, 0.93, 0.91, 0.1],
                                      early_stopping_patience=3))
    summary = fit(cfg, quiet=True)
    assert summary["stopped_early"] is True
    assert summary["steps"] == 25
    assert summary["best"] == 0.9 and summary["best_step"] == 10
    records = [json.loads(line) for line in (cfg.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert max(r["step"] for r in records) == 25  # nothing trained or logged after the stop
    assert [r["score"] for r in records if r["split"] == "valid"] == [1.0, 0.9, 0.95, 0.93, 0.91]
    kept = {int(p.name) for p in (cfg.run_dir / "checkpoints").iterdir() if p.name.isdigit()}
    assert 25 in kept  # the step it stopped at is saved


def test_an_improvement_resets_the_patience(tmp_path):
    # 0.8 at step 20 beats 0.9 just before the patience (2) runs out: no stop until the
    # two evaluations after it (steps 25, 30) fail to improve.
    cfg = load_config(scripted_config(tmp_path, [1.0, 0.9, 0.95, 0.8, 0.85, 0.85, 0.1],
                                      early_stopping_patience=2))
    summary = fit(cfg, quiet=True)
    assert summary["stopped_early"] is True and summary["steps"] == 30
    assert summary["best"] == 0.8 and summary["best_step"] == 20


def test_without_patience_the_run_goes_to_the_last_step(tmp_path):
    cfg = load_config(scripted_config(tmp_path, [1.0, 2.0, 3.0]))
    summary = fit(cfg, quiet=True)
    assert summary["stopped_early"] is False and summary["steps"] == 40
    assert summary["best"] == 1.0 and summary["best_step"] == 5
