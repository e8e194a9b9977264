"""Forecasting a real series (seed 001's sequence prediction, with an LSTM in place of its RNN).

The series (`data.series`, default statsmodels' weekly Mauna Loa CO2) is split in time
order into train, valid (monitored) and test (reported as `test_*`), standardised with
the training part's mean and standard deviation, and cut into windows of `data.input_len`
values followed by the `data.horizon` values to forecast (no window crosses a split).

Each window is taken relative to its last input value: the model reads x_t - x_last and
forecasts y_{t+k} - x_last, k = 1..H. A trending series (CO2 rises every year) leaves the
training range in its held-out part; relative windows look the same there, so the model
need not extrapolate a level it never saw.

Metrics are in the series' original units (ppm for CO2): RMSE and MAE over all H steps,
and for H > 1 the RMSE of the first and of the last step. The baselines forecast the
last value (y_hat_{t+k} = x_last) and, with `data.season` = m, the seasonal naive
y_hat_{t+k} = y_{t+k-m*ceil(k/m)}, read from the same input window (so m <= input_len).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import jax.numpy as jnp
import numpy as np

from jaxlstm.data.series import Windows, available_series, forecasting_data, load_series
from jaxlstm.nn.heads import SequenceRegressor
from jaxlstm.train.engine.average import mean_over_batches
from jaxlstm.train.engine.config_checks import ConfigError
from jaxlstm.train.lab.data_options import Fraction, OneOf, Positive, option
from jaxlstm.train.lab.tasks.base import Task


def _check_valid_fraction(data) -> None:
    if not 0.0 < data.valid_fraction < 1.0 - data.train_fraction:
        raise ConfigError(f"config key data.valid_fraction: must lie in (0, 1 - data.train_fraction = "
                          f"{1.0 - data.train_fraction:.4g}), got {data.valid_fraction}")


def _check_season(data) -> None:
    if data.season is not None and not 1 <= data.season <= data.input_len:
        raise ConfigError(f"config key data.season: must lie in [1, data.input_len = {data.input_len}] "
                          f"(the seasonal naive forecast reads the input window), got {data.season}")


@dataclass
class ForecastDataConfig:
    series: str = option("co2", OneOf(available_series))
    input_len: int = option(60, Positive())
    horizon: int = option(1, Positive())
    train_fraction: float = option(0.7, Fraction())
    valid_fraction: float = 0.15
    season: Optional[int] = None

    cross_checks = (_check_valid_fraction, _check_season)


def seasonal_naive(inputs: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """(N, L) windows -> (N, horizon) forecasts y_hat_{t+k} = y_{t+k-m*ceil(k/m)}, i.e.
    input index L - m + ((k - 1) mod m) for step k = 1..horizon; m = season <= L."""
    length = inputs.shape[1]
    return inputs[:, length - season + np.arange(horizon) % season]


def _relative(w: Windows) -> dict:
    """Model batch of level windows: inputs and targets minus the window's last input value."""
    last = w.inputs[:, -1, :]
    return {"xs": w.inputs - last[:, None, :], "targets": w.targets - last}


class Forecast(Task):
    name = "forecast"
    Data = ForecastDataConfig
    monitor = "valid/rmse"
    monitor_mode = "min"

    def __init__(self, cfg):
        super().__init__(cfg)
        d = self.data
        series = load_series(d.series)
        try:
            data = forecasting_data(series, d.input_len, d.horizon, train_fraction=d.train_fraction,
                                    valid_fraction=d.valid_fraction)
        except ValueError as e:
            raise ConfigError(f"config keys data.input_len/data.horizon: every part of the "
                              f"{len(series)}-value series {d.series!r} must hold at least one "
                              f"window: {e}") from None
        self.scaler = data.scaler
        self.windows = {"train": data.train, "valid": data.valid, "test": data.test}
        self.train = _relative(data.train)
        self._valid, self._test = [_relative(data.valid)], [_relative(data.test)]

    @classmethod
    def build_model(cls, cfg, dims, rngs):
        return SequenceRegressor(1, cfg.data.horizon, rngs=rngs, **cfg.model.encoder_kwargs())

    def train_batch(self, rng, batch_size):
        return self.train_data(batch_size, 0).draw(rng)

    def train_data(self, batch_size, seed, order="replacement", bucket=False):
        return self.finite_batches(self.train, batch_size, seed, order, bucket)

    def eval_batches(self):
        return self._valid

    def loss(self, model, batch, key):
        """Mean squared error in standardised units; metrics in the series' own units."""
        err = model(batch["xs"], rngs=key, deterministic=key is None) - batch["targets"]
        std = self.scaler.std
        metrics = {"mse": jnp.mean(err ** 2) * std ** 2, "mae": jnp.mean(jnp.abs(err)) * std}
        if self.data.horizon > 1:
            metrics["mse_step1"] = jnp.mean(err[:, 0] ** 2) * std ** 2
            metrics[f"mse_step{self.data.horizon}"] = jnp.mean(err[:, -1] ** 2) * std ** 2
        return jnp.mean(err ** 2), metrics

    def evaluate(self, model, eval_step):
        def in_units(m: dict, prefix: str) -> dict:
            out = {f"{prefix}{k.replace('mse', 'rmse')}": math.sqrt(v) for k, v in m.items() if "mse" in k}
            return {**out, f"{prefix}mae": m["mae"]}

        valid, test = mean_over_batches(self._valid, eval_step), mean_over_batches(self._test, eval_step)
        valid_metrics = {"loss": valid["loss"], "rmse": math.sqrt(valid["mse"]), "mae": valid["mae"]}
        return {**valid_metrics, **in_units(test, "test_")}

    def predict(self, model, split: str = "test") -> np.ndarray:
        """(N, horizon) forecasts of `split`'s windows in the series' original units."""
        w = self.windows[split]
        relative = np.asarray(model(jnp.asarray(_relative(w)["xs"]), deterministic=True))
        return self.scaler.inverse(relative + w.inputs[:, -1, :])

    def baseline(self):
        out = {}
        for split in ("valid", "test"):
            w = self.windows[split]
            truth = self.scaler.inverse(w.targets)
            inputs = self.scaler.inverse(w.inputs[..., 0])
            forecasts = {"last_value": np.repeat(inputs[:, -1:], self.data.horizon, axis=1)}
            if self.data.season is not None:
                forecasts["seasonal_naive"] = seasonal_naive(inputs, self.data.horizon, self.data.season)
            for name, f in forecasts.items():
                out[f"{split}_{name}_rmse"] = float(np.sqrt(np.mean((f - truth) ** 2)))
                out[f"{split}_{name}_mae"] = float(np.mean(np.abs(f - truth)))
        return out

    def write_plots(self, model, run_dir):
        w = self.windows["test"]
        truth = self.scaler.inverse(np.concatenate([w.inputs[0, :, 0], w.targets[:, 0], w.targets[-1, 1:]]))
        pred = self.predict(model, "test")
        rmse = float(np.sqrt(np.mean((pred - self.scaler.inverse(w.targets)) ** 2)))
        base = self.baseline()
        title = (f"{self.cfg.name}: {self.data.series}, test part; RMSE {rmse:.3g} "
                 f"(last value {base['test_last_value_rmse']:.3g}"
                 + (f", seasonal naive {base['test_seasonal_naive_rmse']:.3g}" if self.data.season else "")
                 + ")")
        plot_forecast(truth, w.inputs.shape[1], pred, run_dir / "forecast.png", title=title)


def plot_forecast(truth: np.ndarray, start: int, pred: np.ndarray, path, title: str = "") -> None:
    """forecast.png: the truth (T,), the one-step-ahead forecasts pred[:, 0] at indices
    start, start + 1, ..., and (H > 1) every H-th window's whole H-step forecast."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n, horizon = pred.shape
    fig, ax = plt.subplots(figsize=(10, 3.8))
    ax.plot(np.arange(len(truth)), truth, color="black", lw=1.2, label="truth")
    ax.plot(start + np.arange(n), pred[:, 0], color="tab:blue", lw=1, label="1-step forecast")
    if horizon > 1:
        for i in range(0, n, horizon):
            ax.plot(start + i + np.arange(horizon), pred[i], color="tab:orange", lw=1,
                    label=f"{horizon}-step forecast" if i == 0 else None)
    ax.axvline(start - 0.5, color="gray", ls=":", lw=1)
    ax.set_xlabel("time step in the test part (the first input window is left of the dotted line)")
    ax.set_title(title, fontsize=9), ax.legend(fontsize=8), ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
