"""`fit` with `train.order: epochs` trains on every example once per epoch: a 12-example task
records the rows of every step it serves, and the loop's steps are counted against the rule."""

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxlstm.train.lab.config import load_config
from jaxlstm.train.lab.config_run import fit
from jaxlstm.train.lab.tasks import TASKS, Task, register_task


@dataclass
class CountedData:
    n: int = 12


class CountedRows(Task):
    """A linear model on 12 fixed examples; `served[step]` are the example ids of a step."""

    name = "counted_rows"
    Data = CountedData
    built: list = []

    def __init__(self, cfg):
        super().__init__(cfg)
        n = self.data.n
        self.examples = {"id": np.arange(n), "x": np.stack([np.arange(n), np.ones(n)], 1).astype(np.float32)}
        self.served = {}
        CountedRows.built.append(self)

    def make_model(self, rngs):
        return nnx.Linear(2, 1, rngs=rngs)

    def train_data(self, batch_size, seed, order="replacement", bucket=False):
        batches = self.finite_batches(self.examples, batch_size, seed, order, bucket)

        def served(step):
            batch = batches(step)
            self.served[int(step)] = batch["id"].tolist()
            return {"x": batch["x"]}
        return served

    def train_batch(self, rng, batch_size):
        raise AssertionError("the loop asks for train_data")

    def eval_batches(self):
        return [{"x": self.examples["x"]}]

    def loss(self, model, batch, key):
        return jnp.mean(model(batch["x"]) ** 2), {}


if CountedRows.name not in TASKS:
    register_task(CountedRows)


def test_fit_with_epochs_trains_on_each_example_once_per_epoch(tmp_path):
    cfg = load_config({"name": "counted", "task": "counted_rows", "out_dir": str(tmp_path),
                       "optim": {"name": "sgd", "learning_rate": 0.01},
                       "train": {"steps": 9, "batch_size": 4, "eval_every": 9, "log_every": 3,
                                 "checkpoint_every": 9, "progress": False, "seed": 2,
                                 "order": "epochs"}})
    fit(cfg, quiet=True)
    served = CountedRows.built[-1].served
    assert sorted(served) == list(range(9))                          # 3 epochs of 12 // 4 steps
    for epoch in range(3):
        rows = [i for step in range(3 * epoch, 3 * epoch + 3) for i in served[step]]
        np.testing.assert_array_equal(rows, np.random.default_rng([2, epoch]).permutation(12))

