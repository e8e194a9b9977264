"""Entity-level precision / recall / F1 exactly as the `conlleval` Perl script computes them.

This is a line-by-line port of conlleval (version 2004-01-26, Erik Tjong Kim
Sang), the official CoNLL-2000/2003 scorer, including:

* tag splitting at the first hyphen ("B-PER-X" has prefix "B", type "PER-X");
* its startOfChunk/endOfChunk rules for IOB1, IOB2 (BIO), IOE1, IOE2 and the
  bracket tags "[" "]" "." -- in particular an I- tag after O (or after a tag
  of another type) *starts* a chunk, so ill-formed BIO is repaired, not dropped;
* a chunk counts as correct only if both start together with the same type and
  both end together, with no type disagreement in between;
* a sentence boundary (as if an "O O" line) after every sentence.

The only addition is IOBES: the original script predates S- (single) tags and
treats "E-X B-X" or "S-X S-X" as one chunk. We add the rules of the widely used
IOBES-extended conlleval (a chunk also ends before B/S after E, before S after
B/I, and after any S; a chunk also starts at S, at B after E/S, and at I/E
after S). These rules never fire on IOB1/IOB2/IOE tag sequences, so results
on those schemes are those of the original script.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

_TAG = re.compile(r"^([^-]*)-(.*)$")


def split_tag(tag: str) -> tuple[str, str]:
    """(prefix, type) of a chunk tag, split at the first hyphen.

    "B-PER" -> ("B", "PER"), "B-PER-X" -> ("B", "PER-X"), "O" -> ("O", "").
    """
    m = _TAG.match(tag)
    prefix, kind = (m.group(1), m.group(2)) if m else (tag, "")
    return prefix, ("" if kind == "0" else kind)  # Perl: `$type ? $type : ""` ("0" is false)


def end_of_chunk(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    """conlleval's endOfChunk: did a chunk end between the previous and the current word?"""
    end = (prev_tag, tag) in {
        ("B", "B"), ("B", "O"), ("I", "B"), ("I", "O"),
        ("E", "E"), ("E", "I"), ("E", "O"),
        # IOBES extension:
        ("B", "S"), ("I", "S"), ("E", "B"), ("E", "S"),
        ("S", "B"), ("S", "I"), ("S", "E"), ("S", "S"), ("S", "O"),
    }
    if prev_tag != "O" and prev_tag != "." and prev_type != type_:
        end = True
    if prev_tag in ("]", "["):
        end = True
    return end


def start_of_chunk(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    """conlleval's startOfChunk: did a chunk start between the previous and the current word?"""
    start = (prev_tag, tag) in {
        ("B", "B"), ("I", "B"), ("O", "B"), ("O", "I"),
        ("E", "E"), ("E", "I"), ("O", "E"),
        # IOBES extension:
        ("S", "B"), ("E", "B"),
        ("B", "S"), ("I", "S"), ("O", "S"), ("S", "S"), ("E", "S"),
        ("S", "I"), ("S", "E"),
    }
    if tag != "O" and tag != "." and prev_type != type_:
        start = True
    if tag in ("[", "]"):
        start = True
    return start


@dataclass(frozen=True)
class ChunkScores:
    """conlleval's counts and scores (as fractions in [0, 1], not percentages).

    n_true: chunks in the reference ("phrases"); n_pred: chunks found; n_correct:
    correct chunks; accuracy: token-level tag accuracy. `per_type` maps each
    chunk type to its own ChunkScores (with an empty per_type). Scores with a
    zero denominator are 0.0, as in the script.
    """

    precision: float
    recall: float
    f1: float
    n_true: int
    n_pred: int
    n_correct: int
    accuracy: float = float("nan")
    per_type: dict = field(default_factory=dict, compare=False)


def _scores(n_correct: int, n_pred: int, n_true: int, accuracy: float = float("nan"), per_type=None):
    p = n_correct / n_pred if n_pred > 0 else 0.0
    r = n_correct / n_true if n_true > 0 else 0.0
    f = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return ChunkScores(p, r, f, n_true, n_pred, n_correct, accuracy, dict(per_type or {}))


def _steps(true_seqs, pred_seqs):
    """(correct_tag, guessed_tag, is_token) triples with an ("O", "O") boundary after each sentence."""
    if len(true_seqs) != len(pred_seqs):
        raise ValueError(
            "true_seqs and pred_seqs must have the same number of sentences, "
            f"got {len(true_seqs)} and {len(pred_seqs)}"
        )
    for i, (t, p) in enumerate(zip(true_seqs, pred_seqs)):
        if isinstance(t, str) or isinstance(p, str):
            raise TypeError(f"sentence {i} must be a sequence of tag strings, not a single string")
        if len(t) != len(p):
            raise ValueError(f"sentence {i}: {len(t)} true tags but {len(p)} predicted tags")
        for a, b in zip(t, p):
            yield a, b, True
        yield "O", "O", False


def entity_f1(
    true_seqs: Sequence[Sequence[str]], pred_seqs: Sequence[Sequence[str]]
) -> ChunkScores:
    """Entity (chunk) precision, recall and F1 of `pred_seqs` against `true_seqs`, as conlleval.

    Both are sequences of sentences, each a sequence of tag strings ("B-PER",
    "I-LOC", "O", "S-ORG", ...), with matching lengths.
    """
    found_true, found_pred, correct = Counter(), Counter(), Counter()
    in_correct = False
    last_c, last_ct, last_g, last_gt = "O", "", "O", ""
    tokens = correct_tags = 0
    for c_tag, g_tag, is_token in _steps(true_seqs, pred_seqs):
        c, ct = split_tag(c_tag)
        g, gt = split_tag(g_tag)
        end_c = end_of_chunk(last_c, c, last_ct, ct)
        end_g = end_of_chunk(last_g, g, last_gt, gt)
        if in_correct:
            if end_c and end_g and last_gt == last_ct:
                in_correct = False
                correct[last_ct] += 1
            elif end_c != end_g or gt != ct:
                in_correct = False
        start_c = start_of_chunk(last_c, c, last_ct, ct)
        start_g = start_of_chunk(last_g, g, last_gt, gt)
        if start_c and start_g and gt == ct:
            in_correct = True
        if start_c:
            found_true[ct] += 1
        if start_g:
            found_pred[gt] += 1
        if is_token:
            tokens += 1
            correct_tags += int(c == g and gt == ct)
        last_c, last_ct, last_g, last_gt = c, ct, g, gt
    if in_correct:
        correct[last_ct] += 1
    per_type = {
        k: _scores(correct[k], found_pred[k], found_true[k])
        for k in sorted(set(found_true) | set(found_pred))
    }
    accuracy = correct_tags / tokens if tokens else 0.0
    totals = sum(correct.values()), sum(found_pred.values()), sum(found_true.values())
    return _scores(*totals, accuracy, per_type)
