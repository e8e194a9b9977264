"""Unsegmented sequence labelling with CTC (Graves et al. 2006) on a generated task.

Each example is a label sequence y_1 .. y_U over `num_labels` symbols (ids 1..N;
id 0 is the CTC blank) rendered as frames: label y_u becomes a run of
d_u ~ U{min_run..max_run} frames, each its fixed prototype vector plus Gaussian
noise, and runs are separated by gaps of g ~ U{0..max_gap} frames of the
"silence" prototype plus noise (at least one gap frame between two equal labels,
or their runs would be one run). The network sees the frames (B, T, F) and is
trained on y alone — no alignment — with the CTC loss

  loss = sum_b -log p(y_b | x_b) / sum_b U_b     (nats per label, `optax.ctc_loss`)

and decoded by best path (argmax per frame, merge repeats, drop blanks). The metric
is the label error rate, LER = sum edit_distance(y, y_hat) / sum U over the held-out
set (`valid/ler`, minimised). Baselines: the empty output (LER = 1) and a framewise
nearest-prototype classifier that knows the prototypes but uses no context.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np
from flax import nnx

from jaxlstm.nn.ctc import ctc_greedy_decode, ctc_loss, label_error_rate
from jaxlstm.nn.heads import SequenceLabeler
from jaxlstm.train.engine.average import Average, mean_over_batches
from jaxlstm.train.lab.data_options import AtLeast, Positive, option
from jaxlstm.train.lab.tasks.base import Task

BLANK = 0


@dataclass
class CTCData:
    """The `data:` section: the generator's sizes and noise, and the held-out set size."""

    num_labels: int = option(8, Positive())
    min_labels: int = option(2, Positive())
    max_labels: int = option(8, AtLeast("min_labels"))
    min_run: int = option(2, Positive())
    max_run: int = option(5, AtLeast("min_run"))
    max_gap: int = option(3, Positive())
    feature_dim: int = option(12, Positive())
    noise: float = option(1.0, Positive(allow_zero=True))
    eval_size: int = option(512, Positive())
    eval_batch_size: int = option(256, Positive())

    @property
    def max_frames(self) -> int:
        """T: the most frames an example can have (every run and gap at its maximum)."""
        return self.max_labels * self.max_run + (self.max_labels + 1) * self.max_gap


def prototypes(data: CTCData) -> np.ndarray:
    """(N + 1, F) fixed frame prototypes: row 0 is silence (gaps), row k label k."""
    return np.random.default_rng(0).standard_normal((data.num_labels + 1, data.feature_dim)).astype(np.float32)


def ctc_examples(n: int, data: CTCData, rng: np.random.Generator) -> dict:
    """n examples -> {"xs" (n, T, F) float32, "lengths" (n,), "labels" (n, max_labels) with
    -1 padding, "label_lengths" (n,), "frame_labels" (n, T): the class behind each frame
    (0 for gaps and padding; for plots and the framewise baseline)}."""
    proto = prototypes(data)
    steps = data.max_frames
    frame_labels = np.zeros((n, steps), np.int32)
    labels = np.full((n, data.max_labels), -1, np.int32)
    lengths = np.zeros(n, np.int32)
    label_lengths = rng.integers(data.min_labels, data.max_labels + 1, size=n).astype(np.int32)
    for b in range(n):
        seq = rng.integers(1, data.num_labels + 1, size=label_lengths[b])
        labels[b, :len(seq)] = seq
        t = int(rng.integers(0, data.max_gap + 1))
        for u, label in enumerate(seq):
            if u > 0:
                t += int(rng.integers(1 if label == seq[u - 1] else 0, data.max_gap + 1))
            run = int(rng.integers(data.min_run, data.max_run + 1))
            frame_labels[b, t:t + run] = label
            t += run
        lengths[b] = t + int(rng.integers(0, data.max_gap + 1))
    noise = data.noise * rng.standard_normal((n, steps, data.feature_dim)).astype(np.float32)
    valid = np.arange(steps)[None, :] < lengths[:, None]
    xs = np.where(valid[..., None], proto[frame_labels] + noise, 0.0).astype(np.float32)
    return {"xs": xs, "lengths": lengths, "labels": labels, "label_lengths": label_lengths,
            "frame_labels": frame_labels}


def reference_labels(batch: dict) -> list[list[int]]:
    """The target label sequences of a batch as Python lists (padding removed)."""
    return [row[:n].tolist() for row, n in zip(batch["labels"], batch["label_lengths"])]


def greedy_ler(logits, lengths, refs: list[list[int]]) -> tuple[float, list[list[int]]]:
    """(LER, best-path outputs) of per-frame logits (B, T, K) with (B,) valid frames."""
    hyps = ctc_greedy_decode(logits, lengths, blank_id=BLANK)
    return label_error_rate(refs, hyps), hyps


@functools.partial(jax.jit, static_argnums=0)
def _logits(graphdef, state, xs, lengths):
    return nnx.merge(graphdef, state)(xs, lengths=lengths, deterministic=True)


class CTC(Task):
    name = "ctc"
    Data = CTCData
    monitor = "valid/ler"
    monitor_mode = "min"

    def __init__(self, cfg):
        super().__init__(cfg)
        d = self.data
        held_out = ctc_examples(d.eval_size, d, np.random.default_rng(987))
        self.refs = reference_labels(held_out)
        self._held_out = held_out
        self._eval = [{k: held_out[k][i:i + d.eval_batch_size]
                       for k in ("xs", "lengths", "labels", "label_lengths")}
                      for i in range(0, d.eval_size, d.eval_batch_size)]

    @classmethod
    def build_model(cls, cfg, dims, rngs):
        return SequenceLabeler(cfg.data.num_labels + 1, in_features=cfg.data.feature_dim,
                               rngs=rngs, **cfg.model.encoder_kwargs())

    def train_batch(self, rng, batch_size):
        batch = ctc_examples(batch_size, self.data, rng)
        del batch["frame_labels"]
        return batch

    def eval_batches(self):
        return self._eval

    def loss(self, model, batch, key):
        logits = model(batch["xs"], lengths=batch["lengths"], rngs=key, deterministic=key is None)
        per_sequence = ctc_loss(logits, batch["lengths"], batch["labels"], batch["label_lengths"],
                                blank_id=BLANK)
        return Average(per_sequence.sum(), batch["label_lengths"].sum()), {}  # nats per label

    def logits(self, model) -> np.ndarray:
        """Per-frame logits (N, T, K) of the held-out set."""
        graphdef, state = nnx.split(model)
        return np.concatenate([np.asarray(_logits(graphdef, state, b["xs"], b["lengths"]))
                               for b in self._eval])

    def evaluate(self, model, eval_step):
        ler, _ = greedy_ler(self.logits(model), self._held_out["lengths"], self.refs)
        return {**mean_over_batches(self._eval, eval_step), "ler": ler}

    def baseline(self):
        proto = prototypes(self.data)
        distance = ((self._held_out["xs"][..., None, :] - proto) ** 2).sum(-1)
        framewise, _ = greedy_ler(-distance, self._held_out["lengths"], self.refs)
        return {"empty_output_ler": label_error_rate(self.refs, [[] for _ in self.refs]),
                "framewise_nearest_prototype_ler": framewise}

    def write_plots(self, model, run_dir):
        """ctc_outputs.png: one held-out example's frames, true frame labels and the
        network's per-frame softmax outputs (the spiky CTC outputs of Graves et al.)."""
        from jaxlstm.train.engine.plots import plt

        b = int(np.argmax(self._held_out["label_lengths"]))  # the example with the most labels
        n = int(self._held_out["lengths"][b])
        logits = self.logits(model)
        _, hyps = greedy_ler(logits, self._held_out["lengths"], self.refs)
        probs = np.asarray(jax.nn.softmax(logits[b, :n], axis=-1))
        frames = self._held_out["frame_labels"][b, :n]
        colors = plt.cm.tab10(np.arange(probs.shape[1]) % 10)
        fig, axes = plt.subplots(2, 1, figsize=(max(7, 0.12 * n + 2), 5.5), sharex=True)
        axes[0].imshow(self._held_out["xs"][b, :n].T, aspect="auto", cmap="RdBu_r", interpolation="nearest")
        axes[0].set_ylabel("feature"), axes[0].set_title(f"input frames; target {self.refs[b]}", fontsize=10)
        starts = [t for t in range(n) if frames[t] and (t == 0 or frames[t] != frames[t - 1])]
        for t in starts:
            end = t + int(np.argmax(np.append(frames[t:] != frames[t], True)))
            axes[1].axvspan(t - 0.5, end - 0.5, color=colors[frames[t]], alpha=0.15, lw=0)
        axes[1].plot(probs[:, BLANK], "k--", lw=1, label="blank")
        for k in range(1, probs.shape[1]):
            axes[1].plot(probs[:, k], color=colors[k], lw=1.5, label=str(k))
        axes[1].set_ylim(0, 1.25), axes[1].set_xlabel("frame"), axes[1].set_ylabel("p(class)")
        axes[1].set_title(f"network outputs (shaded: true label runs); best path {hyps[b]}", fontsize=10)
        axes[1].legend(ncol=probs.shape[1], fontsize=7, loc="upper center")
        fig.tight_layout()
        fig.savefig(Path(run_dir) / "ctc_outputs.png", dpi=100)
        plt.close(fig)
