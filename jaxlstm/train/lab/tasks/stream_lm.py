"""Stateful character language model: truncated BPTT over long streams of documents.

The text is cut into documents (at `data.document_separator`; with an empty
separator, into one piece per lane) and the documents are laid out as B parallel
lanes of chunks of `seq_len` characters (`document_lanes`). Step s trains on chunk
s mod N of every lane; the final (h, c) of each lane is carried, without gradient,
into the next step, and reset to zeros where a lane starts a new document. A
document always starts at a chunk boundary (its last chunk is padded and masked),
so the reset is exact: a document's outputs are those of running it alone.

Evaluation runs the held-out text the same way, carrying the state through it
(`bpc`), and again with the state reset at every chunk (`bpc_reset_each_chunk`):
the gap is what the carried state is worth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxlstm.train.engine.average import Average, pooled_mean
from jaxlstm.train.engine.config_checks import ConfigError
from jaxlstm.train.lab.data_options import Positive, option
from jaxlstm.train.lab.tasks.base import Task, cross_entropy
from jaxlstm.train.lab.tasks.char_lm import CharLM, TextData, read_text, unigram_baseline, vocab_dims


def document_lanes(documents: list, seq_len: int, lanes: int) -> dict:
    """Lay documents out as `lanes` parallel streams of chunks for truncated BPTT.

    A document of L ids gives the L - 1 pairs (ids[t], ids[t+1]) cut into
    ceil((L - 1) / T) chunks of T = seq_len steps. Each document goes whole, in order,
    to the lane with the fewest chunks so far (ties: the lowest lane), so its chunks
    are consecutive in one lane and it starts at a chunk boundary, where `reset` is
    set. Lanes shorter than the longest end with empty chunks (length 0).

    Returns a dict of inputs, targets (N, B, T) int32 (0 where padded), lengths
    (N, B) int32 (valid steps of each chunk) and reset (N, B) bool.
    """
    placed: list[list] = [[] for _ in range(lanes)]  # per lane: (ids, start, length, reset)
    for ids in documents:
        ids = np.asarray(ids, np.int32)
        if ids.size < 2:
            continue
        lane = min(range(lanes), key=lambda b: len(placed[b]))
        for k, start in enumerate(range(0, ids.size - 1, seq_len)):
            placed[lane].append((ids, start, min(seq_len, ids.size - 1 - start), k == 0))
    num_chunks = max((len(p) for p in placed), default=0)
    if num_chunks == 0:
        raise ValueError("document_lanes: no document has 2 or more ids")
    out = {"inputs": np.zeros((num_chunks, lanes, seq_len), np.int32),
           "targets": np.zeros((num_chunks, lanes, seq_len), np.int32),
           "lengths": np.zeros((num_chunks, lanes), np.int32),
           "reset": np.zeros((num_chunks, lanes), bool)}
    for b, chunks in enumerate(placed):
        for n, (ids, start, length, reset) in enumerate(chunks):
            out["inputs"][n, b, :length] = ids[start:start + length]
            out["targets"][n, b, :length] = ids[start + 1:start + length + 1]
            out["lengths"][n, b], out["reset"][n, b] = length, reset
    return out


def split_documents(text: str, separator: str, pieces: int) -> list[str]:
    """`text` cut after every `separator` (which stays at the end of its document, so the
    model learns to predict it); with an empty separator, `pieces` equal contiguous parts."""
    if separator:
        parts = text.split(separator)
        return [p + separator for p in parts[:-1]] + parts[-1:]
    size = math.ceil(len(text) / pieces)
    return [text[i:i + size] for i in range(0, len(text), size)]


@dataclass
class StreamLMData(TextData):
    seq_len: int = option(64, Positive())
    document_separator: str = ""
    eval_lanes: int = option(32, Positive())


class StreamLM(Task):
    name = "stream_lm"
    Data = StreamLMData
    monitor = "valid/bpc"

    def __init__(self, cfg):
        super().__init__(cfg)
        if cfg.model.bidirectional:
            raise ConfigError("config key model.bidirectional: stream_lm carries the state forward "
                              "in time, so the model must be unidirectional; got true")
        d = self.data
        self.vocab, train, valid = read_text(d)
        lanes = cfg.train.batch_size
        self.train_lanes = self._lanes(train, lanes)
        self.valid_lanes = self._lanes(valid, d.eval_lanes)

    def _lanes(self, text: str, lanes: int) -> dict:
        docs = split_documents(text, self.data.document_separator, lanes)
        return document_lanes([self.vocab.encode(t) for t in docs], self.data.seq_len, lanes)

    def model_dims(self):
        return vocab_dims(self.vocab)

    @classmethod
    def build_model(cls, cfg, dims, rngs):
        return CharLM.build_model(cfg, dims, rngs)

    def initial_carry(self, batch_size: int):
        """Zero states for `batch_size` lanes, shaped as the encoder's `initial_state`."""
        return self.make_model(nnx.Rngs(0)).encoder.initial_state(batch_size)

    def chunks_per_epoch(self) -> int:
        return len(self.train_lanes["lengths"])

    def train_chunk(self, step: int, batch_size: int) -> dict:
        """Chunk `step mod N` of every training lane; every lane restarts at step 0 mod N."""
        lanes = self.train_lanes["lengths"].shape[1]
        if batch_size != lanes:
            raise ConfigError(f"config key train.batch_size: stream_lm was laid out for {lanes} "
                              f"lanes, got batch_size {batch_size}")
        n = step % self.chunks_per_epoch()
        return {k: v[n] for k, v in self.train_lanes.items()}

    def train_batch(self, rng, batch_size):
        raise TypeError("stream_lm is stateful: the loop asks for train_chunk(step, batch_size)")

    def eval_batches(self):
        return [{k: v[n] for k, v in self.valid_lanes.items()}
                for n in range(len(self.valid_lanes["lengths"]))]

    def loss(self, model, batch, key, carry):
        """(mean cross-entropy over valid positions, metrics, final state without gradient);
        rows with `reset` start from zeros instead of `carry`."""
        keep = ~batch["reset"]
        carry = jax.tree.map(lambda s: jnp.where(keep[:, None], s, jnp.zeros_like(s)), carry)
        logits, final = model(batch["inputs"], lengths=batch["lengths"], initial_state=carry, rngs=key, deterministic=key is None)
        mask = jnp.arange(logits.shape[1])[None, :] < batch["lengths"][:, None]
        loss, acc = cross_entropy(logits, batch["targets"], mask)
        bpc = Average(loss.total / math.log(2.0), loss.count)
        return loss, {"bpc": bpc, "accuracy": acc}, jax.lax.stop_gradient(final)

    def evaluate(self, model, eval_step) -> dict:
        """Token-weighted metrics over the held-out lanes, carrying the state through them;
        `bpc_reset_each_chunk` resets it at every chunk instead."""
        out = {}
        for suffix, reset_all in (("", False), ("_reset_each_chunk", True)):
            carry, results = self.initial_carry(self.data.eval_lanes), []
            for batch in self.eval_batches():
                if reset_all:
                    batch = {**batch, "reset": np.ones_like(batch["reset"])}
                loss, metrics, carry = eval_step(batch, carry)
                results.append((len(batch["reset"]), {"loss": loss, **metrics}))
            out.update({f"{k}{suffix}": v for k, v in pooled_mean(results).items()
                        if not reset_all or k == "bpc"})
        return out

    def baseline(self):
        train = self.train_lanes["targets"][self.train_lanes["lengths"][..., None]
                                            > np.arange(self.data.seq_len)]
        valid = self.valid_lanes["targets"][self.valid_lanes["lengths"][..., None]
                                            > np.arange(self.data.seq_len)]
        return unigram_baseline(train, valid, len(self.vocab))
