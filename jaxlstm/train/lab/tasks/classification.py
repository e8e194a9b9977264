"""`Classification`: what the sequence-classification tasks (digits, imdb,
ts_classification) share — softmax cross-entropy and accuracy on a labelled batch,
metrics on the held-out valid and test splits, and the majority-class baseline.

A subclass loads its data into `self.train` (arrays with "inputs", "labels" (N,) and,
for padded sequences, "lengths"), `self._valid` and `self._test` (lists of such
batches), and builds its model; the accuracy on the valid split is monitored.
"""

from __future__ import annotations

import numpy as np

from jaxlstm.train.lab.tasks.base import Task, cross_entropy, valid_and_test_metrics


def majority_accuracy(train_labels: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy on `labels` of always predicting the most frequent class of `train_labels`
    (ties: the smallest class id)."""
    return float(np.mean(labels == np.bincount(train_labels).argmax()))


class Classification(Task):
    monitor = "valid/accuracy"
    monitor_mode = "max"

    def eval_batches(self):
        return self._valid

    def loss(self, model, batch, key):
        """Mean cross-entropy (nats) of the logits of `model(inputs, lengths=...)` and
        the accuracy, over the batch's sequences."""
        logits = model(batch["inputs"], lengths=batch.get("lengths"), rngs=key,
                       deterministic=key is None)
        loss, accuracy = cross_entropy(logits, batch["labels"])
        return loss, {"accuracy": accuracy}

    def evaluate(self, model, eval_step):
        return valid_and_test_metrics(self._valid, self._test, eval_step)

    def baseline(self):
        """The majority class of the training split, scored on the valid and test splits."""
        labels = {split: np.concatenate([b["labels"] for b in batches])
                  for split, batches in (("valid", self._valid), ("test", self._test))}
        return {f"majority_{split}_accuracy": majority_accuracy(self.train["labels"], y)
                for split, y in labels.items()}
