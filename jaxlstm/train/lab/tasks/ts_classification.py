"""Variable-length multivariate time-series classification on UEA/UCR `.ts` data.

Data (`jaxlstm.data.uea`): a set that sktime ships (`data.dataset`, default
JapaneseVowels: 9 speakers, 12 LPC coefficients per frame, 7..29 frames) with the
archive's own train/test split, or any pair of `.ts` files (`data.train_file`,
`data.test_file`). A seeded random `data.valid_fraction` of the training file is held
out for validation (it picks the best checkpoint); the test file is reported as
`test_*`. With `data.standardize`, each feature is shifted and scaled by its mean and
standard deviation over the training part's frames.

Every batch is padded to the longest sequence of the whole set (one shape, one
compilation; with `train.bucket`, training batches of similar lengths are cut to widths
8 * 2^k) and the true lengths go to the encoder (`lengths`: the core's
variable-length path), whose output at each sequence's last valid step (or the mean
over its valid steps, `data.pooling: mean`) feeds a linear softmax classifier.
The baseline predicts the training part's most frequent class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from jaxlstm.data.ragged import pad_frames
from jaxlstm.data.uea import bundled_ts_path, load_ts_pair
from jaxlstm.nn.heads import SequenceClassifier
from jaxlstm.train.engine.config_checks import ConfigError
from jaxlstm.train.lab.data_options import Fraction, OneOf, option
from jaxlstm.train.lab.tasks.classification import Classification


def _check_files(data) -> None:
    if (data.train_file is None) != (data.test_file is None):
        raise ConfigError(f"config keys data.train_file/data.test_file: give both or neither, got "
                          f"train_file={data.train_file!r}, test_file={data.test_file!r}")


@dataclass
class TsClassificationData:
    dataset: str = "JapaneseVowels"
    train_file: Optional[str] = None
    test_file: Optional[str] = None
    valid_fraction: float = option(0.2, Fraction())
    split_seed: int = 0
    standardize: bool = True
    pooling: str = option("last", OneOf(("last", "mean")))

    cross_checks = (_check_files,)


def feature_scaler(xs: list) -> tuple[np.ndarray, np.ndarray]:
    """(mean (D,), std (D,)) over all frames of the sequences `xs` (each (T_i, D)); a
    constant feature gets std 1."""
    frames = np.concatenate(xs).astype(np.float64)
    std = frames.std(0)
    return frames.mean(0), np.where(std > 0, std, 1.0)


class TsClassification(Classification):
    name = "ts_classification"
    Data = TsClassificationData

    def __init__(self, cfg):
        super().__init__(cfg)
        d = self.data
        if d.train_file is not None:
            train_path, test_path = d.train_file, d.test_file
        else:
            try:
                train_path, test_path = (bundled_ts_path(d.dataset, s) for s in ("train", "test"))
            except ValueError as e:
                raise ConfigError(f"config key data.dataset: {e}") from None
        train, test = load_ts_pair(train_path, test_path)
        self.classes = train.classes
        order = np.random.default_rng(d.split_seed).permutation(len(train.xs))
        n_valid = round(d.valid_fraction * len(order))
        if not 0 < n_valid < len(order):
            raise ConfigError(f"config key data.valid_fraction: {d.valid_fraction} of {len(order)} training "
                              f"cases leaves an empty train or valid part")
        valid_idx, train_idx = order[:n_valid], order[n_valid:]
        parts = {"train": ([train.xs[i] for i in train_idx], train.labels[train_idx]),
                 "valid": ([train.xs[i] for i in valid_idx], train.labels[valid_idx]),
                 "test": (test.xs, test.labels)}
        mean, std = feature_scaler(parts["train"][0]) if d.standardize else (0.0, 1.0)
        self.max_length = max(len(x) for xs, _ in parts.values() for x in xs)
        arrays = {}
        for name, (xs, labels) in parts.items():
            inputs, lengths = pad_frames([(x - mean) / std for x in xs], self.max_length)
            arrays[name] = {"inputs": inputs, "lengths": lengths, "labels": labels}
        self.train = arrays["train"]
        self._valid, self._test = [arrays["valid"]], [arrays["test"]]

    def model_dims(self):
        return {"classes": [str(c) for c in self.classes], "in_features": int(self.train["inputs"].shape[-1])}

    @classmethod
    def build_model(cls, cfg, dims, rngs):
        return SequenceClassifier(len(dims["classes"]), in_features=dims["in_features"],
                                  pooling=cfg.data.pooling, rngs=rngs, **cfg.model.encoder_kwargs())

    def train_batch(self, rng, batch_size):
        return self.train_data(batch_size, 0).draw(rng)

    def train_data(self, batch_size, seed, order="replacement", bucket=False):
        """`Batches` of the training cases; with `bucket`, of similar lengths, cut to widths
        8 * 2^k (at most the longest sequence of the whole set)."""
        widths = dict(min_width=8, time_keys=("inputs",)) if bucket else {}
        return self.finite_batches(self.train, batch_size, seed, order, bucket,
                                   lengths=self.train["lengths"], **widths)
