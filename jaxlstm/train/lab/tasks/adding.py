"""The adding problem (Hochreiter & Schmidhuber 1997, Exp. 4).

Fresh training sequences every step (as in the paper); a fixed held-out set. A
sequence counts as correct when |prediction - target| < 0.04. The baseline
always predicts the mean target 0.5 + E[X1 + X2]/4 = 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from jaxlstm.data.adding import TOLERANCE, adding_problem
from jaxlstm.nn.heads import SequenceRegressor
from jaxlstm.train.lab.data_options import AtLeast, option
from jaxlstm.train.lab.tasks.base import Task


@dataclass
class AddingData:
    min_length: int = option(100, AtLeast(10))  # the first mark is among the first ten pairs
    eval_size: int = 512


def _batch(data) -> dict:
    return {"xs": data.xs, "lengths": data.lengths, "targets": data.targets}


class Adding(Task):
    name = "adding"
    Data = AddingData
    monitor = "valid/accuracy"
    monitor_mode = "max"

    def __init__(self, cfg):
        super().__init__(cfg)
        held_out = adding_problem(self.data.eval_size, self.data.min_length, np.random.default_rng(987))
        self._eval = [_batch(held_out)]

    @classmethod
    def build_model(cls, cfg, dims, rngs):
        return SequenceRegressor(2, 1, rngs=rngs, **cfg.model.encoder_kwargs())

    def train_batch(self, rng, batch_size):
        return _batch(adding_problem(batch_size, self.data.min_length, rng))

    def eval_batches(self):
        return self._eval

    def loss(self, model, batch, key):
        pred = model(batch["xs"], lengths=batch["lengths"], rngs=key, deterministic=key is None)[:, 0]
        err = pred - batch["targets"]
        accuracy = (jnp.abs(err) < TOLERANCE).mean()
        return jnp.mean(err ** 2), {"accuracy": accuracy}

    def baseline(self):
        targets = self._eval[0]["targets"]
        return {"mean_predictor_mse": float(np.mean((targets - 0.5) ** 2)),
                "mean_predictor_accuracy": float(np.mean(np.abs(targets - 0.5) < TOLERANCE))}
