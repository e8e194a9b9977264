"""The UEA/UCR `.ts` loader (sktime's reader): tiny files written here against their values
written out by hand, the bundled JapaneseVowels against its own text, the class order,
and the errors."""

import sys

import numpy as np
import pytest

from jaxlstm.data.ragged import pad_frames
from jaxlstm.data.uea import (bundled_sets, bundled_ts_path, class_order, load_ts_pair, load_uea,
                              read_ts)

TRAIN = """# a comment
@problemName tiny
@timeStamps false
@missing false
@univariate false
@dimensions 2
@equalLength false
@classLabel true 2 10 1
@data
1.0,2.0,3.0:-1.0,-2.0,-3.0:10
0.5,0.25:4.0,8.0:2
7.0:7.5:10
"""
TEST = TRAIN.replace("1.0,2.0,3.0:-1.0,-2.0,-3.0:10\n0.5,0.25:4.0,8.0:2\n7.0:7.5:10\n",
                     "9.0,8.0:1.0,0.0:1\n")


@pytest.fixture
def ts_files(tmp_path):
    pytest.importorskip("sktime")
    (tmp_path / "tiny_TRAIN.ts").write_text(TRAIN)
    (tmp_path / "tiny_TEST.ts").write_text(TEST)
    return tmp_path / "tiny_TRAIN.ts", tmp_path / "tiny_TEST.ts"


def test_read_ts_keeps_each_case_at_its_own_length(ts_files):
    data = read_ts(ts_files[0])
    assert data.classes == ("2", "10")          # numeric order; "1" occurs only in the test file
    np.testing.assert_array_equal(data.labels, [1, 0, 1])
    expected = [[[1.0, -1.0], [2.0, -2.0], [3.0, -3.0]], [[0.5, 4.0], [0.25, 8.0]], [[7.0, 7.5]]]
    assert [x.shape for x in data.xs] == [(3, 2), (2, 2), (1, 2)]
    for got, want in zip(data.xs, expected):
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, np.array(want, np.float32))


def test_load_ts_pair_shares_one_class_list(ts_files):
    train, test = load_ts_pair(*ts_files)
    assert train.classes == test.classes == ("1", "2", "10")
    np.testing.assert_array_equal(train.labels, [2, 1, 2])
    np.testing.assert_array_equal(test.labels, [0])
    np.testing.assert_array_equal(test.xs[0], [[9.0, 1.0], [8.0, 0.0]])
    with pytest.raises(ValueError, match=r"labels \['1'\] are not among the classes \['2', '10'\]"):
        read_ts(ts_files[1], classes=("2", "10"))


def test_pad_frames_pads_with_zeros_and_returns_the_lengths(ts_files):
    frames, lengths = pad_frames(read_ts(ts_files[0]).xs, 4)
    assert frames.shape == (3, 4, 2)
    np.testing.assert_array_equal(lengths, [3, 2, 1])
    np.testing.assert_array_equal(frames[1], [[0.5, 4.0], [0.25, 8.0], [0, 0], [0, 0]])
    with pytest.raises(ValueError, match=r"length must be >= the longest sequence \(3 frames\), got 2"):
        pad_frames(read_ts(ts_files[0]).xs, 2)
    with pytest.raises(ValueError, match=r"sequences\[1\] must have F = 2 features like sequences\[0\], "
                                         r"got shape \(1, 3\)"):
        pad_frames([np.zeros((2, 2)), np.zeros((1, 3))])


def test_class_order_is_numeric_when_every_name_is_a_number():
    assert class_order(["10", "9", "1", "9"]) == ("1", "9", "10")
    assert class_order(["walking", "running", "10"]) == ("10", "running", "walking")


def _parse_ts_line(line: str) -> tuple[np.ndarray, str]:
    """One `@data` line of a .ts file, read with str.split: ((T, D) values, label)."""
    *dims, label = line.strip().split(":")
    return np.array([[float(v) for v in d.split(",")] for d in dims]).T, label


def test_bundled_japanese_vowels_matches_its_own_text():
    pytest.importorskip("sktime")
    assert {"JapaneseVowels", "BasicMotions"} <= set(bundled_sets())
    train, test = load_uea("JapaneseVowels")
    assert (len(train.xs), len(test.xs)) == (270, 370)
    assert train.classes == tuple(str(k) for k in range(1, 10))
    np.testing.assert_array_equal(np.bincount(train.labels), [30] * 9)
    lengths = [len(x) for x in train.xs + test.xs]
    assert (min(lengths), max(lengths)) == (7, 29) and all(x.shape[1] == 12 for x in train.xs)
    for split, data in (("train", train), ("test", test)):
        lines = bundled_ts_path("JapaneseVowels", split).read_text().split("@data")[1].split("\n")
        cases = [_parse_ts_line(ln) for ln in lines if ln.strip()]
        assert len(cases) == len(data.xs)
        for k in (0, len(cases) // 2, len(cases) - 1):
            np.testing.assert_allclose(data.xs[k], cases[k][0], rtol=1e-6)
            assert data.classes[data.labels[k]] == cases[k][1]


def test_unknown_set_and_missing_file_errors(tmp_path):
    pytest.importorskip("sktime")
    with pytest.raises(ValueError, match=r"name must be one of the .ts sets sktime ships \[.*'JapaneseVowels'.*\], "
                                         r"got 'Nope'"):
        bundled_ts_path("Nope", "train")
    with pytest.raises(ValueError, match=r"split must be one of \['train', 'test'\], got 'valid'"):
        bundled_ts_path("JapaneseVowels", "valid")
    with pytest.raises(FileNotFoundError, match="not_there.ts"):
        read_ts(tmp_path / "not_there.ts")


def test_missing_sktime_names_the_data_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "sktime", None)
    monkeypatch.setitem(sys.modules, "sktime.datasets", None)
    with pytest.raises(ImportError, match=r"needs the optional package 'sktime'.*jaxlstm\[data\]"):
        read_ts(tmp_path / "x.ts")
