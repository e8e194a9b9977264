"""The `imdb` and `digits` tasks: metrics against hand-computed values, config errors that
name the key, and the shipped configs end to end on tiny sizes."""

import json
import math
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from jaxlstm.cli import main
from jaxlstm.data.imdb import write_toy_imdb
from jaxlstm.train.lab.config import ConfigError, load_config
from jaxlstm.train.lab.config_run import fit
from jaxlstm.train.lab.tasks import get_task
from jaxlstm.train.engine.average import mean_over_batches as held_out_metrics
from jaxlstm.train.lab.tasks.classification import majority_accuracy

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


class FixedLogits:
    """A stand-in model that returns the same logits whatever the input."""

    def __init__(self, logits):
        self.logits = jnp.asarray(logits, jnp.float32)

    def __call__(self, inputs, lengths=None, rngs=None, deterministic=None):
        return self.logits


def test_majority_accuracy_by_hand():
    # training majority is class 1 (two of four); it is right on 2 of the 4 labels
    assert majority_accuracy(np.array([0, 1, 1, 2]), np.array([1, 1, 0, 2])) == 0.5
    # a tie picks the smaller class id: 0 is right once in 3
    assert majority_accuracy(np.array([2, 0, 2, 0]), np.array([0, 2, 2])) == pytest.approx(1 / 3)


def test_held_out_metrics_weights_batches_by_size():
    batches = [{"labels": np.zeros(2)}, {"labels": np.zeros(3)}]
    results = iter([(1.0, {"accuracy": 0.5}), (2.0, {"accuracy": 1.0})])
    got = held_out_metrics(batches, lambda batch: next(results))
    assert got["loss"] == pytest.approx((2 * 1.0 + 3 * 2.0) / 5)
    assert got["accuracy"] == pytest.approx((2 * 0.5 + 3 * 1.0) / 5)


def test_digits_loss_and_accuracy_on_a_hand_built_batch():
    task = get_task("digits")(load_config({"task": "digits"}))
    logits = np.array([[2.0, 1.0] + [0.0] * 8, [0.0, 3.0] + [0.0] * 8, [0.0] * 9 + [1.0]])
    labels = np.array([0, 0, 9])  # argmax 0, 1, 9: right, wrong, right
    batch = {"inputs": np.zeros((3, 8, 8), np.float32), "labels": labels}
    loss, metrics = task.loss(FixedLogits(logits), batch, None)
    nll = [math.log(sum(math.exp(v) for v in row)) - row[y] for row, y in zip(logits, labels)]
    assert float(metrics["accuracy"]) == pytest.approx(2 / 3)
    assert float(loss) == pytest.approx(sum(nll) / 3, rel=1e-6)


@pytest.mark.parametrize("mode, shape", [("rows", (8, 8)), ("pixels", (64, 1))])
def test_digits_split_is_a_partition_of_the_1797_images(mode, shape):
    task = get_task("digits")(load_config({"task": "digits", "data": {"mode": mode}}))
    parts = [task.train, task._valid[0], task._test[0]]
    assert [len(p["labels"]) for p in parts] == [1258, 270, 269]
    assert all(p["inputs"].shape[1:] == shape for p in parts)
    from sklearn.datasets import load_digits

    images = load_digits().images.reshape(1797, -1) / 16.0
    together = np.concatenate([p["inputs"].reshape(len(p["inputs"]), -1) for p in parts])
    # the same multiset of images: sort both row-wise and compare
    order = lambda a: a[np.lexsort(a.T[::-1])]  # noqa: E731
    np.testing.assert_allclose(order(together), order(images), atol=1e-6)
    # 180ish of each digit; the baseline is the most frequent training digit
    expected = np.mean(task._test[0]["labels"] == np.bincount(task.train["labels"]).argmax())
    assert task.baseline()["majority_test_accuracy"] == pytest.approx(expected)
    assert task.baseline()["majority_test_accuracy"] < 0.15


@pytest.mark.parametrize("override, key", [
    ("data.mode=columns", "data.mode"),
    ("data.valid_fraction=0", "data.valid_fraction"),
    ("data.test_fraction=1.5", "data.test_fraction"),
    ("data.valid_fraction=0.9", "data.valid_fraction + data.test_fraction"),
    ("data.mode=3", "data.mode"),
])
def test_bad_digits_data_names_the_key(override, key):
    with pytest.raises(ConfigError, match=f"config keys? {key.replace('+', '[+]')}"):
        load_config(CONFIGS / "digits.yaml", [override])


def test_an_empty_digits_split_names_the_fractions():
    # 1797 images: round(0.8499 * 1797) = 1527 train, 270 left, round(0.0001 / 0.1501 * 270) = 0 valid
    cfg = load_config(CONFIGS / "digits.yaml", ["data.valid_fraction=0.0001"])
    with pytest.raises(ConfigError, match=r"data.valid_fraction/data.test_fraction: .*\[1527, 0, 270\]"):
        get_task("digits")(cfg)


@pytest.fixture(scope="module")
def toy_imdb(tmp_path_factory):
    return write_toy_imdb(tmp_path_factory.mktemp("imdb") / "aclImdb", 400, np.random.default_rng(0))


@pytest.mark.parametrize("override, key", [
    ("data.max_len=0", "data.max_len"),
    ("data.vocab_size=2", "data.vocab_size"),
    ("data.valid_fraction=1.0", "data.valid_fraction"),
    ("data.eval_batch_size=0", "data.eval_batch_size"),
])
def test_bad_imdb_data_names_the_key(toy_imdb, override, key):
    with pytest.raises(ConfigError, match=f"config key {key}"):
        load_config(CONFIGS / "imdb.yaml", [f"data.path={toy_imdb}", override])


def test_missing_imdb_folder_names_data_path(tmp_path, toy_imdb):
    cfg = load_config(CONFIGS / "imdb.yaml", [f"data.path={tmp_path / 'nowhere'}"])
    with pytest.raises(ConfigError, match="config key data.path: IMDB root folder not found: .*nowhere"):
        get_task("imdb")(cfg)
    (tmp_path / "half" / "train" / "pos").mkdir(parents=True)  # the folder is there, its layout is not
    cfg = load_config(CONFIGS / "imdb.yaml", [f"data.path={tmp_path / 'half'}"])
    with pytest.raises(ConfigError, match="config key data.path: .*train/neg"):
        get_task("imdb")(cfg)


def _assert_run_folder(run: Path, plots=("learning_curves.png",)):
    for name in ("summary.json", "metrics.jsonl", "config.yaml", *plots):
        assert (run / name).is_file(), name
    summary = json.loads((run / "summary.json").read_text())
    assert summary["final"] and all(math.isfinite(v) for v in summary["final"].values())
    return summary


@pytest.mark.slow
def test_imdb_config_learns_the_toy_corpus(toy_imdb, tmp_path):
    """End to end on a generated aclImdb folder: well above the 0.5 majority baseline."""
    cfg = load_config(CONFIGS / "imdb.yaml", [
        f"data.path={toy_imdb}", "data.max_len=48", f"out_dir={tmp_path}", "model.hidden_size=16",
        "model.embed_dim=16", "optim.learning_rate=0.02", "optim.warmup_steps=10", "train.steps=100",
        "train.eval_every=100", "train.checkpoint_every=100", "train.progress=false"])
    summary = fit(cfg, quiet=True)
    _assert_run_folder(tmp_path / "imdb")
    assert summary["baseline"]["majority_test_accuracy"] == pytest.approx(0.5)
    assert summary["final"]["valid/test_accuracy"] > 0.8  # ~0.91 measured


@pytest.mark.slow
def test_digits_config_smoke_with_inspect(tmp_path, capsys):
    overrides = [f"out_dir={tmp_path}", "model.hidden_size=16", "train.steps=40", "train.eval_every=40",
                 "train.checkpoint_every=40", "optim.warmup_steps=5", "optim.learning_rate=0.02"]
    assert main(["train", str(CONFIGS / "digits.yaml"), "--quiet", *overrides]) == 0
    run = tmp_path / "digits"
    summary = _assert_run_folder(run)
    # 40 steps are enough to beat the ~0.1 majority baseline clearly
    assert summary["final"]["valid/test_accuracy"] > 2 * summary["baseline"]["majority_test_accuracy"]
    assert main(["inspect", str(run)]) == 0  # gates on the first held-out image (8 rows)
    assert (run / "gates.png").stat().st_size > 5_000


def test_a_run_that_cannot_load_its_data_leaves_no_run_folder(tmp_path):
    cfg = load_config(CONFIGS / "imdb.yaml", [f"data.path={tmp_path / 'nowhere'}", f"out_dir={tmp_path / 'runs'}"])
    with pytest.raises(ConfigError, match="data.path"):
        fit(cfg, quiet=True)
    assert not cfg.run_dir.exists()  # so the corrected command is not refused as "run folder exists"
