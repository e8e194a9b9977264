"""entity_f1 against hand-computed conlleval results, and against an independent span
extractor on random tag sequences."""

import numpy as np
import pytest

from jaxlstm.data.conll import entity_f1 as reexported
from jaxlstm.data.conlleval import entity_f1, split_tag


def check(scores, n_true, n_pred, n_correct):
    assert (scores.n_true, scores.n_pred, scores.n_correct) == (n_true, n_pred, n_correct)
    p = n_correct / n_pred if n_pred else 0.0
    r = n_correct / n_true if n_true else 0.0
    assert scores.precision == pytest.approx(p)
    assert scores.recall == pytest.approx(r)
    assert scores.f1 == pytest.approx(2 * p * r / (p + r) if p + r else 0.0)


def test_iob2_two_sentences_by_hand():
    true = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O"]]
    s = entity_f1(true, pred)
    # true: PER[0,1], LOC[3], ORG[0]; pred: PER[0,1], ORG[3], ORG[0]; correct: PER, ORG (sentence 2)
    check(s, 3, 3, 2)
    assert s.f1 == pytest.approx(2 / 3)
    assert s.accuracy == pytest.approx(5 / 6)
    check(s.per_type["PER"], 1, 1, 1)
    check(s.per_type["LOC"], 1, 0, 0)
    check(s.per_type["ORG"], 1, 2, 1)
    assert s.per_type["ORG"].precision == 0.5 and s.per_type["ORG"].recall == 1.0
    assert reexported is entity_f1


def test_i_after_o_starts_a_chunk():
    # conlleval treats I-PER after O as the start of a PER chunk, so this prediction is right.
    check(entity_f1([["O", "B-PER", "I-PER", "O"]], [["O", "I-PER", "I-PER", "O"]]), 1, 1, 1)
    # ... also at the start of a sentence.
    check(entity_f1([["B-PER", "I-PER"]], [["I-PER", "I-PER"]]), 1, 1, 1)
    # O between two I-PER splits them into two chunks; a prediction spanning both is wrong.
    check(entity_f1([["B-PER", "O", "I-PER"]], [["B-PER", "I-PER", "I-PER"]]), 2, 1, 0)


def test_iob1_by_hand():
    true = [["I-PER", "I-PER", "B-PER", "O", "I-LOC"]]   # PER[0,1], PER[2], LOC[4]
    pred = [["I-PER", "I-PER", "I-PER", "O", "I-LOC"]]   # PER[0,2], LOC[4]
    s = entity_f1(true, pred)
    check(s, 3, 2, 1)
    assert s.precision == 0.5 and s.recall == pytest.approx(1 / 3) and s.f1 == pytest.approx(0.4)


def test_type_change_inside_chunk_and_boundary_mismatch():
    check(entity_f1([["B-PER", "I-PER"]], [["B-PER", "I-LOC"]]), 1, 2, 0)  # I-LOC starts a LOC chunk
    check(entity_f1([["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]]), 1, 1, 0)  # ends differ
    check(entity_f1([["B-PER", "B-PER"]], [["B-PER", "I-PER"]]), 2, 1, 0)


def test_iobes_by_hand():
    true = [["S-PER", "S-PER", "B-LOC", "E-LOC", "B-LOC", "I-LOC", "E-LOC", "O", "S-ORG"]]
    pred = [["B-PER", "E-PER", "B-LOC", "E-LOC", "S-LOC", "B-LOC", "E-LOC", "O", "S-ORG"]]
    # true: PER[0] PER[1] LOC[2,3] LOC[4,6] ORG[8]; pred: PER[0,1] LOC[2,3] LOC[4] LOC[5,6] ORG[8]
    s = entity_f1(true, pred)
    check(s, 5, 5, 2)
    assert s.accuracy == pytest.approx(5 / 9)
    check(entity_f1([["B-PER", "E-PER", "B-PER", "E-PER"]], [["B-PER", "E-PER", "B-PER", "E-PER"]]), 2, 2, 2)


def test_sentence_boundary_ends_chunks():
    check(entity_f1([["B-PER", "I-PER"], ["I-PER"]], [["B-PER", "I-PER"], ["I-PER"]]), 2, 2, 2)


def test_degenerate_cases_and_errors():
    s = entity_f1([["O", "O"]], [["O", "O"]])
    check(s, 0, 0, 0)
    assert s.accuracy == 1.0 and s.per_type == {}
    assert split_tag("B-PER-X") == ("B", "PER-X") and split_tag("O") == ("O", "")
    with pytest.raises(ValueError, match="sentence 1: 2 true tags but 1 predicted"):
        entity_f1([["O"], ["O", "O"]], [["O"], ["O"]])
    with pytest.raises(ValueError, match="same number of sentences"):
        entity_f1([["O"]], [])


def spans_iob(tags):
    """Independent IOB2/IOB1 chunker: a chunk starts at B, or at I after O or another type."""
    spans, start, kind = set(), None, None
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, _, typ = tag.partition("-")
        begins = prefix == "B" or (prefix == "I" and (kind is None or typ != kind))
        if start is not None and (prefix == "O" or begins):
            spans.add((start, i, kind))
            start, kind = None, None
        if begins:
            start, kind = i, typ
    return spans


def spans_to_iobes(spans, n):
    tags = ["O"] * n
    for a, b, k in spans:
        if b - a == 1:
            tags[a] = f"S-{k}"
        else:
            tags[a], tags[b - 1] = f"B-{k}", f"E-{k}"
            for i in range(a + 1, b - 1):
                tags[i] = f"I-{k}"
    return tags


def random_spans(rng, n):
    spans, i = set(), 0
    while i < n:
        if rng.random() < 0.4:
            length = int(rng.integers(1, 4))
            spans.add((i, min(i + length, n), str(rng.choice(["PER", "LOC"]))))
            i += length
        else:
            i += 1
    return spans


def set_scores(true_sents, pred_sents):
    t = {(j, *s) for j, sent in enumerate(true_sents) for s in sent}
    p = {(j, *s) for j, sent in enumerate(pred_sents) for s in sent}
    return len(t), len(p), len(t & p)


def test_random_iob_tags_match_span_sets():
    rng = np.random.default_rng(0)
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    for _ in range(200):
        lens = rng.integers(1, 8, size=3)
        true = [[str(t) for t in rng.choice(tags, size=n)] for n in lens]
        pred = [[t if rng.random() < 0.7 else str(rng.choice(tags)) for t in sent] for sent in true]
        s = entity_f1(true, pred)
        check(s, *set_scores([spans_iob(x) for x in true], [spans_iob(x) for x in pred]))


def test_random_iobes_tags_match_span_sets():
    rng = np.random.default_rng(1)
    for _ in range(200):
        lens = rng.integers(1, 9, size=3)
        true_spans = [random_spans(rng, n) for n in lens]
        pred_spans = [sp if rng.random() < 0.5 else random_spans(rng, n) for sp, n in zip(true_spans, lens)]
        true = [spans_to_iobes(sp, n) for sp, n in zip(true_spans, lens)]
        pred = [spans_to_iobes(sp, n) for sp, n in zip(pred_spans, lens)]
        check(entity_f1(true, pred), *set_scores(true_spans, pred_spans))
