"""IMDB loader on aclImdb-layout folders generated in tmp_path."""

import shutil
from collections import Counter

import numpy as np
import pytest

from jaxlstm.data.imdb import load_imdb, load_imdb_split, tokenize, write_toy_imdb


def write_review(root, split, cls, name, text):
    folder = root / split / cls
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")


@pytest.fixture
def tiny_imdb(tmp_path):
    root = tmp_path / "aclImdb"
    write_review(root, "train", "pos", "10_9.txt", "Great movie!<br /><br />I didn't expect it.")
    write_review(root, "train", "pos", "2_8.txt", "great great fun")
    write_review(root, "train", "neg", "0_2.txt", "Awful. Just awful...")
    write_review(root, "test", "pos", "0_10.txt", "Great, and brilliant.")
    write_review(root, "test", "neg", "1_1.txt", "awful plot, great score")
    write_review(root, "train", "unsup", "0_0.txt", "unsupervised words never counted")
    (root / "imdb.vocab").write_text("the\n", encoding="utf-8")
    return root


def test_tokenizer_by_hand():
    text = "I DIDN'T like it.<br /><br />The END's 'quote' well_done 42 \u2019tis don\u2019t<BR>x"
    assert tokenize(text) == ["i", "didn't", "like", "it", "the", "end's", "quote", "well", "done",
                              "42", "tis", "don't", "x"]


def test_split_reading_order_labels_ratings(tiny_imdb):
    train = load_imdb_split(tiny_imdb, "train")
    assert train.texts == ("Awful. Just awful...", "great great fun",
                           "Great movie!<br /><br />I didn't expect it.")     # neg, then pos by id
    assert train.labels.tolist() == [0, 1, 1] and train.ratings.tolist() == [2, 8, 9]
    assert train.labels.dtype == np.int32


def test_vocab_from_train_only_and_encoding(tiny_imdb):
    data = load_imdb(tiny_imdb, max_len=4, max_size=None)
    # counts on train: great 3, awful 2, then single words alphabetically; "unsup" ignored
    assert data.vocab.tokens[:4] == ("<pad>", "<unk>", "great", "awful")
    assert "unsupervised" not in data.vocab and "brilliant" not in data.vocab
    v = data.vocab.id
    assert data.test.ids.tolist() == [[v("awful"), 1, v("great"), 1], [v("great"), 1, 1, 0]]
    assert data.test.lengths.tolist() == [4, 3] and data.test.labels.tolist() == [0, 1]
    assert data.train.ids.shape == (3, 4) and data.train.ids.dtype == np.int32
    assert data.train.lengths.tolist() == [3, 3, 4]                   # 7 tokens truncated to 4
    pre = load_imdb(tiny_imdb, max_len=2, truncate="pre")
    assert data.vocab.decode(pre.train.ids[2]) == ["expect", "it"]
    small = load_imdb(tiny_imdb, max_len=4, max_size=3, min_freq=2)
    assert small.vocab.tokens == ("<pad>", "<unk>", "great")


@pytest.mark.parametrize("missing", ["train/pos", "train/neg", "test/pos", "test/neg"])
def test_missing_subfolder_is_named(tiny_imdb, missing):
    shutil.rmtree(tiny_imdb / missing)
    with pytest.raises(FileNotFoundError, match=f"missing sub-folder '{missing}'"):
        load_imdb(tiny_imdb)


def test_missing_root_and_empty_folder(tmp_path, tiny_imdb):
    with pytest.raises(FileNotFoundError, match="IMDB root folder not found"):
        load_imdb_split(tmp_path / "nope")
    for f in (tiny_imdb / "test" / "neg").iterdir():
        f.unlink()
    with pytest.raises(ValueError, match=r"test/neg' contains no \*\.txt files"):
        load_imdb_split(tiny_imdb, "test")
    with pytest.raises(ValueError, match="split must be one of"):
        load_imdb_split(tiny_imdb, "unsup")


def test_non_utf8_review_names_file(tiny_imdb):
    (tiny_imdb / "train" / "neg" / "5_3.txt").write_bytes(b"bad \xff byte")
    with pytest.raises(ValueError, match=r"5_3\.txt' is not valid UTF-8: byte offset 4"):
        load_imdb_split(tiny_imdb)


def test_toy_corpus_layout_and_learnability(tmp_path):
    root = write_toy_imdb(tmp_path / "toy", 60, rng=np.random.default_rng(0))
    for split in ("train", "test"):
        for cls in ("pos", "neg"):
            assert len(list((root / split / cls).glob("*.txt"))) == 60
    train, test = load_imdb_split(root, "train"), load_imdb_split(root, "test")
    assert np.all((train.ratings >= 7) == (train.labels == 1)) and set(train.ratings) <= set(range(1, 11))
    assert any("<br />" in t for t in train.texts)
    # A naive Bayes classifier fitted on train separates the test split.
    counts = [Counter(), Counter()]
    for text, label in zip(train.texts, train.labels):
        counts[label].update(tokenize(text))
    vocab = set(counts[0]) | set(counts[1])
    totals = [sum(c.values()) + len(vocab) for c in counts]

    def score(text, k):
        return sum(np.log((counts[k][w] + 1) / totals[k]) for w in tokenize(text) if w in vocab)

    pred = [int(score(t, 1) > score(t, 0)) for t in test.texts]
    assert np.mean(np.array(pred) == test.labels) > 0.85
    again = write_toy_imdb(tmp_path / "toy2", 60, rng=0)
    assert load_imdb_split(again, "test").texts == test.texts
