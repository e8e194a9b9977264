"""Vocab (<pad>=0, <unk>=1) and TagVocab."""

import numpy as np
import pytest

from jaxlstm.data.vocab import TagVocab, Vocab


def test_vocab_order_min_freq_and_max_size():
    docs = [["b", "a", "a"], ["c", "b", "a"], ["d"]]
    v = Vocab.build(docs)
    assert v.tokens == ("<pad>", "<unk>", "a", "b", "c", "d")    # by count, ties alphabetical
    assert Vocab.build(docs, min_freq=2).tokens == ("<pad>", "<unk>", "a", "b")
    assert Vocab.build(docs, max_size=3).tokens == ("<pad>", "<unk>", "a")
    assert v.encode(["a", "zzz", "d"]).tolist() == [2, 1, 5]
    assert v.decode(np.array([2, 0])) == ["a", "<pad>"]
    ids, lengths = v.encode_batch([["a", "b"], ["c"]])
    assert ids.tolist() == [[2, 3], [4, 0]] and lengths.tolist() == [2, 1]
    with pytest.raises(ValueError, match="max_size must be >= 2"):
        Vocab.build(docs, max_size=1)
    with pytest.raises(ValueError, match="tokens must start with"):
        Vocab(("a", "b"))


def test_tag_vocab():
    tv = TagVocab.build([["B-PER", "O"], ["I-PER", "B-LOC"]])
    assert tv.tags == ("O", "B-LOC", "B-PER", "I-PER")
    assert tv.encode(["O", "I-PER"]).tolist() == [0, 3]
    with pytest.raises(ValueError, match=r"unknown tag 'X'; known tags: \['O'"):
        tv.id("X")
