"""UEA/UCR time-series classification sets in the `.ts` format, read by sktime's own reader.

Optional dependency: sktime (`pip install "jaxlstm[data]"`), whose wheel ships a few
archive sets in `sktime/datasets/data/<Name>/<Name>_TRAIN.ts` and `_TEST.ts` with the
archive's own train/test split, among them (`bundled_sets()` lists what is installed):

  JapaneseVowels  9 speakers (classes "1".."9") saying a Japanese vowel; each utterance
                  12 LPC cepstrum coefficients per frame, 7..29 frames (variable length);
                  270 train (30 per speaker), 370 test (Kudo et al. 1999).
  BasicMotions    4 activities from a smart watch, 6 channels (3-D accelerometer and
                  gyroscope), 100 frames each; 40 train, 40 test.

`read_ts` returns each case as a (T_i, D) float32 array, so variable length is kept
(pad with `jaxlstm.data.ragged.pad_frames`, which also gives the lengths).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Optional, Sequence

import numpy as np

from jaxlstm.data.extras import import_extra

SPLITS = ("train", "test")


class TimeSeriesSet(NamedTuple):
    """xs: N arrays (T_i, D) float32. labels: (N,) int32 indices into classes.
    classes: the class names of the file(s), ordered by `class_order`."""

    xs: list
    labels: np.ndarray
    classes: tuple


def class_order(names) -> tuple:
    """The distinct class names sorted as numbers when all of them are, else as strings
    (so "10" comes after "9")."""
    distinct = set(str(n) for n in names)
    try:
        return tuple(sorted(distinct, key=float))
    except ValueError:
        return tuple(sorted(distinct))


def read_ts_cases(path) -> tuple[list, np.ndarray]:
    """(xs, label names) of the `.ts` file at `path`: xs are N arrays (T_i, D) float32,
    the names an (N,) str array. Read by `sktime.datasets.load_from_tsfile`."""
    datasets = import_extra("sktime.datasets", "read_ts (UEA/UCR .ts files)")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f".ts file not found: {path}")
    frame, names = datasets.load_from_tsfile(str(path), return_data_type="nested_univ")
    xs = []
    for i in range(len(frame)):
        dims = [np.asarray(frame.iloc[i, j], np.float32) for j in range(frame.shape[1])]
        lengths = {len(d) for d in dims}
        if len(lengths) != 1:
            raise ValueError(f"{path}: case {i} has dimensions of different lengths {sorted(lengths)}; "
                             f"each case must have one length T_i for all its dimensions")
        case = np.stack(dims, axis=1)
        if not np.all(np.isfinite(case)):
            raise ValueError(f"{path}: case {i} holds missing or non-finite values")
        xs.append(case)
    return xs, np.asarray(names, str)


def read_ts(path, classes: Optional[Sequence[str]] = None) -> TimeSeriesSet:
    """The `.ts` file at `path` with labels as indices into `classes` (None: the file's
    own class names, `class_order`). A label not in `classes` is an error."""
    xs, names = read_ts_cases(path)
    classes = class_order(names) if classes is None else tuple(classes)
    index = {c: k for k, c in enumerate(classes)}
    unknown = sorted(set(map(str, names)) - set(index))
    if unknown:
        raise ValueError(f"{path}: labels {unknown} are not among the classes {list(classes)}")
    return TimeSeriesSet(xs, np.array([index[n] for n in names], np.int32), classes)


def sktime_data_dir() -> Path:
    datasets = import_extra("sktime.datasets", "the bundled UEA/UCR sets")
    return Path(datasets.__file__).parent / "data"


def bundled_sets() -> tuple:
    """The names of the classification sets sktime ships (a _TRAIN.ts and a _TEST.ts)."""
    root = sktime_data_dir()
    return tuple(sorted(d.name for d in root.iterdir()
                        if (d / f"{d.name}_TRAIN.ts").is_file() and (d / f"{d.name}_TEST.ts").is_file()))


def bundled_ts_path(name: str, split: str) -> Path:
    """sktime's bundled `<name>_<SPLIT>.ts`; split in {"train", "test"}."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    path = sktime_data_dir() / name / f"{name}_{split.upper()}.ts"
    if not path.is_file():
        raise ValueError(f"name must be one of the .ts sets sktime ships {list(bundled_sets())}, "
                         f"got {name!r}")
    return path


def load_ts_pair(train_path, test_path) -> tuple[TimeSeriesSet, TimeSeriesSet]:
    """(train, test) read from two .ts files with one shared class list (the union of
    both files' labels, `class_order`)."""
    train_xs, train_names = read_ts_cases(train_path)
    test_xs, test_names = read_ts_cases(test_path)
    classes = class_order(list(train_names) + list(test_names))
    index = {c: k for k, c in enumerate(classes)}
    label = lambda names: np.array([index[n] for n in names], np.int32)  # noqa: E731
    return (TimeSeriesSet(train_xs, label(train_names), classes),
            TimeSeriesSet(test_xs, label(test_names), classes))


def load_uea(name: str = "JapaneseVowels") -> tuple[TimeSeriesSet, TimeSeriesSet]:
    """(train, test) of the bundled archive set `name`, the archive's own split."""
    return load_ts_pair(bundled_ts_path(name, "train"), bundled_ts_path(name, "test"))
