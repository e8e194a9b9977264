"""scikit-learn digits as row and pixel sequences."""

import sys

import numpy as np
import pytest
from sklearn.datasets import load_digits as sk_load_digits

from jaxlstm.data.digits import load_digits


def test_rows_and_pixels():
    rows, pixels = load_digits("rows"), load_digits("pixels")
    assert rows.xs.shape == (1797, 8, 8) and pixels.xs.shape == (1797, 64, 1)
    assert rows.xs.dtype == pixels.xs.dtype == np.float32 and rows.labels.dtype == np.int32
    raw = sk_load_digits()
    np.testing.assert_allclose(rows.xs * 16.0, raw.images)
    np.testing.assert_array_equal(pixels.xs[:, :, 0], rows.xs.reshape(1797, 64))
    np.testing.assert_array_equal(pixels.xs[5, 8:16, 0], rows.xs[5, 1])   # row-major pixel order
    assert rows.xs.min() == 0.0 and rows.xs.max() == 1.0
    assert np.bincount(rows.labels).tolist() == np.bincount(raw.target).tolist()


def test_errors(monkeypatch):
    with pytest.raises(ValueError, match="mode must be one of"):
        load_digits("columns")
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match="pip install scikit-learn"):
        load_digits()
