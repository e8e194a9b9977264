"""Continual embedded Reber grammar without state resets (Gers, Schmidhuber & Cummins 2000).

The input is an unsegmented stream of embedded Reber strings; at every step the net
predicts the set of legal next symbols (7 sigmoid outputs, binary cross-entropy
against the multi-hot target). The state is never reset inside a stream, so a cell
must learn to forget what one string left behind before the next begins.

Training windows of `data.train_length` steps are cut, at string starts (drawn anew each
step, or each start once per epoch with `train.order: epochs`), from one long
pre-generated stream (`data.pool_symbols` symbols); evaluation runs on
`data.eval_streams` fresh streams of `data.eval_length` steps, much longer than the
training windows.

A prediction is correct when the legal next symbols are the top-scoring ones: every
legal symbol scores higher than every illegal one (`jaxlstm.data.reber.topk_correct`).
Metrics:
  step_accuracy         fraction of correct steps
  string_accuracy       fraction of complete strings with every step correct (the
                        last string of a stream, which may be cut off, is left out)
  strings_before_error  complete strings predicted before a stream's first error
                        (Gers et al.'s measure), averaged over streams
  stream_accuracy       fraction of streams with no error at all
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxlstm.data.reber import SYMBOL_ID, SYMBOLS, continual_reber
from jaxlstm.nn.heads import SequenceLabeler
from jaxlstm.train.engine.config_checks import ConfigError
from jaxlstm.train.lab.data_options import Positive, option
from jaxlstm.train.lab.tasks.base import Task

_B, _E, _T, _P = (SYMBOL_ID[s] for s in "BETP")


def _check_pool(data) -> None:
    if data.pool_symbols < 2 * data.train_length:
        raise ConfigError(f"config key data.pool_symbols: must be >= 2 * data.train_length = "
                          f"{2 * data.train_length}, got {data.pool_symbols}")


@dataclass
class ReberContinualData:
    train_length: int = option(300, Positive())
    eval_length: int = option(3000, Positive())
    eval_streams: int = option(16, Positive())
    pool_symbols: int = 100_000

    cross_checks = (_check_pool,)


def string_starts(xs) -> jax.Array:
    """(N, T) bool: input step t begins a new embedded string, i.e. t = 0 or the outer
    E at t - 1 is followed by B. (An inner string's E is followed by T or P, never B.)

    xs: (N, T, 7) one-hot symbols in the order of `jaxlstm.data.reber.SYMBOLS`.
    """
    is_b, is_e = xs[..., _B] > 0.5, xs[..., _E] > 0.5
    after_e = jnp.concatenate([jnp.ones_like(is_e[:, :1]), is_e[:, :-1]], axis=1)
    return is_b & after_e


def topk_correct(scores, legal) -> jax.Array:
    """(...,) bool: every legal symbol scores higher than every illegal one.

    scores: (..., 7); legal: (..., 7) multi-hot.
    """
    legal = legal > 0.5
    lowest_legal = jnp.where(legal, scores, jnp.inf).min(-1)
    highest_illegal = jnp.where(legal, -jnp.inf, scores).max(-1)
    return lowest_legal > highest_illegal


def stream_metrics(correct, xs) -> dict:
    """The per-string and per-stream measures of a batch of streams.

    correct: (N, T) bool, step t predicted correctly; xs: (N, T, 7) one-hot inputs.
    Returns scalars: step_accuracy, string_accuracy, strings_before_error, stream_accuracy.
    """
    n, steps = correct.shape
    string_id = jnp.cumsum(string_starts(xs), axis=1) - 1                   # (N, T)
    complete = string_id[:, -1]                                             # strings before the last
    errors = jax.ops.segment_sum((~correct).astype(jnp.int32).ravel(),
                                 (string_id + steps * jnp.arange(n)[:, None]).ravel(),
                                 num_segments=n * steps).reshape(n, steps)  # errors of string k
    is_complete = jnp.arange(steps)[None, :] < complete[:, None]
    strings = jnp.maximum(is_complete.sum(), 1)
    first_error = jnp.where(correct, steps, string_id).min(axis=1)
    return {"step_accuracy": correct.mean(),
            "string_accuracy": (is_complete & (errors == 0)).sum() / strings,
            "strings_before_error": jnp.minimum(first_error, complete).mean(),
            "stream_accuracy": correct.all(axis=1).mean()}


class ReberContinual(Task):
    name = "reber_continual"
    Data = ReberContinualData
    monitor = "valid/string_accuracy"
    monitor_mode = "max"

    def __init__(self, cfg):
        super().__init__(cfg)
        d = self.data
        pool = continual_reber(1, d.pool_symbols, np.random.default_rng(984))
        self._pool_xs, self._pool_targets = pool.xs[0], pool.targets[0]
        starts = np.flatnonzero(np.asarray(string_starts(pool.xs))[0])
        self._starts = starts[starts + d.train_length <= d.pool_symbols]
        held_out = continual_reber(d.eval_streams, d.eval_length, np.random.default_rng(985))
        self._eval = [{"xs": held_out.xs, "targets": held_out.targets}]

    @classmethod
    def build_model(cls, cfg, dims, rngs):
        return SequenceLabeler(len(SYMBOLS), in_features=len(SYMBOLS), rngs=rngs,
                               **cfg.model.encoder_kwargs())

    def train_batch(self, rng, batch_size):
        return self.train_data(batch_size, 0).draw(rng)

    def train_data(self, batch_size, seed, order="replacement", bucket=False):
        """`Batches` over the string starts of the pool; a batch holds the windows of
        data.train_length steps from its starts (every start once per epoch with "epochs")."""
        return self.finite_batches({"start": self._starts}, batch_size, seed, order, bucket,
                                   collate=self._windows)

    def _windows(self, rows: dict, width, rng) -> dict:
        """{"xs" (B, T, 7), "targets" (B, T, 7)}: the pool's windows from rows["start"] (B,)."""
        window = rows["start"][:, None] + np.arange(self.data.train_length)[None, :]
        return {"xs": self._pool_xs[window], "targets": self._pool_targets[window]}

    def eval_batches(self):
        return self._eval

    def loss(self, model, batch, key):
        scores = model(batch["xs"], rngs=key, deterministic=key is None)
        loss = optax.sigmoid_binary_cross_entropy(scores, batch["targets"]).sum(-1).mean()
        return loss, stream_metrics(topk_correct(scores, batch["targets"]), batch["xs"])

    def write_plots(self, model, run_dir) -> None:
        """stream.png: along the first held-out stream, the largest |cell state| over the
        units (LSTM only) and the steps predicted wrongly. Without a forget gate nothing
        but the input gate can stop the cell state from drifting as strings accumulate."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        xs, targets = self._eval[0]["xs"][:1], self._eval[0]["targets"][:1]
        wrong = np.flatnonzero(~np.asarray(topk_correct(model(xs, deterministic=True), targets))[0])
        fig, ax = plt.subplots(figsize=(9, 3.2))
        if self.cfg.model.cell == "lstm":
            cells = np.asarray(model.encoder.gate_traces(jnp.asarray(xs[0]))[-1].c)
            ax.plot(np.abs(cells).max(axis=1), lw=0.7, label="max over units of |c_t| (last layer)")
        ax.plot(wrong, np.zeros(len(wrong)), "|", color="red", ms=14, label=f"wrong prediction ({len(wrong)})")
        ax.set_xlabel("step of the stream (no state reset)"), ax.grid(alpha=0.3), ax.legend(loc="upper left")
        model_cfg = self.cfg.model
        ax.set_title(f"continual embedded Reber, held-out stream: {model_cfg.cell} "
                     f"{getattr(model_cfg.spec, 'variant', '')}".rstrip())
        fig.tight_layout()
        fig.savefig(Path(run_dir) / "stream.png", dpi=100)
        plt.close(fig)

    def baseline(self):
        """A predictor that knows the grammar but not which branch (T or P) the string
        took: it errs exactly at each inner E, where the branch symbol must be recalled."""
        xs, targets = self._eval[0]["xs"], self._eval[0]["targets"]
        recall = (xs[..., _E] > 0.5) & ((targets[..., _T] + targets[..., _P]) > 0.5)
        return {"no_branch_memory_step_accuracy": float(1.0 - recall.mean()),
                "no_branch_memory_string_accuracy": 0.0}
