"""The `ts_classification` task: lengths and standardisation of a tiny .ts pair written
here, the majority baseline, config errors, and configs/japanese_vowels.yaml end to end
for 2 steps on the JapaneseVowels copy sktime ships."""

import math
from pathlib import Path

import numpy as np
import pytest

from jaxlstm.train.lab.config import ConfigError, load_config
from jaxlstm.train.lab.config_run import fit
from jaxlstm.train.lab.tasks import get_task
from jaxlstm.train.lab.tasks.ts_classification import feature_scaler

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

HEADER = """@problemName tiny
@timeStamps false
@missing false
@univariate true
@equalLength false
@classLabel true a b
@data
"""


def test_feature_scaler_by_hand():
    xs = [np.array([[1.0, 5.0], [3.0, 5.0]]), np.array([[5.0, 5.0]])]
    mean, std = feature_scaler(xs)
    np.testing.assert_allclose(mean, [3.0, 5.0])
    np.testing.assert_allclose(std, [math.sqrt(8 / 3), 1.0])   # frames 1, 3, 5; a constant feature: 1


@pytest.fixture
def ts_pair(tmp_path):
    pytest.importorskip("sktime")
    train = HEADER + "1,2,3:a\n4:b\n5,6:a\n7,8,9,10:b\n0,0:a\n"
    (tmp_path / "t_TRAIN.ts").write_text(train)
    (tmp_path / "t_TEST.ts").write_text(HEADER + "2,2,2,2,2:b\n")
    return tmp_path / "t_TRAIN.ts", tmp_path / "t_TEST.ts"


def test_files_are_split_standardised_and_padded_with_their_lengths(ts_pair):
    cfg = load_config({"task": "ts_classification", "data": {
        "train_file": str(ts_pair[0]), "test_file": str(ts_pair[1]), "valid_fraction": 0.2}})
    task = get_task("ts_classification")(cfg)
    assert task.classes == ("a", "b") and task.max_length == 5
    train, valid, test = task.train, task._valid[0], task._test[0]
    assert len(valid["labels"]) == 1 and len(train["labels"]) == 4
    assert all(b["inputs"].shape[1:] == (5, 1) for b in (train, valid, test))
    # brute force over which hand-written case was held out: exactly one choice explains the
    # arrays, with the other four standardised by their own frames' mean and std
    cases = [((1, 2, 3), 0), ((4,), 1), ((5, 6), 0), ((7, 8, 9, 10), 1), ((0, 0), 0)]

    def as_set(b, mean, std):
        assert all(np.all(x[n:] == 0) for x, n in zip(b["inputs"], b["lengths"]))
        return sorted((tuple(np.round(x[:n, 0] * std + mean, 4).tolist()), int(y))
                      for x, n, y in zip(b["inputs"], b["lengths"], b["labels"]))

    matches = []
    for held in range(len(cases)):
        rest = [c for k, c in enumerate(cases) if k != held]
        frames = np.concatenate([np.array(x, float) for x, _ in rest])
        mean, std = frames.mean(), frames.std()
        expect = lambda cs: sorted((tuple(float(v) for v in x), y) for x, y in cs)  # noqa: E731
        if as_set(train, mean, std) == expect(rest) and as_set(valid, mean, std) == expect([cases[held]]):
            matches.append((held, mean, std))
    assert len(matches) == 1
    _, mean, std = matches[0]
    np.testing.assert_array_equal(test["lengths"], [5])
    np.testing.assert_allclose(test["inputs"][0, :, 0], (2.0 - mean) / std, rtol=1e-5)


def test_majority_baseline_on_japanese_vowels():
    pytest.importorskip("sktime")
    task = get_task("ts_classification")(load_config(CONFIGS / "japanese_vowels.yaml"))
    assert (len(task.train["labels"]), len(task._valid[0]["labels"]), len(task._test[0]["labels"])) == (216, 54, 370)
    majority = np.bincount(task.train["labels"]).argmax()
    test_counts = [31, 35, 88, 44, 29, 24, 40, 50, 29]    # the archive's test cases per speaker
    assert task.baseline()["majority_test_accuracy"] == pytest.approx(test_counts[majority] / 370)
    assert task.train["inputs"].shape[1:] == (29, 12)
    assert (task.train["lengths"].min(), task._test[0]["lengths"].max()) >= (7, 25)


@pytest.mark.slow
def test_japanese_vowels_config_trains_two_steps(tmp_path):
    pytest.importorskip("sktime")
    cfg = load_config(CONFIGS / "japanese_vowels.yaml", [
        f"out_dir={tmp_path}", "model.hidden_size=8", "train.steps=2", "train.batch_size=8",
        "train.eval_every=1", "train.checkpoint_every=2", "train.progress=false"])
    final = fit(cfg, quiet=True)["final"]
    assert 0.0 <= final["valid/test_accuracy"] <= 1.0 and math.isfinite(final["valid/test_loss"])


@pytest.mark.parametrize("data, key", [
    ({"pooling": "max"}, "data.pooling"),
    ({"valid_fraction": 1.0}, "data.valid_fraction"),
    ({"train_file": "x.ts"}, "data.train_file/data.test_file"),
])
def test_bad_options_name_their_key(data, key):
    with pytest.raises(ConfigError, match=f"config keys? {key}"):
        load_config({"task": "ts_classification", "data": data})


def test_unknown_dataset_names_the_key():
    pytest.importorskip("sktime")
    cfg = load_config({"task": "ts_classification", "data": {"dataset": "Nope"}})
    with pytest.raises(ConfigError, match="config key data.dataset: name must be one of"):
        get_task("ts_classification")(cfg)
