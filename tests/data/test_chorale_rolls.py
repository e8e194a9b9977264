"""The Bach chorale loader: piano rolls of tiny scores written here, against rolls written
out by hand; transposition to C; the split; the cache; the error naming the extra."""

import math
import sys

import numpy as np
import pytest

from jaxlstm.data import chorales
from jaxlstm.data.chorales import (NUM_KEYS, load_chorales, piano_roll, read_chorale, split_indices,
                                   tonic_shift)
from tests.scores import A_MINOR, C_MAJOR, C_MAJOR_FRAMES, transposed, write_score


def roll_of(frames) -> np.ndarray:
    """(T, 88) from a list of the MIDI pitches sounding in each frame."""
    roll = np.zeros((len(frames), NUM_KEYS), np.uint8)
    for t, pitches in enumerate(frames):
        for p in pitches:
            roll[t, p - 21] = 1
    return roll


def test_piano_roll_samples_each_frame_at_its_start():
    notes = [(60, 0.0, 2.0),    # C4 held over frames 0 and 1
             (64, 0.5, 0.5),    # an eighth between beats: never sampled
             (67, 0.5, 1.0),    # starts off the beat, sounds at t = 1
             (21, 3.0, 1.0),    # A0, the lowest key, in the last frame
             (108, 2.0, 0.0)]   # a grace note (no duration): never sampled
    expected = roll_of([(60,), (60, 67), (), (21,)])
    np.testing.assert_array_equal(piano_roll(notes, 4), expected)
    # half-quarter frames see the eighth at 0.5 and the note at 0.5 .. 1.5
    half = roll_of([(60,), (60, 64, 67), (60, 67), (60,), (), (), (21,), (21,)])
    np.testing.assert_array_equal(piano_roll(notes, 8, frame_ql=0.5), half)


def test_piano_roll_shift_and_range_errors():
    np.testing.assert_array_equal(piano_roll([(60, 0, 1)], 1, shift=-3), roll_of([(57,)]))
    with pytest.raises(ValueError, match="pitch 108 shifted by 1 is 109, outside the piano's MIDI range 21..108"):
        piano_roll([(108, 0, 1)], 1, shift=1)
    with pytest.raises(ValueError, match="frame_ql must be > 0, got 0"):
        piano_roll([(60, 0, 1)], 1, frame_ql=0)


@pytest.mark.parametrize("tonic, shift", [(0, 0), (7, 5), (9, 3), (2, -2), (6, -6), (5, -5), (11, 1)])
def test_tonic_shift_takes_the_tonic_to_c_by_at_most_six_semitones(tonic, shift):
    assert tonic_shift(tonic) == shift
    assert (tonic + shift) % 12 == 0


def test_split_is_a_seeded_partition_in_the_standard_proportions():
    parts = split_indices(403, seed=0)
    assert [len(parts[k]) for k in ("train", "valid", "test")] == [241, 81, 81]
    np.testing.assert_array_equal(np.sort(np.concatenate(list(parts.values()))), np.arange(403))
    again, other = split_indices(403, seed=0), split_indices(403, seed=1)
    assert all(np.array_equal(parts[k], again[k]) for k in parts)
    assert not np.array_equal(parts["test"], other["test"])
    assert [len(v) for v in split_indices(10, valid_fraction=0.3, test_fraction=0.1).values()] == [6, 3, 1]
    with pytest.raises(ValueError, match="valid_fraction and test_fraction"):
        split_indices(10, valid_fraction=0.6, test_fraction=0.5)


@pytest.fixture(scope="module")
def scores(tmp_path_factory):
    pytest.importorskip("music21")
    folder = tmp_path_factory.mktemp("scores")
    horn = {"Horn 1": [("C6", 4.0)]}   # an instrument part: dropped
    write_score(folder / "a_c_major.musicxml", C_MAJOR, horn)
    write_score(folder / "b_d_major.musicxml", transposed(C_MAJOR, 2))
    write_score(folder / "c_a_minor.musicxml", A_MINOR)
    write_score(folder / "d_two_sopranos.musicxml",
                {"Soprano 1": C_MAJOR["Soprano"], "Soprano 2": C_MAJOR["Soprano"],
                 **{k: v for k, v in C_MAJOR.items() if k != "Soprano"}})
    return folder


def test_read_chorale_untransposed_is_the_hand_written_roll(scores):
    read = read_chorale(scores / "a_c_major.musicxml", transpose=False)
    np.testing.assert_array_equal(read.roll, roll_of(C_MAJOR_FRAMES))
    assert (read.key, read.shift) == ("", 0)
    d_major = read_chorale(scores / "b_d_major.musicxml", transpose=False)
    np.testing.assert_array_equal(d_major.roll, roll_of([[p + 2 for p in f] for f in C_MAJOR_FRAMES]))


def test_read_chorale_transposes_major_and_minor_keys_to_c(scores):
    c, d = (read_chorale(scores / name) for name in ("a_c_major.musicxml", "b_d_major.musicxml"))
    assert (c.key, c.shift, d.key, d.shift) == ("C major", 0, "D major", -2)
    np.testing.assert_array_equal(d.roll, roll_of(C_MAJOR_FRAMES))
    minor = read_chorale(scores / "c_a_minor.musicxml")
    assert (minor.key, minor.shift) == ("A minor", 3)
    # A minor up a minor third to C minor: E5 C5 A3 A2 -> G5 Eb5 C4 C3; the bass rests at frame 1;
    # soprano and alto meet on A4 -> C5, one key
    np.testing.assert_array_equal(minor.roll, roll_of([(79, 75, 60, 48), (74, 71, 67), (72, 63, 48),
                                                       (72, 63, 48)]))


def test_a_score_without_one_part_per_voice_is_skipped(scores):
    assert read_chorale(scores / "d_two_sopranos.musicxml") is None
    every_part = read_chorale(scores / "d_two_sopranos.musicxml", transpose=False, voices=None)
    np.testing.assert_array_equal(every_part.roll, roll_of(C_MAJOR_FRAMES))


def test_load_chorales_drops_duplicates_and_reads_its_cache(scores, tmp_path, monkeypatch):
    data = load_chorales(scores, cache_dir=tmp_path)
    assert data.names == ("a_c_major", "c_a_minor")
    assert data.keys == ("C major", "A minor") and data.shifts.tolist() == [0, 3]
    assert data.skipped == ("b_d_major: the same piano roll as a_c_major",
                            "d_two_sopranos: no single part for each of soprano, alto, tenor, bass")
    np.testing.assert_array_equal(data.rolls[0], roll_of(C_MAJOR_FRAMES))
    assert len(list(tmp_path.glob("chorales-*.npz"))) == 1

    def no_parsing(*args, **kwargs):
        raise AssertionError("the cache should have been read")

    monkeypatch.setattr(chorales, "read_chorale", no_parsing)
    cached = load_chorales(scores, cache_dir=tmp_path)
    assert (cached.names, cached.keys, cached.skipped) == (data.names, data.keys, data.skipped)
    assert all(np.array_equal(a, b) for a, b in zip(cached.rolls, data.rolls))
    # other options are another cache entry, so they are parsed again
    with pytest.raises(AssertionError, match="cache"):
        load_chorales(scores, cache_dir=tmp_path, transpose=False)


def test_missing_music21_names_the_data_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "music21", None)
    with pytest.raises(ImportError, match=r"needs the optional package 'music21'.*jaxlstm\[data\]"):
        read_chorale(tmp_path / "x.musicxml")
    with pytest.raises(ImportError, match=r"jaxlstm\[data\]"):
        load_chorales()


def test_bach_corpus_is_bundled_with_music21():
    pytest.importorskip("music21")
    paths = chorales.bach_corpus_paths()
    assert len(paths) > 400 and all(p.is_file() for p in paths)
    assert {p.suffix for p in paths} <= {".mxl", ".xml", ".krn"}
    assert math.isclose(sum(p.name.startswith("bwv") for p in paths) / len(paths), 1.0)
