"""The `tagging` task: BiLSTM-CRF on synthetic NER and on CoNLL-2003 / CoNLL-U files."""

import json
import math
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxlstm.data.conll import write_conll
from jaxlstm.data.conlleval import entity_f1
from jaxlstm.data.tagged import TaggedSentence
from jaxlstm.train.lab.config import ConfigError, load_config
from jaxlstm.train.lab.config_run import fit
from jaxlstm.train.lab.tasks.tagging import Tagging, constraint_scheme, is_chunk_tagset, tag_scores

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

TINY = {"model": {"hidden_size": 8, "embed_dim": 8, "bidirectional": True},
        "optim": {"learning_rate": 0.01},
        "train": {"steps": 4, "batch_size": 8, "eval_every": 4, "checkpoint_every": 4,
                  "log_every": 2, "progress": False}}


def tiny_config(tmp_path, name="tiny", **data):
    return load_config({"name": name, "task": "tagging", "out_dir": str(tmp_path / "runs"),
                        **TINY, "data": data})


def assert_run_folder(run_dir, summary, plot="tagging.png"):
    for f in ("summary.json", "metrics.jsonl", "learning_curves.png", "config.yaml", plot):
        assert (run_dir / f).is_file(), f
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == summary["steps"] == 4
    assert summary["final"] and all(math.isfinite(v) for v in summary["final"].values())


# ------------------------------------------------------------------ scoring


def test_tag_scores_hand_computed_and_equal_to_conlleval():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG", "I-ORG"]]
    pred = [["B-PER", "I-PER", "O", "O"], ["O", "B-ORG", "B-ORG"]]
    # gold chunks: PER(0-1), LOC(3), ORG(1-2); predicted: PER(0-1), ORG(1), ORG(2).
    # correct: PER only -> P = 1/3, R = 1/3, F1 = 1/3; tokens right: 4 + 2 of 7.
    scores = tag_scores(gold, pred, chunked=True)
    assert scores["precision"] == pytest.approx(1 / 3)
    assert scores["recall"] == pytest.approx(1 / 3)
    assert scores["f1"] == pytest.approx(1 / 3)
    assert scores["accuracy"] == pytest.approx(5 / 7)
    ref = entity_f1(gold, pred)
    assert (scores["precision"], scores["recall"], scores["f1"]) == (ref.precision, ref.recall, ref.f1)
    assert set(tag_scores(gold, pred, chunked=False)) == {"accuracy"}


def test_tag_sets_and_constraint_scheme():
    assert is_chunk_tagset(["O", "B-PER", "I-PER", "S-LOC", "E-LOC"])
    assert not is_chunk_tagset(["NOUN", "VERB", "O"])
    bio = ["O", "B-PER", "I-PER"]
    assert constraint_scheme(bio, [["B-PER", "I-PER", "O"], ["O"]]) == "BIO"
    # IOB1 (the original CoNLL-2003 files): I- after O starts a chunk -> no constraints.
    assert constraint_scheme(bio, [["O", "I-PER", "I-PER"]]) is None
    assert constraint_scheme(bio, [["I-PER", "O"]]) is None  # BIO may not start with I-
    iobes = ["O", "B-PER", "I-PER", "E-PER", "S-LOC"]
    assert constraint_scheme(iobes, [["B-PER", "I-PER", "E-PER", "S-LOC", "O"]]) == "IOBES"
    assert constraint_scheme(iobes, [["B-PER", "O"]]) is None
    assert constraint_scheme(["NOUN", "VERB"], [["NOUN", "VERB"]]) is None


class FixedTagger(nnx.Module):
    """Tags every token id with a fixed tag id (table[token]); no CRF."""

    def __init__(self, table):
        self.table = nnx.Variable(jnp.asarray(table, jnp.int32))
        self.crf = None

    def decode(self, tokens, lengths=None):
        return self.table[...][tokens]


def test_task_evaluation_is_conlleval_on_the_decoded_held_out_tags(tmp_path):
    train = [TaggedSentence(("mr", "ada", "in", "rome"), ("O", "B-PER", "O", "B-LOC")),
             TaggedSentence(("acme", "corp", "said"), ("B-ORG", "I-ORG", "O"))]
    valid = [TaggedSentence(("mr", "ada", "said"), ("O", "B-PER", "O")),
             TaggedSentence(("in", "rome", "acme", "corp", "mr"), ("O", "B-LOC", "B-ORG", "I-ORG", "O"))]
    write_conll(tmp_path / "train.txt", train)
    write_conll(tmp_path / "valid.txt", valid)
    cfg = tiny_config(tmp_path, source="conll", train_path=str(tmp_path / "train.txt"),
                      valid_path=str(tmp_path / "valid.txt"))
    task = Tagging(cfg)
    words, tags = task.vocab, task.tag_vocab
    guess = {"mr": "O", "ada": "B-PER", "in": "O", "rome": "B-PER", "acme": "B-ORG",
             "corp": "I-ORG", "said": "O"}
    table = np.full(len(words), tags.id("B-LOC"))  # <pad> and <unk>: a tag that would add chunks
    for w, t in guess.items():
        table[words.id(w)] = tags.id(t)
    metrics = task.evaluate(FixedTagger(table), lambda batch: (jnp.zeros(()), {}))
    # gold chunks PER, LOC, ORG; predicted PER, PER(rome), ORG: 2 of 3 right both ways.
    assert metrics["precision"] == pytest.approx(2 / 3)
    assert metrics["recall"] == pytest.approx(2 / 3)
    assert metrics["f1"] == pytest.approx(2 / 3)
    assert metrics["accuracy"] == pytest.approx(7 / 8)
    pred = [[guess[w] for w in s.tokens] for s in valid]
    ref = entity_f1([s.tags for s in valid], pred)
    assert metrics["f1"] == pytest.approx(ref.f1)


def test_most_frequent_tag_baseline(tmp_path):
    train = [TaggedSentence(("bank", "of", "x"), ("B-ORG", "I-ORG", "I-ORG")),
             TaggedSentence(("bank", "said"), ("B-ORG", "O")),
             TaggedSentence(("the", "bank"), ("O", "O")),
             TaggedSentence(("x", "said"), ("O", "O"))]
    valid = [TaggedSentence(("bank", "said", "zzz"), ("B-ORG", "O", "O")),
             TaggedSentence(("x", "bank"), ("B-LOC", "O"))]
    write_conll(tmp_path / "train.txt", train)
    write_conll(tmp_path / "valid.txt", valid)
    task = Tagging(tiny_config(tmp_path, source="conll", train_path=str(tmp_path / "train.txt"),
                               valid_path=str(tmp_path / "valid.txt")))
    # bank: B-ORG 2x vs O 1x; said: O; x: I-ORG 1x vs O 1x -> tie, "O" comes first; zzz unseen -> O.
    assert task.most_frequent_tags() == [["B-ORG", "O", "O"], ["O", "B-ORG"]]
    # gold chunks ORG, LOC; predicted ORG, ORG(bank): 1 correct -> P = R = F1 = 1/2; 3 of 5 tags.
    assert task.baseline() == {"most_frequent_tag_accuracy": pytest.approx(3 / 5),
                               "most_frequent_tag_f1": pytest.approx(1 / 2)}


# ------------------------------------------------------------------ config errors


@pytest.mark.parametrize("data, key", [
    ({"source": "wikipedia"}, "data.source"),
    ({"format": "json"}, "data.format"),
    ({"source": "conll"}, "data.train_path"),
    ({"train_path": "x.conll"}, "data.train_path"),
    ({"eval_size": 0}, "data.eval_size"),
    ({"valid_fraction": 1.5}, "data.valid_fraction"),
])
def test_bad_data_keys_name_the_key(tmp_path, data, key):
    with pytest.raises(ConfigError, match=key):
        tiny_config(tmp_path, **data)


def test_bad_tag_column_and_missing_valid_file(tmp_path):
    path = write_conll(tmp_path / "train.txt", [TaggedSentence(("a", "b"), ("O", "B-PER"))])
    with pytest.raises(ConfigError, match="data.tag_column.*'ner'"):
        tiny_config(tmp_path, source="conll", train_path=str(path), tag_column="ner")
    with pytest.raises(ConfigError, match="data.valid_path: file not found"):
        Tagging(tiny_config(tmp_path, source="conll", train_path=str(path),
                            valid_path=str(tmp_path / "nope")))
    cfg = tiny_config(tmp_path, source="conll", train_path=str(path), tag_column=7)
    with pytest.raises(ConfigError, match="data.train_path.*tag_column=7"):
        Tagging(cfg)


def test_conll_config_names_the_missing_file(tmp_path):
    from jaxlstm.cli import main

    # the config loads (its files need not be on this machine); training stops with the key.
    cfg = load_config(CONFIGS / "conll.yaml", ["data.train_path=/no/such/eng.train"])
    with pytest.raises(ConfigError, match="data.train_path: file not found: /no/such/eng.train"):
        Tagging(cfg)
    assert main(["train", str(CONFIGS / "conll.yaml"), f"out_dir={tmp_path}",
                 "data.train_path=/no/such/eng.train"]) == 2


# ------------------------------------------------------------------ end to end


@pytest.mark.slow
def test_tagging_config_smoke_and_inspect(tmp_path):
    from jaxlstm.train.lab.inspect import inspect_run

    cfg = load_config(CONFIGS / "tagging.yaml", [
        f"out_dir={tmp_path}", "train.steps=4", "train.checkpoint_every=4",
        "train.progress=false", "model.hidden_size=8", "model.embed_dim=8",
        "data.train_size=40", "data.eval_size=16", "train.eval_every=4"])
    summary = fit(cfg, quiet=True)
    assert_run_folder(cfg.run_dir, summary)
    assert summary["monitor"] == "valid/f1" and 0.0 <= summary["final"]["valid/f1"] <= 1.0
    assert set(summary["baseline"]) == {"most_frequent_tag_accuracy", "most_frequent_tag_f1"}
    # inspect: the encoder is bidirectional; the plot shows the forward direction's gates.
    out = inspect_run(cfg.run_dir)
    assert out.is_file() and out.stat().st_size > 0


def _conll2003_rows(sentences):
    return [[(tok, "NN", "B-NP" if i == 0 else "I-NP", tag)
             for i, (tok, tag) in enumerate(zip(s.tokens, s.tags))] for s in sentences]


@pytest.mark.slow
def test_conll_config_smoke_on_a_generated_conll2003_file(tmp_path):
    from jaxlstm.data.synthetic_tagging import synthetic_tagging

    sentences = synthetic_tagging(40, np.random.default_rng(0)).sentences
    train = write_conll(tmp_path / "eng.train", _conll2003_rows(sentences[:30]), docstart=True)
    valid = write_conll(tmp_path / "eng.testa", _conll2003_rows(sentences[30:]), docstart=True)
    cfg = load_config(CONFIGS / "conll.yaml", [
        f"out_dir={tmp_path}", f"data.train_path={train}", f"data.valid_path={valid}",
        "data.min_freq=1", "train.steps=4", "train.eval_every=4", "train.checkpoint_every=4",
        "train.progress=false", "model.hidden_size=8", "model.embed_dim=8"])
    task = Tagging(cfg)
    assert task.chunked and task.scheme == "BIO" and len(task.valid_sentences) == 10
    assert task.vocab.tokens[:2] == ("<pad>", "<unk>") and "-DOCSTART-" not in task.vocab
    summary = fit(cfg, quiet=True)
    assert_run_folder(cfg.run_dir, summary)
    assert {"valid/f1", "valid/accuracy", "valid/loss"} <= set(summary["final"])


def test_conllu_file_pos_tagging(tmp_path):
    rows = [("the", "DET"), ("cat", "NOUN"), ("sat", "VERB"), ("on", "ADP"), ("mat", "NOUN")]
    lines = []
    for k, words in enumerate([[0, 1, 2], [0, 4, 2, 3], [1, 2, 3, 0, 4]]):
        lines.append(f"# sent_id = {k}")
        if k == 1:
            lines.append("1-2\tthe mat\t_\t_\t_\t_\t_\t_\t_\t_")  # a multiword token: skipped
        for i, w in enumerate(words, 1):
            form, upos = rows[w]
            lines.append("\t".join([str(i), form, form, upos, "_", "_", "0", "dep", "_", "_"]))
        lines.append("")
    path = tmp_path / "pos.conllu"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg = tiny_config(tmp_path, source="conll", format="conllu", train_path=str(path),
                      valid_fraction=0.34)
    task = Tagging(cfg)
    assert [s.tags for s in task.valid_sentences] == [("NOUN", "VERB", "ADP", "DET", "NOUN")]
    # POS tags are not chunk tags: no CRF constraints, no entity F1, accuracy is monitored.
    assert not task.chunked and task.scheme is None and task.monitor == "valid/accuracy"
    tags = task.tag_vocab
    table = np.full(len(task.vocab), tags.id("NOUN"))  # "cat" is <unk>: not in training
    for form, upos in rows:
        if form in task.vocab:
            table[task.vocab.id(form)] = tags.id("VERB" if form == "on" else upos)
    metrics = task.evaluate(FixedTagger(table), lambda batch: (jnp.zeros(()), {}))
    assert metrics == {"loss": 0.0, "accuracy": pytest.approx(4 / 5)}  # "on" tagged wrong
    batch = task.train_batch(np.random.default_rng(0), 4)
    # padded to the 16-step bucket, capped at the longest training sentence (4 words)
    assert batch["tokens"].shape == batch["tags"].shape == (4, 4)


@pytest.mark.slow
def test_held_out_loss_is_pooled_over_tokens_not_batches(tmp_path):
    """Batches of 5, 5 and 2 sentences hold different numbers of tokens: the held-out loss is
    -sum log p(y|x) over every sentence / every token, computed here sentence by sentence."""
    from jaxlstm.train import TaskTrainer

    cfg = tiny_config(tmp_path, train_size=40, eval_size=12, eval_batch_size=5)
    trainer = TaskTrainer(cfg)
    _, eval_step = trainer.compiled_steps()
    got = trainer.evaluate(eval_step)["valid/loss"]
    model, nll, tokens, batch_means = trainer.model, 0.0, 0, []
    for batch in trainer.task.eval_batches():  # log p(y_b | x_b) of each sentence b
        ll = np.asarray(model.log_likelihood(batch["tokens"], batch["tags"], batch["lengths"],
                                             deterministic=True))
        nll, tokens = nll - ll.sum(), tokens + int(batch["lengths"].sum())
        batch_means.append((len(ll), -ll.sum() / batch["lengths"].sum()))
    np.testing.assert_allclose(got, nll / tokens, rtol=1e-5)
    by_sentences = sum(n * m for n, m in batch_means) / sum(n for n, _ in batch_means)
    assert abs(by_sentences - nll / tokens) > 1e-4  # the old averaging gives another number here
