"""Reber / embedded Reber grammar against an independent regular expression, and the
legal-next-symbol sets against brute-force statistics over generated strings."""

import re
from collections import defaultdict

import numpy as np
import pytest

from jaxlstm.data.reber import (
    SYMBOLS,
    continual_reber,
    continual_stream,
    is_valid,
    legal_next,
    reber_dataset,
    reber_string,
    sequence_correct,
    threshold_correct,
    top1_legal,
    topk_correct,
)

# Written from the state diagram, independently of the module: from the node reached by X
# after T S*, loop (X T* V P)* and leave by S or by X T* V V.
_AFTER_X = r"(?:XT*VP)*(?:S|XT*VV)"
REBER_RE = rf"B(?:TS*X{_AFTER_X}|PT*V(?:P{_AFTER_X}|V))E"
EMBEDDED_RE = rf"B([TP]){REBER_RE}\1E"


def regex_valid(s, embedded):
    return re.fullmatch(EMBEDDED_RE if embedded else REBER_RE, s) is not None


def test_known_examples():
    for s in ["BTXSE", "BPVVE", "BTSSXXTVVE", "BPTVPSE", "BTXXVPSE"]:
        assert is_valid(s) and regex_valid(s, False)
    for s in ["BTSE", "BPVE", "BTXSEE", "TXSE", ""]:
        assert not is_valid(s) and not regex_valid(s, False)
    assert is_valid("BTBPVVETE", embedded=True)
    assert not is_valid("BTBPVVEPE", embedded=True)       # the branch symbol must repeat


@pytest.mark.parametrize("embedded", [False, True])
def test_every_generated_string_matches_the_regex(embedded):
    rng = np.random.default_rng(0)
    strings = [reber_string(rng, embedded=embedded) for _ in range(2000)]
    assert all(regex_valid(s, embedded) for s in strings)
    assert all(is_valid(s, embedded=embedded) for s in strings)
    assert len(set(strings)) > 200
    # Mutants and random strings: is_valid agrees with the regex on valid and invalid input.
    for s in strings[:400]:
        i = int(rng.integers(0, len(s)))
        mutant = s[:i] + SYMBOLS[int(rng.integers(0, 7))] + s[i + 1 :]
        assert is_valid(mutant, embedded=embedded) == regex_valid(mutant, embedded)
        junk = "B" + "".join(rng.choice(list("TPSXV"), size=int(rng.integers(2, 8)))) + "E"
        assert is_valid(junk, embedded=embedded) == regex_valid(junk, embedded)


def observed_next_symbols(strings):
    """prefix -> (Counter-like dict of next symbols seen after it)."""
    seen = defaultdict(lambda: defaultdict(int))
    for s in strings:
        for i in range(1, len(s)):
            seen[s[:i]][s[i]] += 1
    return seen


@pytest.mark.parametrize("embedded", [False, True])
def test_legal_next_sets_equal_brute_force(embedded):
    rng = np.random.default_rng(1)
    strings = [reber_string(rng, embedded=embedded) for _ in range(3000)]
    seen = observed_next_symbols(strings)
    checked = 0
    for s in strings[:1000]:
        sets = legal_next(s, embedded=embedded)
        assert len(sets) == len(s) and sets[-1] == frozenset()
        for i in range(len(s) - 1):
            observed = seen[s[: i + 1]]
            assert set(observed) <= sets[i]
            if sum(observed.values()) >= 40:
                assert set(observed) == sets[i], (s[: i + 1], dict(observed), sets[i])
                checked += 1
    assert checked > 1000
    if embedded:  # the long-range dependency: after the inner E, only the remembered branch
        for s in strings[:50]:
            assert legal_next(s, embedded=True)[-3] == {s[1]}


def test_legal_next_rejects_illegal_symbol_with_position():
    with pytest.raises(ValueError, match=r"symbol 'S' at position 1 .* expected one of \['T', 'P'\]"):
        legal_next("BS")


def split_stream(stream):
    """Cut a continual stream into complete embedded strings with the regex, plus a tail."""
    pieces, pos = [], 0
    pattern = re.compile(EMBEDDED_RE)
    while True:
        m = pattern.match(stream, pos)
        if m is None:
            return pieces, stream[pos:]
        pieces.append(m.group(0))
        pos = m.end()


def test_continual_stream_targets_against_brute_force():
    rng = np.random.default_rng(2)
    seen = observed_next_symbols([reber_string(rng, embedded=True) for _ in range(3000)])
    data = continual_reber(4, 300, rng=3)
    assert data.xs.shape == (4, 300, 7) and data.targets.shape == (4, 300, 7)
    assert data.next_ids.shape == (4, 300) and data.next_ids.dtype == np.int32
    for xs, targets, next_ids in zip(data.xs, data.targets, data.next_ids):
        stream = "".join(SYMBOLS[i] for i in xs.argmax(-1))
        pieces, tail = split_stream(stream)
        assert len(pieces) >= 20 and len(tail) < 40
        assert "".join(pieces) + tail == stream              # no separators between strings
        assert np.all(targets[np.arange(300), next_ids] == 1.0)  # the true next symbol is legal
        t = 0
        for piece in pieces + [tail]:
            for i in range(len(piece)):
                legal = {SYMBOLS[k] for k in np.flatnonzero(targets[t])}
                if i == len(piece) - 1 and piece is not tail:
                    assert legal == {"B"}                    # after a final E comes the next B
                else:
                    observed = seen[piece[: i + 1]]
                    if sum(observed.values()) >= 40:
                        assert legal == set(observed)
                t += 1


def test_continual_stream_reproducible():
    assert continual_stream(100, 9) == continual_stream(100, np.random.default_rng(9))
    a, b = continual_reber(2, 50, 4), continual_reber(2, 50, 4)
    np.testing.assert_array_equal(a.targets, b.targets)


def test_reber_dataset_shapes_and_targets():
    data = reber_dataset(50, rng=0, embedded=True)
    assert data.xs.shape[0] == 50 and data.xs.shape == data.targets.shape
    assert data.xs.shape[1] == max(len(s) for s in data.strings) - 1
    for x, target, length, s in zip(data.xs, data.targets, data.lengths, data.strings):
        assert length == len(s) - 1
        assert "".join(SYMBOLS[i] for i in x[:length].argmax(-1)) == s[:-1]
        for t in range(length):
            assert target[t, SYMBOLS.index(s[t + 1])] == 1.0
        assert np.all(x[length:] == 0) and np.all(target[length:] == 0)


def test_prediction_criteria_by_hand():
    legal = np.array([[0, 1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 1]], dtype=np.float32)
    good = np.array([[0.1, 0.6, 0.7, 0.2, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0.9]])
    half = np.array([[0.1, 0.9, 0.4, 0.2, 0, 0, 0], [0, 0, 0, 0, 0, 0.95, 0.9]])
    np.testing.assert_array_equal(threshold_correct(good, legal), [True, True])
    np.testing.assert_array_equal(threshold_correct(half, legal), [False, False])
    np.testing.assert_array_equal(topk_correct(half, legal), [True, False])   # top-2 = {T, P}; top-1 = V
    np.testing.assert_array_equal(top1_legal(half, legal), [True, False])
    tie = np.array([[0, 0.5, 0.5, 0.5, 0, 0, 0]])
    assert not topk_correct(tie, legal[:1])[0]
    steps = np.array([[True, True, False], [True, False, False]])
    np.testing.assert_array_equal(sequence_correct(steps, [2, 2]), [True, False])
