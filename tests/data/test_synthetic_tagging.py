"""The synthetic NER-like task: encoding, BIO well-formedness, and determinism given context."""

import numpy as np

from jaxlstm.data.conlleval import entity_f1
from jaxlstm.data.synthetic_tagging import (
    LOC_PREPOSITIONS,
    NAMES,
    ORG_SUFFIXES,
    PER_TITLES,
    synthetic_tagging,
)


def rule_tagger(tokens):
    """Independent reference: tag names by the cue word before (PER/LOC) or the suffix after (ORG)."""
    tags, i = ["O"] * len(tokens), 0
    while i < len(tokens):
        if tokens[i] in NAMES:
            j = i
            while j < len(tokens) and tokens[j] in NAMES:
                j += 1
            if j < len(tokens) and tokens[j] in ORG_SUFFIXES:
                kind, end = "ORG", j + 1
            else:
                kind, end = ("PER" if tokens[i - 1] in PER_TITLES else "LOC"), j
                assert tokens[i - 1] in PER_TITLES + LOC_PREPOSITIONS
            tags[i:end] = [f"B-{kind}"] + [f"I-{kind}"] * (end - i - 1)
            i = end
        else:
            i += 1
    return tags


def test_arrays_decode_to_sentences_and_rules_recover_tags():
    data = synthetic_tagging(400, rng=np.random.default_rng(0))
    n, width = data.token_ids.shape
    assert n == 400 and data.tag_ids.shape == (n, width) and width == data.lengths.max()
    assert data.token_ids.dtype == data.tag_ids.dtype == data.lengths.dtype == np.int32
    for ids, tags, length, sent in zip(data.token_ids, data.tag_ids, data.lengths, data.sentences):
        assert tuple(data.token_vocab.decode(ids[:length])) == sent.tokens
        assert tuple(data.tag_vocab.decode(tags[:length])) == sent.tags
        assert np.all(ids[length:] == 0)
        assert 1 not in ids                                     # fixed vocabulary: no <unk>
    true = [list(s.tags) for s in data.sentences]
    pred = [rule_tagger(s.tokens) for s in data.sentences]
    scores = entity_f1(true, pred)
    assert scores.f1 == 1.0 and scores.n_true > 600
    assert set(scores.per_type) == {"PER", "LOC", "ORG"}


def test_reproducible():
    a, b = synthetic_tagging(20, rng=3), synthetic_tagging(20, rng=np.random.default_rng(3))
    assert a.sentences == b.sentences
    np.testing.assert_array_equal(a.tag_ids, b.tag_ids)
