"""Bach chorales from music21's bundled corpus as multi-hot piano rolls (no download).

Optional dependency: music21 (`pip install "jaxlstm[data]"`), which ships ~410 Bach
scores (MusicXML, a few Humdrum) inside its wheel.

What a piano roll is here (`piano_roll`): a (T, 88) uint8 array, key k = MIDI pitch
21 + k (A0 .. C8, the piano's range, as in Boulanger-Lewandowski et al. 2012). Frame t
samples the music at time t * frame_ql (quarter lengths from the start of the score):
pitch p is on iff some note of pitch p has onset <= t * frame_ql < onset + duration. With
the default frame_ql = 1 that is one frame per quarter note, sampled on the beat, so a
passing eighth between two beats is not seen (as in the JSB piano rolls the papers used).
T = ceil(score length / frame_ql); rests give all-zero frames; repeats are not expanded.

What is read from each score (`read_chorale`): the four voices, the parts whose name's
first word is Soprano, Alto, Tenor and Bass (one of each, case-insensitive); instrument
parts (horns, trumpets, timpani, obbligato violins) are dropped. A score without exactly
one part per voice (e.g. "Soprano 1"/"Soprano 2", or none named) is skipped.

Transposition (`transpose=True`, the default): Greff et al. (2015) describe the JSB piano
rolls of Boulanger-Lewandowski et al. as transposed to C major or C minor. Here the key of
the four voices is estimated with music21's `analyze("key")` (Aarden-Essen key profiles),
and every pitch is shifted by the semitones in [-6, 5] that take its tonic to C (a piece
in A minor goes up 3, one in G major up 5, one in D major down 2).

`load_chorales` reads the whole corpus once (about a minute) and caches the rolls in an
.npz file (default folder: $JAXLSTM_CACHE_DIR, else ~/.cache/jaxlstm); identical rolls
(the same chorale filed twice) are kept once, the first in path order. `split_indices`
gives the fixed train/valid/test split: the pieces in sorted-name order, permuted with a
seeded NumPy generator, the first 60 % train, the next 20 % valid, the rest test (the
229/76/77 proportions of the standard JSB split, whose piece list music21 does not ship).
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from jaxlstm.data.extras import import_extra

LOWEST_PITCH = 21   # A0
NUM_KEYS = 88       # A0 .. C8 = MIDI 21 .. 108
VOICES = ("soprano", "alto", "tenor", "bass")
SCORE_SUFFIXES = (".mxl", ".xml", ".musicxml", ".krn")
_EPS = 1e-6  # offsets are multiples of small fractions of a quarter; floats compare within this
_CACHE_FORMAT = 1


def piano_roll(notes, num_frames: int, *, frame_ql: float = 1.0, shift: int = 0) -> np.ndarray:
    """Multi-hot (num_frames, 88) uint8 roll of `notes` sampled every `frame_ql` quarters.

    Args:
      notes: (N, 3) array-like of (MIDI pitch, onset, duration), onset and duration in
        quarter lengths.
      num_frames: T.
      frame_ql: the time between frames, in quarter lengths.
      shift: semitones added to every pitch (transposition).

    Returns:
      roll with roll[t, p + shift - 21] = 1 iff onset <= t * frame_ql < onset + duration
      for some note (p, onset, duration).

    Raises:
      ValueError: a shifted pitch outside 21..108, or a negative onset or duration.
    """
    notes = np.asarray(notes, np.float64).reshape(-1, 3)
    if frame_ql <= 0:
        raise ValueError(f"frame_ql must be > 0, got {frame_ql}")
    if np.any(notes[:, 1:] < 0):
        bad = notes[np.any(notes[:, 1:] < 0, axis=1)][0]
        raise ValueError(f"notes must have onsets and durations >= 0, got (pitch, onset, duration) {tuple(bad)}")
    roll = np.zeros((num_frames, NUM_KEYS), np.uint8)
    for pitch, onset, duration in notes:
        key = int(round(pitch)) + shift - LOWEST_PITCH
        if not 0 <= key < NUM_KEYS:
            raise ValueError(f"pitch {int(pitch)} shifted by {shift} is {key + LOWEST_PITCH}, outside "
                             f"the piano's MIDI range {LOWEST_PITCH}..{LOWEST_PITCH + NUM_KEYS - 1}")
        first = math.ceil((onset - _EPS) / frame_ql)
        stop = math.ceil((onset + duration - _EPS) / frame_ql)
        roll[max(first, 0):min(stop, num_frames), key] = 1
    return roll


def tonic_shift(tonic_pitch_class: int) -> int:
    """The semitones in [-6, 5] that move a tonic of pitch class 0..11 to C (0)."""
    return (-int(tonic_pitch_class) + 6) % 12 - 6


def voice_parts(score, voices: Optional[Sequence[str]] = VOICES) -> Optional[list]:
    """The parts of `score` whose name's first word is each of `voices` (in that order), or
    None unless there is exactly one per voice. voices=None: all parts."""
    parts = list(score.parts)
    if voices is None:
        return parts
    chosen = []
    for voice in voices:
        named = [p for p in parts if (p.partName or "").split() and p.partName.split()[0].lower() == voice]
        if len(named) != 1:
            return None
        chosen.append(named[0])
    return chosen


def part_notes(parts) -> np.ndarray:
    """(N, 3) float64 (MIDI pitch, onset, duration) of every pitch of every note and chord
    of `parts`; onsets in quarter lengths from the start of the score."""
    rows = []
    for part in parts:
        for element in part.flatten().notes:
            onset, duration = float(element.offset), float(element.quarterLength)
            rows.extend((p.midi, onset, duration) for p in element.pitches)
    return np.array(rows, np.float64).reshape(-1, 3)


@dataclass(frozen=True)
class ChoraleRoll:
    """One score read: roll (T, 88) uint8, key the estimated key ("" if not transposed),
    shift the semitones added."""

    roll: np.ndarray
    key: str
    shift: int


def read_chorale(path, *, frame_ql: float = 1.0, transpose: bool = True,
                 voices: Optional[Sequence[str]] = VOICES) -> Optional[ChoraleRoll]:
    """The piano roll of the score file at `path` (any format music21 reads), or None when
    it lacks the voices (see the module docstring for the rules)."""
    music21 = import_extra("music21", "read_chorale (Bach chorale piano rolls)")
    score = music21.converter.parse(str(path))
    parts = voice_parts(score, voices)
    if not parts:
        return None
    voiced = music21.stream.Score()
    for part in parts:
        voiced.insert(0, part)
    notes = part_notes(parts)
    key, shift = "", 0
    if transpose:
        estimate = voiced.analyze("key")
        key, shift = f"{estimate.tonic.name} {estimate.mode}", tonic_shift(estimate.tonic.pitchClass)
    num_frames = math.ceil(float(voiced.highestTime) / frame_ql - _EPS)
    return ChoraleRoll(piano_roll(notes, num_frames, frame_ql=frame_ql, shift=shift), key, shift)


def bach_corpus_paths() -> list[Path]:
    """The score files of music21's bundled Bach corpus (MusicXML and Humdrum; not its
    Roman-numeral analyses), sorted by file name."""
    music21 = import_extra("music21", "bach_corpus_paths (the Bach chorales)")
    paths = [Path(p) for p in music21.corpus.getComposer("bach")]
    return sorted((p for p in paths if p.suffix.lower() in SCORE_SUFFIXES), key=lambda p: p.name)


def folder_paths(folder) -> list[Path]:
    """The score files (`SCORE_SUFFIXES`) directly in `folder`, sorted by file name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"corpus folder not found: {folder}")
    paths = sorted((p for p in folder.iterdir() if p.suffix.lower() in SCORE_SUFFIXES), key=lambda p: p.name)
    if not paths:
        raise FileNotFoundError(f"corpus folder {folder} holds no score file ({', '.join(SCORE_SUFFIXES)})")
    return paths


@dataclass(frozen=True)
class Chorales:
    """A corpus of piano rolls.

    rolls: N arrays (T_i, 88) uint8. names: N file names without suffix. keys: the estimated
    key of each before transposition ("" when not transposed). shifts: (N,) int semitones
    added. skipped: "name: reason" of the files left out (missing voices, duplicates).
    """

    rolls: tuple
    names: tuple
    keys: tuple
    shifts: np.ndarray
    skipped: tuple

    def __len__(self) -> int:
        return len(self.rolls)

    def subset(self, indices) -> list:
        return [self.rolls[i] for i in indices]


def split_indices(n: int, *, valid_fraction: float = 0.2, test_fraction: float = 0.2,
                  seed: int = 0) -> dict[str, np.ndarray]:
    """{"train", "valid", "test"}: disjoint index arrays covering range(n). A permutation
    of range(n) from `np.random.default_rng(seed)`: the first n - n_valid - n_test train,
    then round(valid_fraction * n) valid, then round(test_fraction * n) test."""
    if not (0.0 <= valid_fraction < 1.0 and 0.0 <= test_fraction < 1.0
            and valid_fraction + test_fraction < 1.0):
        raise ValueError(f"valid_fraction and test_fraction must lie in [0, 1) with a sum < 1, "
                         f"got {valid_fraction} and {test_fraction}")
    order = np.random.default_rng(seed).permutation(n)
    n_valid, n_test = round(valid_fraction * n), round(test_fraction * n)
    n_train = n - n_valid - n_test
    return {"train": order[:n_train], "valid": order[n_train:n_train + n_valid],
            "test": order[n_train + n_valid:]}


def default_cache_dir() -> Path:
    return Path(os.environ.get("JAXLSTM_CACHE_DIR") or Path.home() / ".cache" / "jaxlstm")


def _cache_file(paths: list[Path], frame_ql: float, transpose: bool, voices, cache_dir: Path) -> Path:
    music21 = import_extra("music21", "load_chorales")
    h = hashlib.sha1(repr((_CACHE_FORMAT, music21.__version__, float(frame_ql), bool(transpose),
                           None if voices is None else tuple(voices),
                           [(p.name, p.stat().st_size) for p in paths])).encode())
    return cache_dir / f"chorales-{h.hexdigest()[:16]}.npz"


def _save(path: Path, data: Chorales) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    lengths = np.array([len(r) for r in data.rolls], np.int64)
    frames = np.concatenate(data.rolls) if data.rolls else np.zeros((0, NUM_KEYS), np.uint8)
    np.savez_compressed(tmp, frames=frames,
                        lengths=lengths, names=np.array(data.names, str), keys=np.array(data.keys, str),
                        shifts=data.shifts, skipped=np.array(data.skipped, str))
    os.replace(tmp, path)


def _load(path: Path) -> Chorales:
    with np.load(path) as z:
        bounds = np.cumsum(z["lengths"])[:-1]
        rolls = tuple(np.split(z["frames"], bounds)) if len(z["lengths"]) else ()
        return Chorales(rolls, tuple(z["names"].tolist()), tuple(z["keys"].tolist()),
                        z["shifts"].astype(np.int64), tuple(z["skipped"].tolist()))


def load_chorales(folder=None, *, frame_ql: float = 1.0, transpose: bool = True,
                  voices: Optional[Sequence[str]] = VOICES, cache_dir=None,
                  use_cache: bool = True) -> Chorales:
    """Piano rolls of every chorale in `folder` (None: music21's Bach corpus).

    The first call reads every score (about a minute for the Bach corpus) and writes
    the result to an .npz in `cache_dir` (None: `default_cache_dir()`), keyed by the
    options, music21's version and the files' names and sizes; later calls read that.
    Rolls identical to an earlier one (in path order) are dropped as duplicates.
    """
    paths = bach_corpus_paths() if folder is None else folder_paths(folder)
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    cache = _cache_file(paths, frame_ql, transpose, voices, cache_dir)
    if use_cache and cache.is_file():
        return _load(cache)
    rolls, names, keys, shifts, skipped, seen = [], [], [], [], [], {}
    for path in paths:
        read = read_chorale(path, frame_ql=frame_ql, transpose=transpose, voices=voices)
        if read is None:
            skipped.append(f"{path.stem}: no single part for each of {', '.join(voices)}")
            continue
        digest = hashlib.sha1(read.roll.tobytes() + str(read.roll.shape).encode()).hexdigest()
        if digest in seen:
            skipped.append(f"{path.stem}: the same piano roll as {seen[digest]}")
            continue
        seen[digest] = path.stem
        rolls.append(read.roll), names.append(path.stem), keys.append(read.key), shifts.append(read.shift)
    data = Chorales(tuple(rolls), tuple(names), tuple(keys), np.array(shifts, np.int64), tuple(skipped))
    if use_cache:
        _save(cache, data)
    return data
