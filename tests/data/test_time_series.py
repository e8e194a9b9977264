"""Series shipped with matplotlib / statsmodels, windowing and chronological standardisation."""

import csv
import sys

import numpy as np
import pytest
from matplotlib import cbook

from jaxlstm.data.series import (
    Standardizer,
    available_series,
    chronological_split,
    forecasting_data,
    load_series,
    windowed,
)


@pytest.mark.parametrize(
    "name, length, first",
    [("goog", 1047, 100.34), ("msft", 65, 25.92), ("eeg", 800, None), ("eeg:3", 800, None),
     ("membrane", 12000, None), ("stocks:AAPL", 390, None), ("sunspots", 309, 5.0), ("co2", 2284, 316.1)],
)
def test_known_lengths_and_values(name, length, first):
    x = load_series(name)
    assert x.shape == (length,) and x.dtype == np.float64 and np.all(np.isfinite(x))
    if first is not None:
        assert x[0] == pytest.approx(first)


def test_msft_is_oldest_first_and_matches_csv():
    with open(cbook.get_sample_data("msft.csv", asfileobj=False), encoding="utf-8") as f:
        rows = [line.strip().split(",") for line in f][1:]
    np.testing.assert_allclose(load_series("msft"), [float(r[-1]) for r in rows][::-1])


def test_stocks_and_eeg_against_raw_files():
    with open(cbook.get_sample_data("Stocks.csv", asfileobj=False), encoding="utf-8") as f:
        rows = list(csv.reader(line for line in f if not line.startswith("#")))
    col = rows[0].index("IBM")
    monthly = [float(r[col]) for r in rows[1:] if r and r[0][-2:] == "01" and r[col]]
    np.testing.assert_allclose(load_series("stocks:IBM"), monthly)
    raw = np.frombuffer(open(cbook.get_sample_data("eeg.dat", asfileobj=False), "rb").read(), "<f8")
    np.testing.assert_array_equal(load_series("eeg:2"), raw[2::4])
    assert "co2" in available_series() and "stocks:^GSPC" in available_series()


def test_bad_names():
    with pytest.raises(ValueError, match="unknown series 'nile'"):
        load_series("nile")
    with pytest.raises(ValueError, match="unknown ticker 'TSLA'"):
        load_series("stocks:TSLA")
    with pytest.raises(ValueError, match="EEG channel must be"):
        load_series("eeg:7")


def test_missing_statsmodels_raises_import_error_naming_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "statsmodels.datasets", None)
    with pytest.raises(ImportError, match=r"jaxlstm\[data\].*pip install statsmodels"):
        load_series("sunspots")
    assert "co2" not in available_series()


def test_windowed_against_loop():
    x = np.arange(10.0) ** 2
    w = windowed(x, input_len=3, horizon=2)
    assert w.inputs.shape == (6, 3, 1) and w.targets.shape == (6, 2)
    assert w.inputs.dtype == w.targets.dtype == np.float32
    for s in range(6):
        np.testing.assert_array_equal(w.inputs[s, :, 0], x[s : s + 3])
        np.testing.assert_array_equal(w.targets[s], x[s + 3 : s + 5])
    assert windowed(x, 3, 2, stride=2).inputs[:, 0, 0].tolist() == [0, 4, 16]
    with pytest.raises(ValueError, match="shorter than input_len \\+ horizon = 12"):
        windowed(x, 10, 2)


def test_chronological_split_and_train_only_standardisation():
    x = np.arange(100.0)
    parts = chronological_split(x, 0.7, 0.15)
    assert [len(p) for p in parts] == [70, 15, 15]
    np.testing.assert_array_equal(np.concatenate(parts), x)
    data = forecasting_data(x, input_len=5, horizon=1)
    assert data.scaler.mean == pytest.approx(34.5) and data.scaler.std == pytest.approx(np.std(np.arange(70.0)))
    raw_train_targets = data.scaler.inverse(data.train.targets)
    assert raw_train_targets.max() == pytest.approx(69.0)           # no window crosses into valid
    assert data.scaler.inverse(data.test.inputs[0, 0, 0]) == pytest.approx(85.0)
    assert data.valid.inputs.shape == (10, 5, 1)
    z = Standardizer.fit([3.0, 3.0])
    assert z.std == 1.0 and z.transform(4.0) == 1.0
    with pytest.raises(ValueError, match="train_fraction"):
        chronological_split(x, 0.9, 0.2)
