"""scikit-learn's 8x8 handwritten digits (1797 images, bundled with scikit-learn) as sequences.

Optional dependency: `pip install scikit-learn` (or the `jaxlstm[data]` extra).

mode="rows":   (N, 8, 8)  -- 8 steps, one image row (8 pixels) per step.
mode="pixels": (N, 64, 1) -- 64 steps, one pixel per step in row-major order
               (the small-scale analogue of pixel-by-pixel MNIST).
Pixel intensities 0..16 are scaled to [0, 1].
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

MODES = ("rows", "pixels")


class DigitsData(NamedTuple):
    """xs: (N, 8, 8) or (N, 64, 1) float32 in [0, 1]; labels: (N,) int32 in 0..9."""

    xs: np.ndarray
    labels: np.ndarray


def load_digits(mode: str = "rows") -> DigitsData:
    """The 1797 digit images as sequences (see module docstring for the two modes)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError as err:
        raise ImportError(
            "load_digits needs scikit-learn, which is not installed; "
            "run `pip install scikit-learn` (or install the `jaxlstm[data]` extra)"
        ) from err
    bunch = sk_load_digits()
    images = np.asarray(bunch.images, dtype=np.float32) / 16.0
    labels = np.asarray(bunch.target, dtype=np.int32)
    xs = images if mode == "rows" else images.reshape(len(images), 64, 1)
    return DigitsData(np.ascontiguousarray(xs), labels)
