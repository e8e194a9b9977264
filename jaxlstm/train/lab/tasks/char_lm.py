"""Character language model (seed 000): next-character prediction on real text.

The default text is the standard library's own docstrings, which every Python has;
`data.source` may instead be the path of any UTF-8 text file. Metrics are in nats
(`loss`) and bits per character (`bpc`); the baseline is the unigram model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from jaxlstm.data.text import CharVocab, char_lm_batches, load_text, stdlib_corpus, train_valid_split
from jaxlstm.nn.heads import LanguageModel
from jaxlstm.train.engine.config_checks import ConfigError
from jaxlstm.train.lab.data_options import AtLeast, Fraction, option
from jaxlstm.train.lab.tasks.base import Task, cross_entropy


@dataclass
class TextData:
    """The `data:` keys of the character LMs (`char_lm`, `stream_lm`): the text `source`
    ("stdlib" or a UTF-8 file's path) cut to `max_chars` characters, the training sequence
    length, and the fraction of the text held out (its end) for validation."""

    source: str = "stdlib"
    max_chars: int = 300_000
    seq_len: int = 64
    valid_fraction: float = option(0.1, Fraction())


def read_text(data: TextData) -> tuple[CharVocab, str, str]:
    """(character vocabulary of the whole text, training text, validation text) of `data`."""
    text = stdlib_corpus(data.max_chars) if data.source == "stdlib" else load_text(data.source)[: data.max_chars]
    train, valid = train_valid_split(text, data.valid_fraction)
    return CharVocab.build(text), train, valid


def unigram_baseline(train_ids: np.ndarray, valid_ids: np.ndarray, vocab_size: int) -> dict:
    """Bits per character on `valid_ids` (n,) of the add-one unigram model of `train_ids`
    (m,) ("unigram_bpc") and of the uniform model over `vocab_size` ids ("uniform_bpc")."""
    counts = np.bincount(train_ids, minlength=vocab_size) + 1.0
    logp = np.log2(counts / counts.sum())
    return {"unigram_bpc": float(-logp[valid_ids].mean()), "uniform_bpc": math.log2(vocab_size)}


def vocab_dims(vocab: CharVocab) -> dict:
    """model.json's record of a character vocabulary: its characters in id order."""
    return {"chars": "".join(vocab.chars), "unk": vocab.unk}


def vocab_of(dims: dict) -> CharVocab:
    """The vocabulary `vocab_dims` recorded (e.g. to sample from a loaded model)."""
    return CharVocab(tuple(dims["chars"]), unk=dims.get("unk"))


@dataclass
class CharLMData(TextData):
    seq_len: int = option(64, AtLeast(2))
    eval_batches: int = 8
    eval_batch_size: int = 64


class CharLM(Task):
    name = "char_lm"
    Data = CharLMData
    monitor = "valid/bpc"

    def __init__(self, cfg):
        super().__init__(cfg)
        d = self.data
        self.vocab, train, valid = read_text(d)
        self.train_ids, self.valid_ids = self.vocab.encode(train), self.vocab.encode(valid)
        if len(self.valid_ids) <= d.seq_len + 1:
            raise ConfigError(f"config key data.seq_len: {d.seq_len} is longer than the "
                              f"validation text ({len(self.valid_ids)} characters)")
        rng = np.random.default_rng(12345)
        self._eval = [dict(zip(("inputs", "targets"),
                               char_lm_batches(self.valid_ids, d.seq_len, d.eval_batch_size, rng)))
                      for _ in range(d.eval_batches)]

    def model_dims(self):
        return vocab_dims(self.vocab)

    @classmethod
    def build_model(cls, cfg, dims, rngs):
        m = cfg.model
        return LanguageModel(len(dims["chars"]), embed_dim=m.embed_dim, rngs=rngs, **m.encoder_kwargs())

    def train_batch(self, rng, batch_size):
        inputs, targets = char_lm_batches(self.train_ids, self.data.seq_len, batch_size, rng)
        return {"inputs": inputs, "targets": targets}

    def train_data(self, batch_size, seed, order="replacement", bucket=False):
        """"replacement": windows at offsets drawn anew each step (`train_batch`). "epochs":
        the text cut into the non-overlapping windows inputs = ids[kT : kT + T], targets =
        ids[kT + 1 : kT + T + 1], k = 0 .. (L - 1) // T - 1, each once per epoch (every
        character is predicted once per epoch)."""
        self.check_one_length(bucket)
        if order != "epochs":
            return super().train_data(batch_size, seed, order, bucket)
        t = self.data.seq_len
        starts = np.arange((len(self.train_ids) - 1) // t) * t
        window = starts[:, None] + np.arange(t)[None, :]
        windows = {"inputs": self.train_ids[window].astype(np.int32),
                   "targets": self.train_ids[window + 1].astype(np.int32)}
        return self.finite_batches(windows, batch_size, seed, order, bucket)

    def eval_batches(self):
        return self._eval

    def loss(self, model, batch, key):
        logits, _ = model(batch["inputs"], rngs=key, deterministic=key is None)
        loss, acc = cross_entropy(logits, batch["targets"])
        return loss, {"bpc": loss / math.log(2.0), "accuracy": acc}

    def baseline(self):
        return unigram_baseline(self.train_ids, self.valid_ids, len(self.vocab))
