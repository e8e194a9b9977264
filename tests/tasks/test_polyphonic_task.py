"""The `polyphonic` task: the frame NLL against the Bernoulli likelihood written out in
NumPy, the baselines by hand, batches, config errors, and configs/jsb_chorales.yaml end to
end for 2 steps on a tiny corpus written here; the standard benchmarks' .mat files (data.path):
the file's split, held-out batches grouped by padded width, and the pooled test NLL against
the model run on one piece at a time."""

import json
import math
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from jaxlstm.data.poly_music import load_poly_music
from jaxlstm.train.lab.config import ConfigError, load_config
from jaxlstm.train.lab.load_model import load_model
from jaxlstm.train.lab.config_run import fit
from jaxlstm.train.lab.tasks import get_task
from jaxlstm.train.lab.tasks.polyphonic import (bernoulli_nll_terms, marginal_nll, next_frame_batch,
                                            random_window)

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def numpy_frame_nll(logits, targets, lengths):
    """Per-frame NLL over all valid frames, and the mean of per-sequence averages, by loops."""
    total, frames, per_sequence = 0.0, 0, []
    for b in range(logits.shape[0]):
        seq = 0.0
        for t in range(lengths[b]):
            for k in range(logits.shape[2]):
                p = 1.0 / (1.0 + math.exp(-logits[b, t, k]))
                seq -= math.log(p) if targets[b, t, k] else math.log(1.0 - p)
        total, frames = total + seq, frames + lengths[b]
        per_sequence.append(seq / lengths[b])
    return total / frames, float(np.mean(per_sequence))


def test_frame_nll_is_the_bernoulli_likelihood_over_valid_frames():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, (3, 5, 88)).astype(np.float32)
    targets = (rng.random((3, 5, 88)) < 0.05).astype(np.float32)
    lengths = np.array([5, 2, 3])
    nll, frames, *_ = bernoulli_nll_terms(jnp.asarray(logits), jnp.asarray(targets), jnp.asarray(lengths))
    per_frame, per_sequence = numpy_frame_nll(logits.astype(np.float64), targets, lengths)
    np.testing.assert_allclose(float(nll.sum() / frames.sum()), per_frame, rtol=1e-5)
    np.testing.assert_allclose(float(np.mean(nll / frames)), per_sequence, rtol=1e-5)
    np.testing.assert_array_equal(frames, [5, 2, 3])


def test_frame_accuracy_counts_by_hand():
    # one sequence, two valid frames (the third is padding and ignored), four keys
    logits = jnp.array([[[3.0, -1.0, 2.0, -2.0], [-1.0, 1.0, -3.0, -1.0], [5.0, 5.0, 5.0, 5.0]]])
    targets = jnp.array([[[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]])
    _, _, tp, fp, fn = bernoulli_nll_terms(logits, targets, jnp.array([2]))
    # frame 0: on = {0, 2}, truth = {0, 3}: TP 1, FP 1, FN 1; frame 1: on = truth = {1}: TP 1
    assert (float(tp), float(fp), float(fn)) == (2.0, 1.0, 1.0)


def test_marginal_baseline_by_hand():
    train = np.array([[1, 0], [1, 1], [0, 0]], np.float64)    # key 0 on twice, key 1 once, in 3 frames
    p = np.array([(2 + 1) / (3 + 2), (1 + 1) / (3 + 2)])       # add-one: 3/5, 2/5
    frames = np.array([[1, 0], [0, 0]], np.float64)
    expected = -(math.log(p[0]) + math.log(1 - p[1]) + math.log(1 - p[0]) + math.log(1 - p[1])) / 2
    assert marginal_nll(train, frames) == pytest.approx(expected)


def test_next_frame_batch_shifts_by_one_frame_and_pads():
    a = np.eye(88, dtype=np.uint8)[[0, 1, 2]]       # three frames, keys 0, 1, 2
    b = np.eye(88, dtype=np.uint8)[[5, 6]]
    batch = next_frame_batch([a, b], 4)
    assert batch["inputs"].shape == batch["targets"].shape == (2, 4, 88)
    np.testing.assert_array_equal(batch["lengths"], [2, 1])
    np.testing.assert_array_equal(batch["inputs"][0, :2], a[:2])
    np.testing.assert_array_equal(batch["targets"][0, :2], a[1:])
    np.testing.assert_array_equal(batch["targets"][1, 0], b[1])
    assert batch["inputs"][1, 1:].sum() == 0 and batch["targets"][0, 2:].sum() == 0


def test_random_window_keeps_short_rolls_and_cuts_long_ones_anywhere():
    roll = np.arange(10)[:, None] * np.ones((1, 88), np.uint8)      # frame t holds the value t
    rng = np.random.default_rng(0)
    assert random_window(rng, roll, 9) is roll
    starts = {int(random_window(rng, roll, 3)[0, 0]) for _ in range(200)}
    assert starts == set(range(7))                                   # 4-frame windows start at 0..6
    window = random_window(rng, roll, 3)
    np.testing.assert_array_equal(window[:, 0], np.arange(window[0, 0], window[0, 0] + 4))


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    """Six distinct four-part pieces (C major and A minor cadences at several lengths)."""
    pytest.importorskip("music21")
    from tests.scores import A_MINOR, C_MAJOR, write_score

    folder = tmp_path_factory.mktemp("corpus")
    for k in range(3):
        for name, voices in (("major", C_MAJOR), ("minor", A_MINOR)):
            longer = {part: notes * (k + 1) for part, notes in voices.items()}
            write_score(folder / f"{name}{k}.musicxml", longer)
    return folder


def tiny(folder, cache, out, *extra):
    return load_config(CONFIGS / "jsb_chorales.yaml", [
        f"data.corpus={folder}", f"data.cache_dir={cache}", f"out_dir={out}", "model.hidden_size=8",
        "train.steps=2", "train.batch_size=4", "train.eval_every=1", "train.checkpoint_every=2",
        "train.progress=false", *extra])


@pytest.mark.slow
def test_jsb_config_trains_two_steps_on_a_tiny_corpus(tiny_corpus, tmp_path):
    cfg = tiny(tiny_corpus, tmp_path / "cache", tmp_path / "runs", "data.input_noise=0.1",
               "data.max_train_steps=5")
    summary = fit(cfg, quiet=True)
    final = summary["final"]
    for key in ("valid/nll", "valid/test_nll", "valid/nll_seq", "valid/frame_accuracy"):
        assert math.isfinite(final[key]), key
    assert final["valid/loss"] == pytest.approx(final["valid/nll"])
    assert summary["baseline"]["uniform_nll"] == pytest.approx(88 * math.log(2))
    # 6 pieces, 20 % / 20 %: 4 train, 1 valid, 1 test; an untrained model is near 88 ln 2
    assert 30 < final["valid/nll"] < 70
    assert (tmp_path / "runs" / "jsb_chorales" / "piano_roll.png").is_file()
    assert json.loads((tmp_path / "runs" / "jsb_chorales" / "summary.json").read_text())["steps"] == 2


def test_training_batches_follow_the_epoch_and_replacement_rules(tiny_corpus, tmp_path):
    task = get_task("polyphonic")(tiny(tiny_corpus, tmp_path / "cache", tmp_path / "runs"))
    rolls = task.train
    assert len(rolls) == 4 and max(len(r) for r in rolls) - 1 <= 64   # one length group, width 64

    def pieces(batch):
        """The index of the training piece of each row, found by comparing frames."""
        found = []
        for row, n in zip(batch["inputs"], batch["lengths"]):
            found += [i for i, r in enumerate(rolls) if len(r) - 1 == n and (r[:-1] == row[:n]).all()]
            assert not row[n:].any()                                    # zero padding after the piece
        assert len(found) == len(batch["lengths"])
        return found

    epochs = task.train_data(2, 3, "epochs", False)
    assert len(epochs) == 2
    for epoch in range(3):
        batches = [epochs(s) for s in (2 * epoch, 2 * epoch + 1)]
        assert all(b["inputs"].shape == (2, 64, 88) for b in batches)
        assert sorted(pieces(batches[0]) + pieces(batches[1])) == [0, 1, 2, 3]
    drawn = task.train_data(2, 3, "replacement", False)                 # data.length_grouped
    for step in range(5):
        gen = np.random.default_rng([3, step])
        gen.integers(0, 4)                                              # the anchor; its group is all 4
        assert pieces(drawn(step)) == list(gen.integers(0, 4, 2))


@pytest.mark.parametrize("override, key", [
    ("data.frame_ql=0", "data.frame_ql"),
    ("data.valid_fraction=0", "data.valid_fraction"),
    ("data.input_noise=-1", "data.input_noise"),
    ("data.max_train_steps=0", "data.max_train_steps"),
    ("data.test_fraction=0.9", "data.valid_fraction \\+ data.test_fraction"),
])
def test_bad_data_options_name_their_key(override, key):
    with pytest.raises(ConfigError, match=f"config keys? {key}"):
        load_config(CONFIGS / "jsb_chorales.yaml", [override])


def test_too_small_a_corpus_for_three_splits_is_a_config_error(tiny_corpus, tmp_path):
    cfg = tiny(tiny_corpus, tmp_path / "cache", tmp_path / "runs", "data.valid_fraction=0.05",
               "data.test_fraction=0.05")
    with pytest.raises(ConfigError, match="every split needs a piece"):
        get_task("polyphonic")(cfg)


# The standard benchmarks from a .mat file (data.path): a small file written here.

def write_benchmark(path, lengths):
    """A .mat file in the published layout, with random sparse pieces of the given lengths per split."""
    scipy_io = pytest.importorskip("scipy.io")
    rng = np.random.default_rng(0)
    contents = {}
    for key, split_lengths in lengths.items():
        pieces = np.empty((1, len(split_lengths)), dtype=object)
        for i, n in enumerate(split_lengths):
            pieces[0, i] = (rng.random((n, 88)) < 0.06).astype(np.uint8)
        contents[key] = pieces
    scipy_io.savemat(str(path), contents)
    return path


BENCHMARK_LENGTHS = {"traindata": [30, 70, 12, 200], "validdata": [9, 100, 40], "testdata": [150, 5, 66, 20, 1]}


def benchmark_config(path, out, *extra):
    return load_config(CONFIGS / "poly_nottingham.yaml", [
        f"data.path={path}", f"out_dir={out}", "model.hidden_size=8", "train.steps=2", "train.batch_size=2",
        "train.eval_every=1", "train.checkpoint_every=2", "train.progress=false", *extra])


def test_benchmark_split_is_the_files_and_held_out_batches_group_by_padded_width(tmp_path):
    path = write_benchmark(tmp_path / "bench.mat", BENCHMARK_LENGTHS)
    task = get_task("polyphonic")(benchmark_config(path, tmp_path / "runs"))
    assert [len(r) for r in task.train] == [30, 70, 12, 200]
    # test pieces of 150, 5, 66, 20 frames (the 1-frame piece predicts nothing and is dropped):
    # 149, 4, 65, 19 predicted frames pad to 256, 64, 128, 64
    test = task._test
    assert [b["inputs"].shape[:2] for b in test] == [(2, 64), (1, 128), (1, 256)]
    assert [list(b["lengths"]) for b in test] == [[4, 19], [65], [149]]
    assert [list(b["lengths"]) for b in task._valid] == [[8, 39], [99]]


@pytest.mark.slow
def test_benchmark_metric_pools_frames_over_all_test_pieces_like_one_piece_at_a_time(tmp_path):
    """valid/test_nll over the width-grouped batches equals the Bernoulli NLL of the model run on
    each test piece alone (no padding), summed over keys and frames and divided by all frames."""
    path = write_benchmark(tmp_path / "bench.mat", BENCHMARK_LENGTHS)
    cfg = benchmark_config(path, tmp_path / "runs")
    summary = fit(cfg, quiet=True)
    model = load_model(tmp_path / "runs" / cfg.name, which="latest")
    total, frames, per_piece = 0.0, 0, []
    for roll in [r for r in load_poly_music(path)["test"] if len(r) >= 2]:
        logits = np.asarray(model(jnp.asarray(roll[None, :-1], jnp.float32)), np.float64)[0]
        nll, _ = numpy_frame_nll(logits[None], roll[None, 1:], [len(roll) - 1])
        total, frames = total + nll * (len(roll) - 1), frames + len(roll) - 1
        per_piece.append(nll)
    final = summary["final"]
    np.testing.assert_allclose(final["valid/test_nll"], total / frames, rtol=1e-4)
    np.testing.assert_allclose(final["valid/test_nll_seq"], np.mean(per_piece), rtol=1e-4)
    assert summary["baseline"]["uniform_nll"] == pytest.approx(88 * math.log(2))
    assert (tmp_path / "runs" / cfg.name / "piano_roll.png").is_file()


def test_a_benchmark_file_with_an_empty_split_is_a_config_error(tmp_path):
    path = write_benchmark(tmp_path / "bench.mat", {**BENCHMARK_LENGTHS, "validdata": [1, 1]})
    with pytest.raises(ConfigError, match=r"config key data.path: every split of .* needs a piece of >= 2 "
                                          r"frames, got none in \['valid'\]"):
        get_task("polyphonic")(benchmark_config(path, tmp_path / "runs"))


@pytest.mark.parametrize("config, name", [("poly_jsb", "JSB_Chorales"), ("poly_nottingham", "Nottingham"),
                                          ("poly_musedata", "MuseData"), ("poly_pianomidi", "Piano_midi")])
def test_each_benchmark_config_names_its_file(config, name):
    cfg = load_config(CONFIGS / f"{config}.yaml")
    assert cfg.task == "polyphonic" and Path(cfg.data.path).name == f"{name}.mat"
