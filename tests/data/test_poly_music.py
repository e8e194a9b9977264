"""jaxlstm.data.poly_music: small .mat files written here with scipy.io.savemat read back
piece for piece, the error of each malformed file, and the published files of the four
benchmarks (../shared/data/poly_music, present in CI; skipped where absent) against the
split sizes of Boulanger-Lewandowski et al. (2012)."""

from pathlib import Path

import numpy as np
import pytest

from jaxlstm.data.poly_music import load_poly_music

scipy_io = pytest.importorskip("scipy.io")

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "poly_music"


def pieces_array(pieces):
    """A (1, N) object array, the layout of the published files."""
    out = np.empty((1, len(pieces)), dtype=object)
    for i, piece in enumerate(pieces):
        out[0, i] = piece
    return out


def random_pieces(rng, lengths):
    return [(rng.random((n, 88)) < 0.05).astype(np.uint8) for n in lengths]


def write_mat(path, **splits):
    scipy_io.savemat(str(path), {k: pieces_array(v) for k, v in splits.items()})
    return path


def test_reads_every_piece_of_every_split_in_order(tmp_path):
    rng = np.random.default_rng(0)
    splits = {"traindata": random_pieces(rng, [5, 9, 3]), "validdata": random_pieces(rng, [7, 2]),
              "testdata": random_pieces(rng, [4])}
    data = load_poly_music(write_mat(tmp_path / "tiny.mat", **splits))
    assert sorted(data) == ["test", "train", "valid"]
    for split, key in (("train", "traindata"), ("valid", "validdata"), ("test", "testdata")):
        assert len(data[split]) == len(splits[key])
        for got, want in zip(data[split], splits[key]):
            assert got.dtype == np.uint8 and got.shape == want.shape
            np.testing.assert_array_equal(got, want)


def test_a_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="data.path: no polyphonic music .mat file at .*absent.mat"):
        load_poly_music(tmp_path / "absent.mat")


def test_a_missing_split_names_the_key_and_the_keys_found(tmp_path):
    rng = np.random.default_rng(0)
    path = write_mat(tmp_path / "two.mat", traindata=random_pieces(rng, [3]),
                     validdata=random_pieces(rng, [3]))
    with pytest.raises(ValueError, match=r"must hold the key 'testdata' \(the test split\), found keys "
                                         r"\['traindata', 'validdata'\]"):
        load_poly_music(path)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((4, 87), np.uint8), r"valid piece 1 must be a \(T, 88\) piano roll with T >= 1, got shape \(4, 87\)"),
    (np.full((3, 88), 2, np.uint8), r"valid piece 1 must hold only 0 and 1, got values \[2\]"),
])
def test_a_malformed_piece_names_its_split_index_and_what_is_wrong(tmp_path, bad, message):
    rng = np.random.default_rng(0)
    path = write_mat(tmp_path / "bad.mat", traindata=random_pieces(rng, [3]),
                     validdata=[*random_pieces(rng, [3]), bad], testdata=random_pieces(rng, [3]))
    with pytest.raises(ValueError, match=message):
        load_poly_music(path)


# (pieces train, valid, test) of the published splits (Boulanger-Lewandowski et al. 2012)
PUBLISHED_SIZES = {"JSB_Chorales": (229, 76, 77), "Nottingham": (694, 173, 170),
                   "MuseData": (524, 135, 124), "Piano_midi": (87, 12, 25)}


@pytest.mark.parametrize("name", sorted(PUBLISHED_SIZES))
def test_the_published_files_have_the_published_split_sizes(name):
    path = SHARED / f"{name}.mat"
    if not path.is_file():
        pytest.skip(f"{path} absent (CI has it)")
    data = load_poly_music(path)
    assert tuple(len(data[s]) for s in ("train", "valid", "test")) == PUBLISHED_SIZES[name]
    frames = np.concatenate(data["train"])
    assert frames.shape[1] == 88 and 0 < frames.mean() < 0.2       # sparse multi-hot frames
