"""Sequence tagging with a BiLSTM-CRF (seed 003: named entities and parts of speech).

Sentences come from the synthetic NER task (`data.source: synthetic`, entity types
decided by context, see `jaxlstm.data.synthetic_tagging`) or from CoNLL files
(`data.source: conll`, `data.format: conll2003 | conllu`). The model is
`jaxlstm.nn.BiLSTMCRF`, trained on the per-token negative CRF log-likelihood

  loss = -sum_b log p(y_b | x_b) / sum_b L_b      (nats per token)

with log Z by the forward algorithm, and decoded by Viterbi (`data.use_crf: false`
gives the per-token softmax tagger, the ablation that shows what the CRF adds).

Evaluation is on Viterbi-decoded held-out sentences: token accuracy, and when the
tags are chunk tags ("O", "B-X", "I-X", "E-X", "S-X") entity precision, recall and
F1 as conlleval computes them (`valid/f1` is then the monitored metric; for other
tags, such as POS tags, it is `valid/accuracy`). When every training transition is
legal under BIO (IOB2) or IOBES, the CRF is constrained to that scheme; otherwise
(e.g. the IOB1 tags of the original CoNLL-2003 files) the CRF is unconstrained.
The baseline tags each word with its most frequent training tag.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import jax
import numpy as np
from flax import nnx

from jaxlstm.data.batches import bucket_width
from jaxlstm.data.conll import read_conll2003, read_conllu
from jaxlstm.data.conlleval import entity_f1
from jaxlstm.data.synthetic_tagging import synthetic_tagging, tagging_vocabs
from jaxlstm.data.tagged import build_vocabs, encode_tagged
from jaxlstm.data.vocab import TagVocab
from jaxlstm.nn.crf import allowed_start, allowed_transitions
from jaxlstm.nn.tagger import BiLSTMCRF
from jaxlstm.train.engine.average import Average, mean_over_batches
from jaxlstm.train.engine.config_checks import ConfigError
from jaxlstm.train.lab.data_options import AtLeast, Fraction, OneOf, option
from jaxlstm.train.lab.tasks.base import Task

_CHUNK_TAG = re.compile(r"^(O|[BIES]-.+)$")
_BUCKET = 16  # the shortest batch width; widths double from it (few distinct shapes to jit)


def _check_source_files(data) -> None:
    """The paths and tag column are read with data.source=conll only, which needs train_path."""
    if data.source == "synthetic":
        for key in ("train_path", "valid_path"):
            if getattr(data, key) is not None:
                raise ConfigError(f"config key data.{key}: is read only with data.source=conll, "
                                  f"got data.source={data.source!r}")
    elif data.train_path is None:
        raise ConfigError("config key data.train_path: data.source=conll needs the path of a "
                          "CoNLL file, got null")
    else:
        data.column()


@dataclass
class TaggingData:
    """The `data:` section of the tagging task.

    source: "synthetic" or "conll". synthetic: `train_size` training and `eval_size`
    held-out sentences. conll: `train_path` (required) and `valid_path` (default: the
    last `valid_fraction` of the training sentences) in `format` "conll2003" (tags
    from column `tag_column`, default -1, the NER column) or "conllu" (tags from
    field `tag_column`, default "upos"); `lower` lowercases words, words seen fewer
    than `min_freq` times become <unk>.
    """

    source: str = option("synthetic", OneOf(("synthetic", "conll")))
    train_size: int = option(2000, AtLeast(1))
    eval_size: int = option(500, AtLeast(1))
    train_path: Optional[str] = None
    valid_path: Optional[str] = None
    valid_fraction: float = option(0.1, Fraction())
    format: str = option("conll2003", OneOf(("conll2003", "conllu")))
    tag_column: Optional[str] = None
    lower: bool = False
    min_freq: int = option(1, AtLeast(1))
    use_crf: bool = True
    eval_batch_size: int = option(256, AtLeast(1))

    cross_checks = (_check_source_files,)

    def column(self):
        """The tag column: an int index (conll2003, conllu) or a CoNLL-U field name."""
        value = self.tag_column
        if value is None:
            return -1 if self.format == "conll2003" else "upos"
        try:
            return int(value)
        except ValueError:
            if self.format == "conllu":
                return value
        raise ConfigError(f"config key data.tag_column: must be a column index for "
                          f"data.format=conll2003, got {value!r}")


def _read(data: TaggingData, key: str):
    """The sentences of the file at data.<key>; ConfigError naming the key when the file is
    missing or malformed. (Checked here, not in `validate`, so that a config naming a file
    that is not on this machine still loads.)"""
    path = Path(getattr(data, key)).expanduser()
    if not path.is_file():
        raise ConfigError(f"config key data.{key}: file not found: {path}")
    try:
        if data.format == "conll2003":
            return read_conll2003(path, tag_column=data.column())
        return read_conllu(path, tag_field=data.column())
    except (ValueError, UnicodeDecodeError) as e:
        raise ConfigError(f"config key data.{key}: {e}") from None


def is_chunk_tagset(tags: Sequence[str]) -> bool:
    """True when every tag is "O" or "<B|I|E|S>-<type>" (entity / chunk tags)."""
    return all(_CHUNK_TAG.match(t) for t in tags)


def constraint_scheme(tag_names: Sequence[str], tag_paths: Sequence[Sequence[str]]) -> Optional[str]:
    """"IOBES" or "BIO" when every path in `tag_paths` is legal under it, else None."""
    if not is_chunk_tagset(tag_names):
        return None
    scheme = "IOBES" if any(t[:2] in ("E-", "S-") for t in tag_names) else "BIO"
    index = {t: i for i, t in enumerate(tag_names)}
    legal, first = allowed_transitions(tag_names, scheme), allowed_start(tag_names, scheme)
    for path in tag_paths:
        ids = [index[t] for t in path]
        if ids and (not first[ids[0]] or not all(legal[a, b] for a, b in zip(ids, ids[1:]))):
            return None
    return scheme


def tag_scores(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]],
               chunked: bool) -> dict:
    """Token accuracy, and (chunk tags) conlleval entity precision / recall / F1.

    gold, pred: one tag-string sequence per sentence, without padding.
    """
    tokens = sum(len(g) for g in gold)
    correct = sum(a == b for g, p in zip(gold, pred) for a, b in zip(g, p))
    scores = {"accuracy": correct / max(tokens, 1)}
    if chunked:
        chunks = entity_f1(gold, pred)
        scores.update(precision=chunks.precision, recall=chunks.recall, f1=chunks.f1)
    return scores


def _batches(arrays, size: int) -> list[dict]:
    """Batches {"tokens", "tags", "lengths"} of the sentences in order, `size` at a time, each
    cut to the smallest width _BUCKET * 2^k (at most the longest sentence) holding its rows."""
    out = []
    for i in range(0, len(arrays.lengths), size):
        lengths = arrays.lengths[i:i + size]
        width = bucket_width(lengths.max(), _BUCKET, arrays.token_ids.shape[1])
        out.append({"tokens": arrays.token_ids[i:i + size, :width],
                    "tags": arrays.tag_ids[i:i + size, :width], "lengths": lengths})
    return out


@functools.partial(jax.jit, static_argnums=0)
def _viterbi(graphdef, state, tokens, lengths):
    return nnx.merge(graphdef, state).decode(tokens, lengths)


class Tagging(Task):
    name = "tagging"
    Data = TaggingData
    monitor = "valid/f1"
    monitor_mode = "max"

    def __init__(self, cfg):
        super().__init__(cfg)
        d = self.data
        if d.source == "synthetic":
            train = synthetic_tagging(d.train_size, np.random.default_rng(1)).sentences
            valid = synthetic_tagging(d.eval_size, np.random.default_rng(2)).sentences
            self.vocab, self.tag_vocab = tagging_vocabs()
        else:
            train = _read(d, "train_path")
            if d.valid_path is not None:
                valid = _read(d, "valid_path")
            else:
                n_valid = max(1, int(round(len(train) * d.valid_fraction)))
                if n_valid >= len(train):
                    raise ConfigError(f"config key data.valid_fraction: {d.valid_fraction} of "
                                      f"{len(train)} sentences leaves none for training")
                train, valid = train[:-n_valid], train[-n_valid:]
            self.vocab, _ = build_vocabs(train, min_freq=d.min_freq, lower=d.lower)
            self.tag_vocab = TagVocab.build(s.tags for s in (*train, *valid))
        self.train_sentences, self.valid_sentences = train, valid
        tags = self.tag_vocab.tags
        self.chunked = is_chunk_tagset(tags)
        self.scheme = constraint_scheme(tags, [s.tags for s in train])
        if not self.chunked:
            self.monitor = "valid/accuracy"
        self.train = encode_tagged(train, self.vocab, self.tag_vocab, lower=d.lower)
        held_out = encode_tagged(valid, self.vocab, self.tag_vocab, lower=d.lower)
        self._eval = _batches(held_out, d.eval_batch_size)

    def model_dims(self):
        return {"vocab_size": len(self.vocab), "tags": list(self.tag_vocab.tags), "scheme": self.scheme}

    @classmethod
    def build_model(cls, cfg, dims, rngs):
        m = cfg.model
        return BiLSTMCRF(dims["vocab_size"], len(dims["tags"]), embed_dim=m.embed_dim,
                         tag_names=dims["tags"] if dims["scheme"] else None,
                         scheme=dims["scheme"] or "BIO", use_crf=cfg.data.use_crf, rngs=rngs,
                         **m.encoder_kwargs())

    def train_batch(self, rng, batch_size):
        return self.train_data(batch_size, 0).draw(rng)

    def train_data(self, batch_size, seed, order="replacement", bucket=False):
        """`Batches` of the training sentences, each batch cut to the smallest width
        _BUCKET * 2^k holding its rows; with `bucket`, of sentences of similar lengths."""
        t = self.train
        examples = {"tokens": t.token_ids, "tags": t.tag_ids, "lengths": t.lengths}
        return self.finite_batches(examples, batch_size, seed, order, bucket,
                                   lengths=t.lengths, min_width=_BUCKET,
                                   time_keys=("tokens", "tags"))

    def eval_batches(self):
        return self._eval

    def loss(self, model, batch, key):
        ll = model.log_likelihood(batch["tokens"], batch["tags"], batch["lengths"],
                                  rngs=key, deterministic=key is None)
        return Average(-ll.sum(), batch["lengths"].sum()), {}  # nats per token

    def predict(self, model) -> list[list[str]]:
        """Viterbi (or per-token argmax) tags of the held-out sentences, without padding."""
        graphdef, state = nnx.split(model)
        paths = []
        for batch in self._eval:
            decoded = np.asarray(_viterbi(graphdef, state, batch["tokens"], batch["lengths"]))
            paths += [self.tag_vocab.decode(row[:n]) for row, n in zip(decoded, batch["lengths"])]
        return paths

    def evaluate(self, model, eval_step):
        gold = [s.tags for s in self.valid_sentences]
        return {**mean_over_batches(self._eval, eval_step), **tag_scores(gold, self.predict(model), self.chunked)}

    def most_frequent_tags(self) -> list[list[str]]:
        """The baseline's tags of the held-out sentences: each word's most frequent training
        tag (ties: the first in tag-vocabulary order); unseen words get the most frequent tag."""
        lower = self.data.lower
        counts: dict = {}
        for s in self.train_sentences:
            for word, tag in zip(s.tokens, s.tags):
                per_word = counts.setdefault(word.lower() if lower else word, {})
                per_word[tag] = per_word.get(tag, 0) + 1
        overall: dict = {}
        for per_word in counts.values():
            for tag, c in per_word.items():
                overall[tag] = overall.get(tag, 0) + c
        rank = {t: i for i, t in enumerate(self.tag_vocab.tags)}
        best = lambda c: min(c, key=lambda t: (-c[t], rank[t]))
        default = best(overall)
        choice = {w: best(c) for w, c in counts.items()}
        return [[choice.get(w.lower() if lower else w, default) for w in s.tokens]
                for s in self.valid_sentences]

    def baseline(self):
        gold = [s.tags for s in self.valid_sentences]
        scores = tag_scores(gold, self.most_frequent_tags(), self.chunked)
        return {f"most_frequent_tag_{k}": v for k, v in scores.items() if k in ("accuracy", "f1")}

    def write_plots(self, model, run_dir):
        """tagging.png: per-type F1 (chunk tags) or per-tag accuracy of the model and the
        baseline on the held-out sentences, and the CRF's learned transition scores."""
        from jaxlstm.train.engine.plots import plt

        gold = [s.tags for s in self.valid_sentences]
        systems = {"BiLSTM-CRF" if model.crf is not None else "BiLSTM-softmax": self.predict(model),
                   "most frequent tag": self.most_frequent_tags()}
        fig, axes = plt.subplots(1, 2 if model.crf is not None else 1, squeeze=False,
                                 figsize=(11 if model.crf is not None else 6, 4))
        ax = axes[0, 0]
        if self.chunked:
            per = {name: entity_f1(gold, pred).per_type for name, pred in systems.items()}
            kinds = sorted(set().union(*per.values()))
            values = {name: [p[k].f1 if k in p else 0.0 for k in kinds] for name, p in per.items()}
            ax.set_title("held-out entity F1 by type (conlleval)")
        else:
            kinds = list(self.tag_vocab.tags)
            values = {}
            for name, pred in systems.items():
                hits, total = dict.fromkeys(kinds, 0), dict.fromkeys(kinds, 0)
                for g_row, p_row in zip(gold, pred):
                    for g, p in zip(g_row, p_row):
                        total[g] += 1
                        hits[g] += g == p
                values[name] = [hits[k] / total[k] if total[k] else 0.0 for k in kinds]
            ax.set_title("held-out accuracy by gold tag")
        width = 0.8 / len(values)
        for j, (name, v) in enumerate(values.items()):
            ax.bar(np.arange(len(kinds)) + j * width, v, width, label=name)
        ax.set_xticks(np.arange(len(kinds)) + 0.4 - width / 2, kinds, rotation=45 if len(kinds) > 8 else 0)
        ax.set_ylim(0, 1.2), ax.legend(fontsize=8, ncol=2, loc="upper center")
        ax.grid(alpha=0.3, axis="y")
        if model.crf is not None:
            ax = axes[0, 1]
            learned = np.asarray(model.crf.transitions[...])
            legal = np.asarray(model.crf.transition_bias[...]) == 0
            shown = np.where(legal, learned, np.nan)
            m = float(np.nanmax(np.abs(shown))) or 1.0
            im = ax.imshow(shown, cmap="RdBu_r", vmin=-m, vmax=m)
            tags = self.tag_vocab.tags
            ax.set_xticks(range(len(tags)), tags, rotation=90, fontsize=7)
            ax.set_yticks(range(len(tags)), tags, fontsize=7)
            ax.set_xlabel("next tag"), ax.set_ylabel("previous tag")
            ax.set_title("learned CRF transition scores" + (" (blank: forbidden)" if not legal.all() else ""))
            fig.colorbar(im, ax=ax, fraction=0.046)
        fig.tight_layout()
        fig.savefig(Path(run_dir) / "tagging.png", dpi=100)
        plt.close(fig)
