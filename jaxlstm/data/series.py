"""Real univariate time series shipped with installed packages, and forecasting windows.

From matplotlib's bundled sample data (`matplotlib.cbook.get_sample_data`, always
available since matplotlib is a dependency):

  "goog"          Google (GOOG) daily adjusted close, 2004-08-19 .. 2008-10-14, 1047 trading days.
  "msft"          Microsoft (MSFT) daily adjusted close, 2003-06-19 .. 2003-09-19, 65 trading days
                  (the file is newest-first; returned oldest-first).
  "stocks:<T>"    Monthly adjusted close of ticker <T> (IBM, AAPL, MSFT, XRX, AMZN, DELL, GOOGL,
                  ADBE, ^GSPC, ^IXIC) from Stocks.csv, 1990-01 .. 2022-06 (first of each month;
                  months before the listing are absent, the extra 2022-06-28 row is dropped).
  "eeg:<c>"       Channel c in 0..3 of the 4-channel EEG recording of matplotlib's MRI-with-EEG
                  example: 800 samples over 10 s (80 Hz). "eeg" means "eeg:0".
  "membrane"      12000 samples (float32 in the file) of a neuron membrane-potential recording,
                  used in matplotlib's old logo example (sample interval 0.5 ms there).

From statsmodels (optional extra; `pip install "jaxlstm[data]"` or `pip install statsmodels`):

  "sunspots"      Yearly mean sunspot number (Wolfer), 1700 .. 2008, 309 values.
  "co2"           Weekly atmospheric CO2 at Mauna Loa in ppm, 1958-03-29 .. 2001-12-29,
                  2284 values; the 59 missing weeks are filled by linear interpolation.

Forecasting helpers: `chronological_split`, `Standardizer` (fitted on the
training part only) and `windowed` (N, input_len, 1) -> (N, horizon).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from jaxlstm.data.rng import check_positive_int

MATPLOTLIB_SERIES = ("goog", "msft", "stocks:<TICKER>", "eeg:<0-3>", "membrane")
STATSMODELS_SERIES = ("sunspots", "co2")
STOCK_TICKERS = ("IBM", "AAPL", "MSFT", "XRX", "AMZN", "DELL", "GOOGL", "ADBE", "^GSPC", "^IXIC")
_EEG_SHAPE = (800, 4)


def _sample_path(fname: str) -> str:
    from matplotlib import cbook

    return str(cbook.get_sample_data(fname, asfileobj=False))


def _goog() -> np.ndarray:
    with np.load(_sample_path("goog.npz")) as data:
        prices = data["price_data"]
    return prices["adj_close"].astype(np.float64)


def _msft() -> np.ndarray:
    with open(_sample_path("msft.csv"), encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return np.array([float(r["Adj. Close*"]) for r in reversed(rows)], dtype=np.float64)


def _stocks(ticker: str) -> np.ndarray:
    if ticker not in STOCK_TICKERS:
        raise ValueError(
            f"unknown ticker {ticker!r} for 'stocks:<ticker>'; expected one of {STOCK_TICKERS}"
        )
    with open(_sample_path("Stocks.csv"), encoding="utf-8") as f:
        lines = [ln for ln in f if not ln.startswith("#")]
    rows = csv.DictReader(io.StringIO("".join(lines)))
    values = [float(r[ticker]) for r in rows if r["Date"].endswith("-01") and r[ticker]]
    return np.array(values, dtype=np.float64)


def _eeg(channel: str) -> np.ndarray:
    if channel not in ("0", "1", "2", "3"):
        raise ValueError(f"EEG channel must be 0, 1, 2 or 3 ('eeg:<c>'), got {channel!r}")
    data = np.fromfile(_sample_path("eeg.dat"), dtype="<f8")
    if data.size != _EEG_SHAPE[0] * _EEG_SHAPE[1]:
        expected = _EEG_SHAPE[0] * _EEG_SHAPE[1]
        raise ValueError(f"eeg.dat: expected {expected} float64 values, got {data.size}")
    return data.reshape(_EEG_SHAPE)[:, int(channel)].copy()


def _membrane() -> np.ndarray:
    return np.fromfile(_sample_path("membrane.dat"), dtype="<f4").astype(np.float64)


def _statsmodels():
    try:
        import statsmodels.datasets as datasets
    except ImportError as err:
        raise ImportError(
            "the 'sunspots' and 'co2' series need statsmodels, which is not installed; "
            "install the optional extra with `pip install \"jaxlstm[data]\"` "
            "(or `pip install statsmodels`)"
        ) from err
    return datasets


def _sunspots() -> np.ndarray:
    frame = _statsmodels().sunspots.load_pandas().data
    return frame["SUNACTIVITY"].to_numpy(dtype=np.float64)


def _co2() -> np.ndarray:
    values = _statsmodels().co2.load_pandas().data["co2"].to_numpy(dtype=np.float64).copy()
    missing = np.isnan(values)
    idx = np.arange(values.size)
    values[missing] = np.interp(idx[missing], idx[~missing], values[~missing])
    return values


def available_series() -> tuple[str, ...]:
    """Names accepted by `load_series` (statsmodels ones only if it is importable)."""
    names = ["goog", "msft", *(f"stocks:{t}" for t in STOCK_TICKERS)]
    names += [*(f"eeg:{c}" for c in range(4)), "membrane"]
    try:
        _statsmodels()
        names += list(STATSMODELS_SERIES)
    except ImportError:
        pass
    return tuple(names)


def load_series(name: str) -> np.ndarray:
    """The real series `name` as a 1-D float64 array, oldest value first.

    Names (see the module docstring for sources and dates):
      "goog" (1047 daily closes), "msft" (65 daily closes), "stocks:<TICKER>"
      (monthly closes 1990-2022, e.g. "stocks:^GSPC"), "eeg" / "eeg:<0-3>" (800 EEG
      samples at 80 Hz), "membrane" (12000 membrane-potential samples), and with
      statsmodels installed "sunspots" (309 yearly values) and "co2" (2284 weekly ppm).

    Raises ValueError for an unknown name, ImportError naming the `jaxlstm[data]`
    extra for the statsmodels series when statsmodels is missing.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    head, _, arg = name.partition(":")
    if head == "stocks":
        return _stocks(arg)
    if head == "eeg":
        return _eeg(arg or "0")
    loaders = {"goog": _goog, "msft": _msft, "membrane": _membrane, "sunspots": _sunspots, "co2": _co2}
    if name not in loaders:
        raise ValueError(
            f"unknown series {name!r}; expected one of {MATPLOTLIB_SERIES + STATSMODELS_SERIES}"
        )
    return loaders[name]()


class SeriesSplit(NamedTuple):
    """Contiguous chronological parts: train (Ntr,), valid (Nva,), test (Nte,)."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray


def chronological_split(
    series, train_fraction: float = 0.7, valid_fraction: float = 0.15
) -> SeriesSplit:
    """Split a 1-D series in time order: the first `train_fraction`, then valid, then test."""
    series = np.asarray(series)
    if series.ndim != 1:
        raise ValueError(f"series must be 1-D, got shape {series.shape}")
    ok = 0 < train_fraction < 1 and 0 <= valid_fraction < 1 and train_fraction + valid_fraction < 1
    if not ok:
        raise ValueError(
            f"need 0 < train_fraction, 0 <= valid_fraction and train_fraction + valid_fraction < 1, "
            f"got train_fraction={train_fraction}, valid_fraction={valid_fraction}"
        )
    n = series.size
    a = int(round(train_fraction * n))
    b = a + int(round(valid_fraction * n))
    return SeriesSplit(series[:a], series[a:b], series[b:])


@dataclass(frozen=True)
class Standardizer:
    """Affine map x -> (x - mean) / std, fitted on training data only."""

    mean: float
    std: float

    @classmethod
    def fit(cls, train) -> "Standardizer":
        """Mean and standard deviation of `train` (std 1.0 if `train` is constant)."""
        train = np.asarray(train, dtype=np.float64)
        if train.size == 0:
            raise ValueError("cannot fit a Standardizer on an empty array")
        if not np.all(np.isfinite(train)):
            raise ValueError("train contains NaN or infinite values")
        std = float(train.std())
        return cls(float(train.mean()), std if std > 0 else 1.0)

    def transform(self, x) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - self.mean) / self.std

    def inverse(self, z) -> np.ndarray:
        return np.asarray(z, dtype=np.float64) * self.std + self.mean


class Windows(NamedTuple):
    """Sliding windows: inputs (N, input_len, 1) float32, targets (N, horizon) float32."""

    inputs: np.ndarray
    targets: np.ndarray


def windowed(series, input_len: int, horizon: int = 1, stride: int = 1) -> Windows:
    """All windows of a 1-D series x: inputs x[s : s+input_len] and
    targets x[s+input_len : s+input_len+horizon].

    Starts s = 0, stride, ...; N = (len - input_len - horizon) // stride + 1.
    """
    series = np.asarray(series, dtype=np.float64)
    if series.ndim != 1:
        raise ValueError(f"series must be 1-D, got shape {series.shape}")
    input_len = check_positive_int("input_len", input_len)
    horizon = check_positive_int("horizon", horizon)
    stride = check_positive_int("stride", stride)
    span = input_len + horizon
    if series.size < span:
        raise ValueError(f"series of length {series.size} is shorter than input_len + horizon = {span}")
    starts = np.arange(0, series.size - span + 1, stride)
    inputs = series[starts[:, None] + np.arange(input_len)[None, :]]
    targets = series[starts[:, None] + input_len + np.arange(horizon)[None, :]]
    return Windows(inputs[..., None].astype(np.float32), targets.astype(np.float32))


@dataclass(frozen=True)
class ForecastData:
    """Windows of each chronological part, standardised with train statistics."""

    train: Windows
    valid: Windows
    test: Windows
    scaler: Standardizer


def forecasting_data(
    series,
    input_len: int,
    horizon: int = 1,
    *,
    train_fraction: float = 0.7,
    valid_fraction: float = 0.15,
) -> ForecastData:
    """Split chronologically, fit the Standardizer on train only, and window each part separately
    (no window crosses a split boundary). Targets are standardised too; use `scaler.inverse`."""
    parts = chronological_split(series, train_fraction, valid_fraction)
    scaler = Standardizer.fit(parts.train)
    windows = [windowed(scaler.transform(p), input_len, horizon) for p in parts]
    return ForecastData(*windows, scaler)
