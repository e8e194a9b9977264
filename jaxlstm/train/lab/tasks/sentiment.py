"""Sentiment classification of IMDB reviews (seed 001; Maas et al. 2011).

Reads the standard `aclImdb` folder at `data.path` (root/{train,test}/{pos,neg}/*.txt)
with `jaxlstm.data.imdb`: the vocabulary comes from the training reviews only, reviews
are cut to `data.max_len` tokens and padded, and their lengths are passed to the LSTM so
padding never reaches the summary. As in the Theano tutorial that seed 001 follows
("LSTM Networks for Sentiment Analysis"), the hidden states are mean-pooled over the
review's tokens before a logistic (here softmax) layer. Training batches are `data.max_len`
wide, or with `train.bucket` cut to widths 32 * 2^k holding reviews of similar lengths.
A random `data.valid_fraction` of the training reviews is held out and monitored; the
test folder is reported as `test_*`. The baseline predicts the training split's majority
class.
"""

from __future__ import annotations

from dataclasses import dataclass

from jaxlstm.data.batching import random_split
from jaxlstm.data.imdb import load_imdb
from jaxlstm.nn.heads import SequenceClassifier
from jaxlstm.train.engine.config_checks import ConfigError
from jaxlstm.train.lab.data_options import AtLeast, Fraction, Positive, option
from jaxlstm.train.lab.tasks.classification import Classification


@dataclass
class ImdbDataConfig:
    path: str = "data/aclImdb"
    max_len: int = option(400, Positive())
    vocab_size: int = option(20000, AtLeast(3, "(<pad>, <unk> and a word)"))
    min_freq: int = option(1, Positive())
    valid_fraction: float = option(0.1, Fraction())
    eval_batch_size: int = option(250, Positive())
    split_seed: int = 0


def _batches(reviews: dict, size: int) -> list[dict]:
    n = len(reviews["labels"])
    return [{k: v[i:i + size] for k, v in reviews.items()} for i in range(0, n, size)]


class Imdb(Classification):
    name = "imdb"
    Data = ImdbDataConfig

    def __init__(self, cfg):
        super().__init__(cfg)
        d = self.data
        try:
            dataset = load_imdb(d.path, d.max_len, max_size=d.vocab_size, min_freq=d.min_freq)
        except (FileNotFoundError, ValueError) as e:
            raise ConfigError(f"config key data.path: {e}") from None
        self.vocab = dataset.vocab
        train = {"inputs": dataset.train.ids, "lengths": dataset.train.lengths,
                 "labels": dataset.train.labels}
        self.train, valid = random_split(train, 1.0 - d.valid_fraction, d.split_seed)
        if min(len(self.train["labels"]), len(valid["labels"])) == 0:
            raise ConfigError(f"config key data.valid_fraction: {d.valid_fraction} of "
                              f"{len(train['labels'])} training reviews leaves an empty split")
        test = {"inputs": dataset.test.ids, "lengths": dataset.test.lengths, "labels": dataset.test.labels}
        self._valid, self._test = _batches(valid, d.eval_batch_size), _batches(test, d.eval_batch_size)

    def model_dims(self):
        return {"vocab_size": len(self.vocab)}

    @classmethod
    def build_model(cls, cfg, dims, rngs):
        m = cfg.model
        return SequenceClassifier(2, vocab_size=dims["vocab_size"], embed_dim=m.embed_dim, pooling="mean",
                                  rngs=rngs, **m.encoder_kwargs())

    def train_batch(self, rng, batch_size):
        return self.train_data(batch_size, 0).draw(rng)

    def train_data(self, batch_size, seed, order="replacement", bucket=False):
        """`Batches` of the training reviews; with `bucket`, of similar lengths, cut to
        widths 32 * 2^k (at most data.max_len)."""
        widths = dict(min_width=32, time_keys=("inputs",)) if bucket else {}
        return self.finite_batches(self.train, batch_size, seed, order, bucket,
                                   lengths=self.train["lengths"], **widths)
