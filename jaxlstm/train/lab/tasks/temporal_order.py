"""Temporal order (Hochreiter & Schmidhuber 1997, Exp. 6a): classify the order of two
widely separated symbols X/Y, read at the last step of a 100–110 step sequence.

Fresh training sequences every step; a fixed held-out set. Metric: accuracy of the
4-way classification (Q = XX, R = XY, S = YX, U = YY); chance is 1/4.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jaxlstm.data.temporal_order import CLASSES, SYMBOLS, temporal_order
from jaxlstm.nn.heads import SequenceClassifier
from jaxlstm.train.lab.data_options import Positive, option
from jaxlstm.train.lab.tasks.base import Task, cross_entropy


@dataclass
class TemporalOrderData:
    eval_size: int = option(512, Positive())


def _batch(data) -> dict:
    return {"xs": data.xs, "lengths": data.lengths, "labels": data.labels}


class TemporalOrder(Task):
    name = "temporal_order"
    Data = TemporalOrderData
    monitor = "valid/accuracy"
    monitor_mode = "max"

    def __init__(self, cfg):
        super().__init__(cfg)
        self._eval = [_batch(temporal_order(self.data.eval_size, np.random.default_rng(986)))]

    @classmethod
    def build_model(cls, cfg, dims, rngs):
        return SequenceClassifier(len(CLASSES), in_features=len(SYMBOLS), rngs=rngs,
                                  **cfg.model.encoder_kwargs())

    def train_batch(self, rng, batch_size):
        return _batch(temporal_order(batch_size, rng))

    def eval_batches(self):
        return self._eval

    def loss(self, model, batch, key):
        logits = model(batch["xs"], lengths=batch["lengths"], rngs=key, deterministic=key is None)
        loss, accuracy = cross_entropy(logits, batch["labels"])
        return loss, {"accuracy": accuracy}

    def baseline(self):
        labels = self._eval[0]["labels"]
        majority = np.bincount(labels, minlength=len(CLASSES)).max() / len(labels)
        return {"chance_accuracy": 1.0 / len(CLASSES), "majority_class_accuracy": float(majority)}
