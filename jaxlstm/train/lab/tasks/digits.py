"""Sequence classification on real data that ships with scikit-learn: its 8x8 digits.

Each image is read as a sequence, row by row (`data.mode: rows`, 8 steps of 8 pixels)
or pixel by pixel (`pixels`, 64 steps of 1 pixel: a small pixel-MNIST). The 1797
images are split at random (seed `data.split_seed`) into train, valid (monitored,
picks the best checkpoint) and test (reported as `test_*`). The baseline predicts the
training split's most frequent class.
"""

from __future__ import annotations

from dataclasses import dataclass

from jaxlstm.data.batching import random_split
from jaxlstm.data.digits import MODES, load_digits
from jaxlstm.nn.heads import SequenceClassifier
from jaxlstm.train.engine.config_checks import ConfigError
from jaxlstm.train.lab.data_options import Fraction, OneOf, option
from jaxlstm.train.lab.tasks.classification import Classification


def check_split_fractions(data) -> None:
    """Something is left to train on: valid_fraction + test_fraction < 1."""
    if data.valid_fraction + data.test_fraction >= 1.0:
        raise ConfigError(f"config keys data.valid_fraction + data.test_fraction: must be < 1 "
                          f"(something must be left to train on), got {data.valid_fraction} + "
                          f"{data.test_fraction}")


@dataclass
class DigitsDataConfig:
    mode: str = option("rows", OneOf(MODES))
    valid_fraction: float = option(0.15, Fraction())
    test_fraction: float = option(0.15, Fraction())
    split_seed: int = 0

    cross_checks = (check_split_fractions,)


class Digits(Classification):
    name = "digits"
    Data = DigitsDataConfig

    def __init__(self, cfg):
        super().__init__(cfg)
        d = self.data
        images = load_digits(d.mode)
        everything = {"inputs": images.xs, "labels": images.labels}
        held_out = d.valid_fraction + d.test_fraction
        self.train, rest = random_split(everything, 1.0 - held_out, d.split_seed)
        valid, test = random_split(rest, d.valid_fraction / held_out, d.split_seed + 1)
        sizes = [len(p["labels"]) for p in (self.train, valid, test)]
        if min(sizes) == 0:
            raise ConfigError(f"config keys data.valid_fraction/data.test_fraction: every split needs "
                              f"an image, got train/valid/test sizes {sizes}")
        self._valid, self._test = [valid], [test]

    def model_dims(self):
        return {"in_features": int(self.train["inputs"].shape[-1])}

    @classmethod
    def build_model(cls, cfg, dims, rngs):
        return SequenceClassifier(10, in_features=dims["in_features"], rngs=rngs,
                                  **cfg.model.encoder_kwargs())

    def train_batch(self, rng, batch_size):
        return self.train_data(batch_size, 0).draw(rng)

    def train_data(self, batch_size, seed, order="replacement", bucket=False):
        return self.finite_batches(self.train, batch_size, seed, order, bucket)
