"""The `forecast` task: naive baselines and model metrics in original units against
hand-computed RMSE/MAE on a tiny series, config errors naming the key, and the shipped
config (and the shared-pre-activation ablation script) end to end on tiny sizes."""

import json
import math
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

import jaxlstm.train.lab.tasks.forecast as forecast_module
from jaxlstm.cli import main
from jaxlstm.train.lab.config import ConfigError, load_config
from jaxlstm.train.lab.tasks import get_task
from jaxlstm.train.lab.tasks.forecast import seasonal_naive

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SERIES = 100.0 + np.random.default_rng(3).normal(size=40).cumsum()  # 40 values, in "ppm"


@pytest.fixture
def tiny_task(monkeypatch):
    """Forecast task on SERIES: 50/25/25 % split, windows of 4 inputs and 2 targets, season 3."""
    monkeypatch.setattr(forecast_module, "load_series", lambda name: SERIES.copy())
    cfg = load_config({"task": "forecast", "data": {
        "series": "co2", "input_len": 4, "horizon": 2, "season": 3,
        "train_fraction": 0.5, "valid_fraction": 0.25}})
    return get_task("forecast")(cfg)


def _hand_baselines(part: np.ndarray, input_len=4, horizon=2, season=3):
    """RMSE/MAE of the last-value and seasonal-naive forecasts, one window origin at a time."""
    errors = {"last_value": [], "seasonal_naive": []}
    for origin in range(input_len - 1, len(part) - horizon):  # index of the last input value
        for k in range(1, horizon + 1):
            truth = part[origin + k]
            errors["last_value"].append(part[origin] - truth)
            errors["seasonal_naive"].append(part[origin + k - season * math.ceil(k / season)] - truth)
    return {name: (math.sqrt(np.mean(np.square(e))), np.mean(np.abs(e))) for name, e in errors.items()}


def test_naive_baselines_match_a_hand_computation(tiny_task):
    base = tiny_task.baseline()
    for split, part in (("valid", SERIES[20:30]), ("test", SERIES[30:40])):
        for name, (rmse, mae) in _hand_baselines(part).items():
            assert base[f"{split}_{name}_rmse"] == pytest.approx(rmse, rel=1e-5)
            assert base[f"{split}_{name}_mae"] == pytest.approx(mae, rel=1e-5)


def test_seasonal_naive_beyond_one_season_against_a_loop():
    inputs = np.arange(30.0).reshape(3, 10)
    got = seasonal_naive(inputs, horizon=7, season=3)
    for n in range(3):
        # y_hat_{t+k} = y_{t+k-m*ceil(k/m)}; the last input sits at t = 9
        want = [inputs[n, 9 + k - 3 * math.ceil(k / 3)] for k in range(1, 8)]
        np.testing.assert_array_equal(got[n], want)


def test_model_metrics_are_in_original_units(tiny_task):
    """A model that forecasts "no change" is the last-value forecast: its test RMSE/MAE through
    the task's loss/evaluate (standardised, relative windows) equal the hand-computed ones."""
    def no_change(xs, rngs=None, deterministic=None):
        return jnp.zeros((xs.shape[0], 2))

    metrics = tiny_task.evaluate(no_change, lambda batch: tiny_task.loss(no_change, batch, None))
    hand_test, hand_valid = _hand_baselines(SERIES[30:40]), _hand_baselines(SERIES[20:30])
    assert metrics["test_rmse"] == pytest.approx(hand_test["last_value"][0], rel=1e-4)
    assert metrics["test_mae"] == pytest.approx(hand_test["last_value"][1], rel=1e-4)
    assert metrics["rmse"] == pytest.approx(hand_valid["last_value"][0], rel=1e-4)
    step1 = [SERIES[30 + o] - SERIES[31 + o] for o in range(3, 8)]
    assert metrics["test_rmse_step1"] == pytest.approx(math.sqrt(np.mean(np.square(step1))), rel=1e-4)
    # predictions come back in the series' units: "no change" repeats the last input value
    np.testing.assert_allclose(tiny_task.predict(no_change, "test"),
                               np.repeat(SERIES[33:38, None], 2, axis=1), rtol=1e-6)


@pytest.mark.parametrize("override, key", [
    ("data.series=nile", "data.series"),
    ("data.input_len=0", "data.input_len"),
    ("data.horizon=0", "data.horizon"),
    ("data.season=61", "data.season"),
    ("data.train_fraction=1.2", "data.train_fraction"),
    ("data.valid_fraction=0.4", "data.valid_fraction"),
])
def test_bad_forecast_data_names_the_key(override, key):
    with pytest.raises(ConfigError, match=f"config key {key}"):
        load_config(CONFIGS / "forecast.yaml", [override])


def test_windows_longer_than_a_part_name_the_keys():
    cfg = load_config(CONFIGS / "forecast.yaml",
                      ["data.series=sunspots", "data.input_len=60", "data.season=11"])
    with pytest.raises(ConfigError, match="config keys data.input_len/data.horizon: .*309-value"):
        get_task("forecast")(cfg)


@pytest.mark.slow
def test_forecast_config_smoke_with_inspect(tmp_path):
    overrides = [f"out_dir={tmp_path}", "model.hidden_size=8", "train.steps=4", "train.eval_every=4",
                 "train.checkpoint_every=4", "optim.warmup_steps=2", "data.input_len=16", "data.season=null",
                 "data.horizon=4"]
    assert main(["train", str(CONFIGS / "forecast.yaml"), "--quiet", *overrides]) == 0
    run = tmp_path / "forecast"
    for name in ("summary.json", "metrics.jsonl", "config.yaml", "learning_curves.png", "forecast.png"):
        assert (run / name).is_file(), name
    summary = json.loads((run / "summary.json").read_text())
    final = summary["final"]
    assert {"valid/rmse", "valid/test_rmse", "valid/test_rmse_step1", "valid/test_rmse_step4"} <= set(final)
    assert all(math.isfinite(v) for v in [*final.values(), *summary["baseline"].values()])
    assert (run / "forecast.png").stat().st_size > 10_000
    assert main(["inspect", str(run)]) == 0  # gates over the first held-out window (16 weeks)
    assert (run / "gates.png").is_file()


def test_ablation_script_aggregates_seeds_and_writes_table_and_plot(tmp_path, monkeypatch):
    """The script's table against hand-computed medians; `fit` is replaced by a stand-in whose
    test RMSE depends on the model and seed the script configured (real runs: docs/results.md)."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "experiments" / "ablation_shared_preact.py"
    spec = importlib.util.spec_from_file_location("ablation_shared_preact", path)
    ablation = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ablation)
    rmse = {("lstm", "vanilla"): [0.3, 0.5, 0.4], ("lstm", "shared_preact"): [0.9, 0.7, 0.8],
            ("rnn", "vanilla"): [0.6, 0.6, 0.9]}

    def fake_fit(cfg, quiet=True):
        value = rmse[cfg.model.cell, getattr(cfg.model.spec, "variant", "vanilla")][cfg.train.seed]
        assert cfg.model.hidden_size == 4 and cfg.run_dir.parent == tmp_path
        return {"final": {"valid/test_rmse": value, "valid/test_mae": value / 2}, "param_count": 7,
                "baseline": {"test_last_value_rmse": 0.55, "test_last_value_mae": 0.4,
                             "test_seasonal_naive_rmse": 1.9, "test_seasonal_naive_mae": 1.6}}

    monkeypatch.setattr(ablation, "fit", fake_fit)
    rows = ablation.run_ablation(seeds=3, out_dir=tmp_path, overrides=["model.hidden_size=4"])
    assert [r["model"] for r in rows] == ["lstm (vanilla)", "lstm (shared_preact)", "rnn"]
    assert [r["test_rmse_median"] for r in rows] == pytest.approx([0.4, 0.8, 0.6])
    assert [r["test_rmse_min"] for r in rows] == pytest.approx([0.3, 0.7, 0.6])
    assert [r["test_rmse_max"] for r in rows] == pytest.approx([0.5, 0.9, 0.9])
    table = (tmp_path / "results.md").read_text()
    assert "| lstm (shared_preact) | 7 | 3 | 0.8 | 0.7 | 0.9 | 0.4 |" in table
    assert "| last value (baseline) | 0 | - | 0.55 |" in table
    assert (tmp_path / "ablation.png").stat().st_size > 5_000
