"""iterate_batches, random_split and pad_sequences."""

from typing import NamedTuple

import numpy as np
import pytest

from jaxlstm.data.batching import iterate_batches, length_mask, pad_sequences, random_split


class Pair(NamedTuple):
    x: np.ndarray
    y: np.ndarray


def test_each_example_once_per_epoch_dict_and_tuple():
    x = np.arange(23) * 10
    y = np.arange(23)
    batches = list(iterate_batches({"x": x, "y": y}, 5, rng=np.random.default_rng(0)))
    assert [len(b["y"]) for b in batches] == [5, 5, 5, 5, 3]
    seen = np.concatenate([b["y"] for b in batches])
    assert sorted(seen.tolist()) == list(range(23)) and seen.tolist() != list(range(23))
    for b in batches:
        np.testing.assert_array_equal(b["x"], b["y"] * 10)      # rows stay aligned
    tuples = list(iterate_batches((x, y), 5, rng=0, drop_last=True))
    assert len(tuples) == 4 and all(isinstance(t, tuple) and len(t[0]) == 5 for t in tuples)
    again = list(iterate_batches((x, y), 5, rng=0, drop_last=True))
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(tuples, again))


def test_namedtuple_in_order_without_shuffle():
    data = Pair(np.arange(6)[:, None].astype(np.float32), np.arange(6))
    batches = list(iterate_batches(data, 4, shuffle=False))
    assert isinstance(batches[0], Pair)
    assert batches[0].y.tolist() == [0, 1, 2, 3] and batches[1].y.tolist() == [4, 5]
    assert batches[0].x.shape == (4, 1)


def test_batching_errors():
    with pytest.raises(ValueError, match=r"leading dimension N, got a: 3, b: 4"):
        list(iterate_batches({"a": np.zeros(3), "b": np.zeros(4)}, 2, rng=0))
    with pytest.raises(ValueError, match="rng is required when shuffle=True"):
        list(iterate_batches((np.zeros(3),), 2))
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        list(iterate_batches((np.zeros(3),), 0, rng=0))
    with pytest.raises(TypeError, match="arrays must be a dict"):
        list(iterate_batches(np.zeros(3), 2, rng=0))


def test_random_split():
    data = {"i": np.arange(50)}
    a, b = random_split(data, 0.8, rng=3)
    assert len(a["i"]) == 40 and len(b["i"]) == 10
    assert sorted(np.concatenate([a["i"], b["i"]]).tolist()) == list(range(50))


def test_pad_sequences_by_hand():
    ids, lengths = pad_sequences([[5, 6, 7], [8], []])
    np.testing.assert_array_equal(ids, [[5, 6, 7], [8, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(lengths, [3, 1, 0])
    assert ids.dtype == lengths.dtype == np.int32
    ids, lengths = pad_sequences([[5, 6, 7], [8]], max_len=2, pad=-1)
    np.testing.assert_array_equal(ids, [[5, 6], [8, -1]])
    np.testing.assert_array_equal(lengths, [2, 1])
    ids, _ = pad_sequences([np.array([5, 6, 7])], max_len=2, truncate="pre")
    np.testing.assert_array_equal(ids, [[6, 7]])
    np.testing.assert_array_equal(length_mask(np.array([2, 0]), 3), [[True, True, False], [False] * 3])
    with pytest.raises(TypeError, match=r"sequences\[0\] must contain integers"):
        pad_sequences([[1.5]])
