"""Polyphonic music modelling on piano rolls (Boulanger-Lewandowski et al. 2012; one of the
three tasks of Greff et al. 2015): predict frame t + 1 of a piece from frames 0..t.

Data, one of two sources of multi-hot (T, 88) piano rolls:
- `data.path` set: one of the four standard benchmarks (JSB Chorales, Nottingham,
  MuseData, Piano-midi) from its .mat file, with the published train/valid/test split
  (`jaxlstm.data.poly_music`); the results the papers report are on these.
- `data.path` null (default): Bach chorales from music21's corpus (`data.corpus: bach`)
  or from a folder of score files (`jaxlstm.data.chorales`), one frame per quarter note,
  transposed to C major / C minor, with a fixed seeded split of the pieces (not the
  published JSB split, so its numbers are not comparable with the papers').

Training batches (`jaxlstm.data.batches.Batches`): with `train.order: replacement`, B pieces
drawn with replacement, each with probability 1/N per draw; with `epochs`, every piece once
per epoch. Each batch is padded to 64 * 2^k steps (few batch shapes, few compilations).
With `data.length_grouped` (default) or `train.bucket`, the pieces of a batch have similar
lengths, so little compute goes to padding: all B drawn from one group of pieces that pad
to the same length (replacement), or sorted by length within pools of batches (epochs).
`data.max_train_steps` trains on random windows of at most that many steps of longer
pieces (the model starts from a zero state at the window's start);
`data.input_noise` adds Gaussian noise to the inputs. Valid and test are each one batch,
padded to one length (one compilation); with `data.path`, each held-out split is a few
batches, its pieces grouped by the padded width MIN_WIDTH * 2^k of their length (the
long pieces of MuseData or Piano-midi would otherwise pad every piece to thousands of
steps); the pooled metrics over those batches are the same exact split averages.

Model: the recurrent encoder reads frames x_0..x_{T-2}; a linear layer gives 88 logits
z_t per step, and key k of frame t + 1 is on with probability sigmoid(z_{t,k}).

Metric, in nats per frame (the papers' unit):
  nll = sum over sequences b and predicted frames t < T_b - 1 of
          sum_k -[y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))]
        / (number of predicted frames)
i.e. the Bernoulli negative log-likelihood summed over the 88 keys and averaged over the
valid frames of the whole split (not over sequences). `nll_seq` is the mean over
sequences of each sequence's own frame average (the convention of Bai et al.'s code);
`frame_accuracy` is TP / (TP + FP + FN) over all keys and frames with the keys thresholded
at probability 0.5 (Bay et al. 2009; not the expected accuracy of Boulanger-Lewandowski).
Each held-out split is evaluated as one batch, so both are exact.

Baselines: every key on with probability 1/2 (88 ln 2 = 61.0 nats, the papers' "random"
row) and each key on with its add-one-smoothed frequency in the training frames
(p_k = (count_k + 1) / (frames + 2)), independent of the past.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxlstm.data.batches import bucket_width
from jaxlstm.data.chorales import NUM_KEYS, load_chorales, split_indices
from jaxlstm.data.poly_music import load_poly_music
from jaxlstm.data.ragged import pad_frames
from jaxlstm.nn.heads import SequenceRegressor
from jaxlstm.train.engine.average import Average
from jaxlstm.train.engine.config_checks import ConfigError
from jaxlstm.train.lab.data_options import Fraction, Positive, option
from jaxlstm.train.lab.tasks.base import Task, valid_and_test_metrics


def _check_split_fractions(data) -> None:
    if data.valid_fraction + data.test_fraction >= 1.0:
        raise ConfigError(f"config keys data.valid_fraction + data.test_fraction: must be < 1, got "
                          f"{data.valid_fraction} + {data.test_fraction}")


@dataclass
class PolyphonicData:
    path: Optional[str] = None        # a benchmark's .mat file (jaxlstm.data.poly_music): its split
    corpus: str = "bach"              # "bach": music21's Bach corpus; else a folder of score files
    frame_ql: float = option(1.0, Positive())  # quarter lengths per frame
    transpose: bool = True            # to C major / C minor
    valid_fraction: float = option(0.2, Fraction())
    test_fraction: float = option(0.2, Fraction())
    split_seed: int = 0
    input_noise: float = option(0.0, Positive(allow_zero=True))  # std of Gaussian noise added to training inputs (Greff et al.)
    length_grouped: bool = True       # training batches of pieces of similar length (as train.bucket)
    max_train_steps: Optional[int] = option(None, Positive())  # train on random windows of at most this many steps
    cache_dir: Optional[str] = None   # None: $JAXLSTM_CACHE_DIR or ~/.cache/jaxlstm

    cross_checks = (_check_split_fractions,)


def next_frame_batch(rolls: list, length: Optional[int] = None) -> dict:
    """Rolls (T_i, 88) -> {"inputs" (N, L, 88) float32: frames 0..T_i-2, "targets" (N, L, 88)
    float32: frames 1..T_i-1, "lengths" (N,) int32: T_i - 1}, zero-padded to L (None: the
    longest T_i - 1)."""
    inputs, lengths = pad_frames([r[:-1] for r in rolls], length)
    targets, _ = pad_frames([r[1:] for r in rolls], inputs.shape[1])
    return {"inputs": inputs, "targets": targets, "lengths": lengths}


MIN_WIDTH = 64  # the shortest padded length of a training batch; lengths double from it


def width_grouped_batches(rolls: list) -> list[dict]:
    """`next_frame_batch`es of `rolls` (T_i, 88), one per padded width: the pieces whose
    T_i - 1 predicted frames pad to the same MIN_WIDTH * 2^k form one batch of that width,
    in order of width; the first batch holds the first piece of `rolls` of its width."""
    widths = [bucket_width(len(r) - 1, MIN_WIDTH) for r in rolls]
    return [next_frame_batch([r for r, w in zip(rolls, widths) if w == width], width)
            for width in sorted(set(widths))]


def random_window(rng: np.random.Generator, roll: np.ndarray, max_steps: int) -> np.ndarray:
    """`roll` if it has at most max_steps + 1 frames, else max_steps + 1 consecutive frames
    of it from a uniformly drawn start."""
    if len(roll) <= max_steps + 1:
        return roll
    start = int(rng.integers(0, len(roll) - max_steps))
    return roll[start:start + max_steps + 1]


def bernoulli_nll_terms(logits: jax.Array, targets: jax.Array, lengths: jax.Array):
    """(per-sequence summed NLL (B,), predicted frames per sequence (B,), TP, FP, FN) of
    logits and 0/1 targets (B, T, K) over the steps t < lengths[b]."""
    mask = (jnp.arange(logits.shape[1])[None, :] < lengths[:, None]).astype(jnp.float32)
    per_frame = optax.sigmoid_binary_cross_entropy(logits.astype(jnp.float32), targets).sum(-1)
    on = (logits > 0).astype(jnp.float32) * mask[..., None]
    truth = targets * mask[..., None]
    tp = (on * truth).sum()
    return ((per_frame * mask).sum(1), mask.sum(1), tp, on.sum() - tp, truth.sum() - tp)


def marginal_nll(train_targets: np.ndarray, targets: np.ndarray) -> float:
    """Mean over the frames (F, K) of `targets` of -sum_k log Bernoulli(y_k; p_k), where
    p_k = (count of key k in `train_targets` + 1) / (training frames + 2)."""
    p = (train_targets.sum(0) + 1.0) / (len(train_targets) + 2.0)
    logp = targets * np.log(p) + (1 - targets) * np.log1p(-p)
    return float(-logp.sum(1).mean())


class Polyphonic(Task):
    name = "polyphonic"
    Data = PolyphonicData
    monitor = "valid/nll"
    monitor_mode = "min"

    def __init__(self, cfg):
        super().__init__(cfg)
        d = self.data
        if d.path is not None:
            self._load_benchmark(d.path)
            return
        self.corpus = load_chorales(None if d.corpus == "bach" else d.corpus, frame_ql=d.frame_ql,
                                    transpose=d.transpose, cache_dir=d.cache_dir)
        usable = [i for i, r in enumerate(self.corpus.rolls) if len(r) >= 2]
        parts = split_indices(len(usable), valid_fraction=d.valid_fraction,
                              test_fraction=d.test_fraction, seed=d.split_seed)
        self.split = {k: [usable[i] for i in v] for k, v in parts.items()}
        sizes = {k: len(v) for k, v in self.split.items()}
        if min(sizes.values()) == 0:
            raise ConfigError(f"config keys data.corpus/data.valid_fraction/data.test_fraction: every "
                              f"split needs a piece of >= 2 frames, got sizes {sizes}")
        self.train = self.corpus.subset(self.split["train"])
        held_out = {k: self.corpus.subset(self.split[k]) for k in ("valid", "test")}
        longest = max(len(r) - 1 for rolls in held_out.values() for r in rolls)
        self._valid, self._test = ([next_frame_batch(held_out[k], longest)] for k in ("valid", "test"))
        self.plotted_test_piece = self.corpus.names[self.split["test"][0]]

    def _load_benchmark(self, path):
        """The published split of a benchmark's .mat file; pieces of < 2 frames (nothing to
        predict) are dropped."""
        splits = {k: [r for r in v if len(r) >= 2] for k, v in load_poly_music(path).items()}
        empty = [k for k, v in splits.items() if not v]
        if empty:
            raise ConfigError(f"config key data.path: every split of {path} needs a piece of >= 2 "
                              f"frames, got none in {empty}")
        self.train = splits["train"]
        self._valid, self._test = (width_grouped_batches(splits[k]) for k in ("valid", "test"))
        widths = [bucket_width(len(r) - 1, MIN_WIDTH) for r in splits["test"]]
        self.plotted_test_piece = f"{widths.index(min(widths))} of {Path(path).name}"

    @classmethod
    def build_model(cls, cfg, dims, rngs):
        return SequenceRegressor(NUM_KEYS, NUM_KEYS, per_step=True, rngs=rngs,
                                 **cfg.model.encoder_kwargs())

    def train_batch(self, rng, batch_size):
        return self.train_data(batch_size, 0).draw(rng)

    def train_data(self, batch_size, seed, order="replacement", bucket=False):
        """`Batches` of the training pieces, each batch padded to MIN_WIDTH * 2^k steps;
        grouped by length with `bucket` or `data.length_grouped`."""
        steps = np.array([len(r) - 1 for r in self.train])
        if self.data.max_train_steps is not None:
            steps = np.minimum(steps, self.data.max_train_steps)
        return self.finite_batches(self.train, batch_size, seed, order,
                                   bucket or self.data.length_grouped, lengths=steps,
                                   min_width=MIN_WIDTH, collate=self._collate)

    def _collate(self, rolls: list, width: int, rng: np.random.Generator) -> dict:
        """The next-frame batch of `rolls` (windows of them with data.max_train_steps),
        padded to `width` steps, with data.input_noise added to the inputs."""
        if self.data.max_train_steps is not None:
            rolls = [random_window(rng, r, self.data.max_train_steps) for r in rolls]
        batch = next_frame_batch(rolls, width)
        if self.data.input_noise > 0:
            noise = rng.normal(0.0, self.data.input_noise, batch["inputs"].shape)
            batch["inputs"] += noise.astype(np.float32)
        return batch

    def eval_batches(self):
        return self._valid

    def loss(self, model, batch, key):
        logits = model(batch["inputs"], lengths=batch["lengths"], rngs=key,
                       deterministic=key is None)
        nll, frames, tp, fp, fn = bernoulli_nll_terms(logits, batch["targets"], batch["lengths"])
        loss = Average(nll.sum(), frames.sum())  # nats per frame, pooled over frames
        return loss, {"nll": loss, "nll_seq": jnp.mean(nll / jnp.maximum(frames, 1.0)),
                      "frame_accuracy": Average(tp, tp + fp + fn)}

    def evaluate(self, model, eval_step):
        return valid_and_test_metrics(self._valid, self._test, eval_step)

    def baseline(self):
        train = np.concatenate([r[1:] for r in self.train]).astype(np.float64)
        out = {"uniform_nll": NUM_KEYS * math.log(2.0)}
        for split, batches in (("valid", self._valid), ("test", self._test)):
            frames = np.concatenate([t[:n] for batch in batches
                                     for t, n in zip(batch["targets"], batch["lengths"])])
            out[f"marginal_{split}_nll"] = marginal_nll(train, frames)
        return out

    def write_plots(self, model, run_dir):
        batch = {k: v[:1] for k, v in self._test[0].items()}
        n = int(batch["lengths"][0])
        logits = model(jnp.asarray(batch["inputs"]), lengths=jnp.asarray(batch["lengths"]))
        probs = np.asarray(jax.nn.sigmoid(logits))
        plot_roll_prediction(batch["targets"][0, :n], probs[0, :n], run_dir / "piano_roll.png",
                             title=f"{self.cfg.name}: test piece {self.plotted_test_piece}, frames 1..{n}")


def plot_roll_prediction(truth: np.ndarray, probs: np.ndarray, path, title: str = "") -> None:
    """piano_roll.png: the true next frames (T, 88) above the predicted probabilities."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = np.nonzero(truth.sum(0) + (probs > 0.05).sum(0))[0]
    low, high = (keys.min(), keys.max() + 1) if len(keys) else (0, NUM_KEYS)
    fig, axes = plt.subplots(2, 1, figsize=(10, 5), sharex=True)
    for ax, image, label in ((axes[0], truth, "truth"), (axes[1], probs, "P(on)")):
        shown = ax.imshow(image[:, low:high].T, origin="lower", aspect="auto", cmap="Greys", vmin=0, vmax=1,
                          extent=(0.5, len(image) + 0.5, 21 + low - 0.5, 21 + high - 0.5))
        ax.set_ylabel(f"{label}\nMIDI pitch")
    fig.colorbar(shown, ax=axes, fraction=0.02)
    axes[0].set_title(title, fontsize=9)
    axes[1].set_xlabel("frame (quarter note)")
    fig.savefig(path, dpi=100)
    plt.close(fig)
