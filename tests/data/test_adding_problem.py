"""Adding problem (Hochreiter & Schmidhuber 1997, Exp. 4) against a plain-loop reference."""

import numpy as np
import pytest

from jaxlstm.data.adding import adding_accuracy, adding_correct, adding_problem


def reference_target(pairs, length):
    """0.5 + (sum of values whose marker is exactly 1.0) / 4, by an explicit loop."""
    total, marks = 0.0, 0
    for t in range(length):
        if pairs[t][1] == 1.0:
            total += float(pairs[t][0])
            marks += 1
    assert marks == 2
    return 0.5 + total / 4.0


@pytest.mark.parametrize("T", [10, 21, 100])
def test_targets_match_loop_over_markers(T):
    data = adding_problem(300, T, rng=np.random.default_rng(0))
    assert data.xs.shape == (300, T + T // 10, 2) and data.xs.dtype == np.float32
    assert data.lengths.dtype == np.int32 and data.targets.dtype == np.float32
    for i in range(300):
        assert data.targets[i] == pytest.approx(reference_target(data.xs[i], data.lengths[i]), abs=1e-6)


def test_marker_layout_follows_the_paper():
    T = 40
    data = adding_problem(2000, T, rng=1)
    seen_last_prefix_position = False
    for x, length in zip(data.xs, data.lengths):
        values, markers = x[:, 0], x[:, 1]
        marked = [t for t in range(length) if markers[t] == 1.0]
        assert len(marked) == 2 and marked[0] != marked[1]
        assert min(marked) < 10                    # one of the first ten pairs
        assert max(marked) <= T // 2 - 1           # one of the first T/2 - 1 still-unmarked pairs
        seen_last_prefix_position |= max(marked) == T // 2 - 1
        for t in range(length):
            if t in marked:
                continue
            expected = -1.0 if t in (0, length - 1) else 0.0
            assert markers[t] == expected, (t, markers[t])
        if 0 in marked:
            assert values[0] == 0.0                # "we set X1 to zero"
        assert np.all(np.abs(values[:length]) <= 1.0)
        assert np.all(x[length:] == 0.0)           # zero padding
    assert seen_last_prefix_position


def test_lengths_cover_T_to_T_plus_tenth():
    data = adding_problem(1000, 50, rng=2)
    assert set(data.lengths.tolist()) == set(range(50, 56))


def test_first_pair_marked_case_occurs_and_is_zeroed():
    data = adding_problem(500, 10, rng=3)
    first_marked = data.xs[:, 0, 1] == 1.0
    assert first_marked.any()
    assert np.all(data.xs[first_marked, 0, 0] == 0.0)


def test_reproducible_and_seed_dependent():
    a = adding_problem(20, 30, rng=np.random.default_rng(7))
    b = adding_problem(20, 30, rng=7)
    c = adding_problem(20, 30, rng=8)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.xs, c.xs)


def test_accuracy_uses_0_04_threshold():
    target = np.array([0.5, 0.5, 0.2, 0.9])
    pred = np.array([0.539, 0.541, 0.2, 0.8])
    np.testing.assert_array_equal(adding_correct(pred, target), [True, False, True, False])
    assert adding_accuracy(pred, target) == 0.5
    assert adding_accuracy(pred[:, None], target) == 0.5
    with pytest.raises(ValueError, match="same number"):
        adding_accuracy(pred[:3], target)


def test_argument_errors():
    with pytest.raises(ValueError, match="min_length must be >= 10, got 5"):
        adding_problem(3, 5, rng=0)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        adding_problem(3, 20, rng=None)
    with pytest.raises(ValueError, match="n must be >= 1"):
        adding_problem(0, 20, rng=0)
