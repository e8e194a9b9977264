"""Temporal order (Hochreiter & Schmidhuber 1997, Exp. 6a) decoded and checked symbol by symbol."""

import numpy as np
import pytest

from jaxlstm.data.temporal_order import CLASSES, SYMBOLS, class_of, temporal_order

ORDER_TO_CLASS = {"XX": "Q", "XY": "R", "YX": "S", "YY": "U"}


def test_sequences_follow_the_protocol():
    data = temporal_order(1500, rng=0)
    assert data.xs.shape == (1500, 110, 8) and data.xs.dtype == np.float32
    t1_seen, t2_seen, lengths_seen = set(), set(), set()
    for x, length, label in zip(data.xs, data.lengths, data.labels):
        assert np.all(x[:length].sum(-1) == 1.0) and np.all(x[length:] == 0.0)
        s = "".join(SYMBOLS[i] for i in x[:length].argmax(-1))
        assert s[0] == "E" and s[-1] == "B"
        relevant = [i for i, c in enumerate(s) if c in "XY"]
        assert len(relevant) == 2
        p1, p2 = relevant
        assert 9 <= p1 <= 19 and 49 <= p2 <= 59   # t1 in [10, 20], t2 in [50, 60], 1-based
        assert set(s[1:-1]) - set("XY") <= set("abcd")
        assert CLASSES[label] == ORDER_TO_CLASS[s[p1] + s[p2]]
        t1_seen.add(p1 + 1), t2_seen.add(p2 + 1), lengths_seen.add(int(length))
    assert t1_seen == set(range(10, 21)) and t2_seen == set(range(50, 61))
    assert lengths_seen == set(range(100, 111))
    counts = np.bincount(data.labels, minlength=4)
    assert counts.min() > 1500 / 4 * 0.8


def test_class_of_and_reproducibility():
    assert [class_of(a, b) for a, b in ["XX", "XY", "YX", "YY"]] == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="first must be 'X' or 'Y', got 'Z'"):
        class_of("Z", "X")
    a, b = temporal_order(10, rng=5), temporal_order(10, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a.xs, b.xs)
    np.testing.assert_array_equal(a.labels, b.labels)
