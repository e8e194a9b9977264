"""A task whose validation metric follows a script, for testing the loop's decisions.

`scripted_scores` trains a 2x1 linear model on constant data (so it compiles in well
under a second) and reports `valid/score` = `data.scores[k]` at its k-th evaluation
(the last value repeats), whatever the model does. Early stopping, best-checkpoint
choice and the progress/metric writers can then be checked against values written in
the test.
"""

from dataclasses import dataclass, field

import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxlstm.train.lab.tasks import TASKS, Task, register_task


@dataclass
class ScriptedData:
    scores: list[float] = field(default_factory=lambda: [1.0])


class ScriptedScores(Task):
    name = "scripted_scores"
    Data = ScriptedData
    monitor = "valid/score"
    monitor_mode = "min"

    def __init__(self, cfg):
        super().__init__(cfg)
        self.evaluations = 0

    def make_model(self, rngs):
        return nnx.Linear(2, 1, rngs=rngs)

    def train_batch(self, rng, batch_size):
        return {"x": np.ones((batch_size, 2), np.float32), "y": np.zeros((batch_size, 1), np.float32)}

    def eval_batches(self):
        return [self.train_batch(None, 4)]

    def loss(self, model, batch, key):
        loss = jnp.mean((model(batch["x"]) - batch["y"]) ** 2)
        return loss, {}

    def evaluate(self, model, eval_step):
        scores = self.data.scores
        score = scores[min(self.evaluations, len(scores) - 1)]
        self.evaluations += 1
        return {"score": float(score)}


if ScriptedScores.name not in TASKS:
    register_task(ScriptedScores)


def scripted_config(tmp_path, scores, **train):
    """A config dict for `scripted_scores` with `train` keys over small defaults."""
    base = dict(steps=40, batch_size=4, eval_every=5, log_every=5, checkpoint_every=40,
                progress=False)
    return {"name": "scripted", "task": "scripted_scores", "out_dir": str(tmp_path / "runs"),
            "optim": {"name": "sgd", "learning_rate": 0.01},
            "train": {**base, **train}, "data": {"scores": list(scores)}}
