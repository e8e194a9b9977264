"""`Task`: what an experiment trains on — data, model, loss and evaluation.

The training loop knows nothing task-specific: it asks the task for a model, for
the batch of step s (`train_data(...)(s)`, a pure function of (seed, s), so a resumed
run sees the same batches), for the loss, and for evaluation metrics.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxlstm.data.batches import ORDERS, Batches
from jaxlstm.train.engine.average import Average, mean_over_batches
from jaxlstm.train.engine.config_checks import ConfigError, check_choice

Batch = dict  # str -> np.ndarray with a leading batch axis


class Task:
    """Base class; subclasses set `name`, `Data` and implement the abstract methods.

    Attributes:
      Data: a dataclass of the task's `data:` config section; its fields declare their
        constraints (`jaxlstm.train.lab.data_options.option`).
      monitor: the eval metric that picks the best checkpoint and drives early stopping.
      monitor_mode: "min" or "max".
    """

    name: str = ""
    Data: type = None
    monitor: str = "valid/loss"
    monitor_mode: str = "min"

    def __init__(self, cfg):
        self.cfg = cfg
        self.data = cfg.data

    def model_dims(self) -> dict:
        """The sizes the model takes from the data (vocabulary, features, classes, tag
        names), JSON-able; saved as model.json so `load_model` needs no data. Default: none."""
        return {}

    @classmethod
    def build_model(cls, cfg, dims: dict, rngs: nnx.Rngs) -> nnx.Module:
        """The model of config `cfg` with the data sizes `dims` (`model_dims()`)."""
        raise NotImplementedError

    def make_model(self, rngs: nnx.Rngs) -> nnx.Module:
        return self.build_model(self.cfg, self.model_dims(), rngs)

    def train_batch(self, rng: np.random.Generator, batch_size: int) -> Batch:
        raise NotImplementedError

    def train_data(self, batch_size: int, seed: int, order: str = "replacement",
                   bucket: bool = False) -> Callable[[int], Batch]:
        """The training batches of a run: a function of the step s, pure in (seed, s).

        The default, for tasks that generate fresh examples every step (no finite training
        set), is `train_batch(np.random.default_rng([seed, s]), batch_size)`; it accepts only
        order="replacement" and bucket=False. Tasks with a finite training set return a
        `jaxlstm.data.batches.Batches` (order "replacement" or "epochs", `bucket`).

        Raises:
          ConfigError: naming train.order or train.bucket when the task cannot serve them.
        """
        check_choice("train.order", order, ORDERS)
        if order != "replacement":
            raise ConfigError(f"config key train.order: task {self.name} generates new examples "
                              f"every step (no finite training set to go through in epochs), "
                              f"must be 'replacement', got {order!r}")
        if bucket:
            raise ConfigError(f"config key train.bucket: task {self.name} generates new examples "
                              f"every step (no finite set of lengths to bucket), must be false, "
                              f"got {bucket!r}")
        return lambda step: self.train_batch(np.random.default_rng([seed, step]), batch_size)

    def check_one_length(self, bucket: bool) -> None:
        """ConfigError naming train.bucket when `bucket` is asked of a task whose training
        examples all have one length."""
        if bucket:
            raise ConfigError(f"config key train.bucket: the training examples of task {self.name} "
                              f"all have one length (nothing to bucket), must be false, got {bucket!r}")

    def finite_batches(self, examples, batch_size: int, seed: int, order: str, bucket: bool,
                       **batches_kwargs) -> Batches:
        """`Batches(examples, batch_size, seed=seed, order=order, bucket=bucket, ...)` over the
        task's training set, with config errors naming train.order / train.bucket /
        train.batch_size: bucketing examples without `lengths` (all of one length), or an
        epoch order with fewer examples than a batch."""
        check_choice("train.order", order, ORDERS)
        if batches_kwargs.get("lengths") is None:
            self.check_one_length(bucket)
        n = len(examples) if not isinstance(examples, dict) else len(next(iter(examples.values())))
        if order == "epochs" and batch_size > n and batches_kwargs.get("drop_last", True):
            raise ConfigError(f"config key train.batch_size: must be <= the {n} training examples "
                              f"of task {self.name} with train.order='epochs', got {batch_size}")
        return Batches(examples, batch_size, seed=seed, order=order, bucket=bucket, **batches_kwargs)

    def eval_batches(self) -> list[Batch]:
        raise NotImplementedError

    def loss(self, model: nnx.Module, batch: Batch, key) -> tuple[jax.Array, dict]:
        """(loss, {metric: value}) for one batch, each a scalar or an `Average`; jittable.
        key: dropout key or None."""
        raise NotImplementedError

    def evaluate(self, model: nnx.Module, eval_step: Callable) -> dict:
        """Metrics on the held-out batches; by default the pooled mean of the loss
        metrics (`mean_over_batches`). `eval_step(batch) -> (loss, metrics)` is the jitted
        `loss` in eval mode."""
        return mean_over_batches(self.eval_batches(), eval_step)

    def write_plots(self, model: nnx.Module, run_dir) -> None:
        """Task-specific figures written into `run_dir` at the end of `fit` (e.g. a
        forecast against the truth). The default writes none."""

    def baseline(self) -> dict:
        """Metrics of a trivial predictor on the held-out data, for comparison."""
        return {}



def valid_and_test_metrics(valid: list[Batch], test: list[Batch], eval_step: Callable) -> dict:
    """`mean_over_batches` of the `valid` batches, and those of the `test` batches with their
    names prefixed "test_" (e.g. {"loss", "accuracy", "test_loss", "test_accuracy"})."""
    test_metrics = mean_over_batches(test, eval_step)
    return {**mean_over_batches(valid, eval_step), **{f"test_{k}": v for k, v in test_metrics.items()}}


def cross_entropy(logits: jax.Array, labels: jax.Array, mask=None):
    """Mean softmax cross-entropy (nats) and accuracy: scalars over every position, or,
    with `mask`, `Average`s over the positions where `mask` is true (so evaluation pools
    them over tokens)."""
    logp = jax.nn.log_softmax(logits.astype(jnp.float32))
    nll = -jnp.take_along_axis(logp, labels[..., None], axis=-1)[..., 0]
    correct = (jnp.argmax(logits, -1) == labels).astype(jnp.float32)
    if mask is None:
        return nll.mean(), correct.mean()
    mask = mask.astype(jnp.float32)
    count = mask.sum()
    return Average((nll * mask).sum(), count), Average((correct * mask).sum(), count)
