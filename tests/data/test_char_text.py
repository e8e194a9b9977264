"""Character vocabulary, the standard-library corpus, LM windows and the split."""

import argparse
import inspect

import numpy as np
import pytest

from jaxlstm.data.text import (
    CharVocab,
    char_lm_batches,
    contiguous_batches,
    stdlib_corpus,
    train_valid_split,
)


def test_char_vocab_round_trip_and_unknowns():
    text = "hello, wörld\n"
    vocab = CharVocab.build(text)
    assert vocab.chars == tuple(sorted(set(text))) and len(vocab) == 11
    ids = vocab.encode(text)
    assert ids.dtype == np.int32 and vocab.decode(ids) == text
    with pytest.raises(ValueError, match=r"character 'z' at position 2 is not in the vocabulary"):
        vocab.encode("hez")
    with_unk = CharVocab.build(text, unk="\ufffd")
    assert with_unk.chars[0] == "\ufffd"
    assert with_unk.encode("hz").tolist() == [with_unk.chars.index("h"), 0]
    assert with_unk.decode(with_unk.encode("hz")) == "h\ufffd"
    with pytest.raises(ValueError, match="id 99 out of range"):
        vocab.decode([99])
    with pytest.raises(ValueError, match="unk must be a single character"):
        CharVocab.build(text, unk="<unk>")


def test_stdlib_corpus_is_deterministic_english():
    text = stdlib_corpus(50_000)
    assert len(text) == 50_000 and text == stdlib_corpus(50_000)
    assert text.startswith(inspect.getdoc(argparse))       # first the argparse module docstring
    letters = sum(c.isalpha() or c == " " for c in text) / len(text)
    assert letters > 0.75
    words = text.lower().split()
    assert words.count("the") > 200
    full = stdlib_corpus()
    assert len(full) > 200_000 and full.startswith(text)
    source = stdlib_corpus(20_000, kind="source")
    assert "def " in source and "import" in source
    with pytest.raises(ValueError, match="kind must be"):
        stdlib_corpus(10, kind="bytes")


def test_char_lm_batches_are_shifted_windows():
    ids = np.arange(1000)
    x, y = char_lm_batches(ids, seq_len=16, batch_size=32, rng=np.random.default_rng(0))
    assert x.shape == y.shape == (32, 16) and x.dtype == y.dtype == np.int32
    np.testing.assert_array_equal(y, x + 1)                 # targets are the next characters
    np.testing.assert_array_equal(np.diff(x, axis=1), 1)    # contiguous windows
    assert x.min() >= 0 and y.max() <= 999
    x2, _ = char_lm_batches(ids, 16, 32, rng=0)
    np.testing.assert_array_equal(x, x2)
    tiny_x, tiny_y = char_lm_batches(np.arange(5), 4, 3, rng=1)
    np.testing.assert_array_equal(tiny_x, np.tile(np.arange(4), (3, 1)))
    with pytest.raises(ValueError, match=r"at least seq_len \+ 1 = 6 elements, got 5"):
        char_lm_batches(np.arange(5), 5, 1, rng=0)


def test_contiguous_batches_lanes_continue():
    ids = np.arange(101)
    chunks = list(contiguous_batches(ids, seq_len=7, batch_size=4))
    x = np.concatenate([c[0] for c in chunks], axis=1)
    y = np.concatenate([c[1] for c in chunks], axis=1)
    assert x.shape == (4, 25) and chunks[0][0].shape == (4, 7) and chunks[-1][0].shape == (4, 4)
    for b in range(4):
        np.testing.assert_array_equal(x[b], np.arange(25 * b, 25 * (b + 1)))
    np.testing.assert_array_equal(y, x + 1)


def test_train_valid_split():
    text = "abcdefghij"
    train, valid = train_valid_split(text, 0.2)
    assert (train, valid) == ("abcdefgh", "ij")
    tr, va = train_valid_split(np.arange(100), 0.1)
    assert tr.tolist() == list(range(90)) and va.tolist() == list(range(90, 100))
    with pytest.raises(ValueError, match="valid_fraction must be in"):
        train_valid_split(text, 1.5)
