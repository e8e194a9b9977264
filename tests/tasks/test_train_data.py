"""`Task.train_data` of every task with a finite training set: "replacement" rows are the
draws of `default_rng([seed, s])`, "epochs" batches are the rows of
`default_rng([seed, epoch]).permutation(N)` B at a time (both recomputed here), bucketed
epochs hold each training example once with widths from the task's set; and the config
errors of tasks that cannot serve an order or bucketing."""

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import jaxlstm.train.lab.tasks.forecast as forecast_module
from jaxlstm.data.imdb import write_toy_imdb
from jaxlstm.train.lab.config import ConfigError, load_config
from jaxlstm.train.lab.tasks import get_task

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SEED, B = 5, 4


@pytest.fixture(scope="module")
def toy_imdb(tmp_path_factory):
    return write_toy_imdb(tmp_path_factory.mktemp("imdb") / "aclImdb", 30, np.random.default_rng(0))


def build(name, tmp_path, toy_imdb, monkeypatch):
    """(task, its training examples as {batch key: (N, ...) array}, the keys cut to each
    batch's width (None: never cut), the smallest width)."""
    if name == "digits":
        task = get_task("digits")(load_config(CONFIGS / "digits.yaml"))
        return task, task.train, None, None
    if name == "forecast":
        monkeypatch.setattr(forecast_module, "load_series",
                            lambda series: np.sin(np.arange(60) / 3.0) + np.arange(60) / 30)
        task = get_task("forecast")(load_config({"task": "forecast", "data": {"input_len": 5}}))
        return task, task.train, None, None
    if name == "imdb":
        task = get_task("imdb")(load_config(CONFIGS / "imdb.yaml", [f"data.path={toy_imdb}",
                                                                    "data.max_len=100"]))
        return task, task.train, ("inputs",), 32
    if name == "ts_classification":
        pytest.importorskip("sktime")
        task = get_task("ts_classification")(load_config(CONFIGS / "japanese_vowels.yaml"))
        return task, task.train, ("inputs",), 8
    task = get_task("tagging")(load_config({"task": "tagging", "data": {"train_size": 60, "eval_size": 4}}))
    t = task.train
    return task, {"tokens": t.token_ids, "tags": t.tag_ids, "lengths": t.lengths}, ("tokens", "tags"), 16


def expected_batch(examples, rows, cut, min_width):
    """The rows of `examples`; with `cut`, those arrays cut to the smallest min_width * 2^k
    holding the longest row (at most their padded width), found by trying k = 0, 1, ..."""
    out = {k: v[rows] for k, v in examples.items()}
    if cut and "lengths" in examples:
        longest, full = examples["lengths"][rows].max(), examples[cut[0]].shape[1]
        width = next(min_width * 2 ** k for k in range(20) if min_width * 2 ** k >= longest)
        out.update({k: out[k][:, :min(width, full)] for k in cut})
    return out


def assert_batches_equal(got, want):
    assert got.keys() == want.keys()
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)


TASKS = ["digits", "forecast", "imdb", "ts_classification", "tagging"]


@pytest.mark.parametrize("name", TASKS)
def test_replacement_and_epoch_batches_follow_the_rules(name, tmp_path, toy_imdb, monkeypatch):
    task, examples, cut, min_width = build(name, tmp_path, toy_imdb, monkeypatch)
    always_cut = cut if name == "tagging" else None                     # tagging cuts unbucketed batches too
    n = len(next(iter(examples.values())))
    drawn = task.train_data(B, SEED, "replacement", False)
    for step in (0, 3, 1000):
        rows = np.random.default_rng([SEED, step]).integers(0, n, B)
        want = expected_batch(examples, rows, always_cut, min_width)
        assert_batches_equal(drawn(step), want)
        assert_batches_equal(task.train_batch(np.random.default_rng([SEED, step]), B), want)
    epochs = task.train_data(B, SEED, "epochs", False)
    assert len(epochs) == n // B
    for step in (0, 1, len(epochs) - 1, len(epochs), 2 * len(epochs) + 2):
        perm = np.random.default_rng([SEED, step // len(epochs)]).permutation(n)
        rows = perm[(step % len(epochs)) * B:][:B]
        assert_batches_equal(epochs(step), expected_batch(examples, rows, always_cut, min_width))


@pytest.mark.parametrize("name", ["imdb", "ts_classification", "tagging"])
def test_bucketed_epochs_hold_each_example_once_in_few_widths(name, tmp_path, toy_imdb, monkeypatch):
    task, examples, cut, min_width = build(name, tmp_path, toy_imdb, monkeypatch)
    n, lengths = len(examples["lengths"]), examples["lengths"]
    full = examples[cut[0]].shape[1]
    allowed = {min(min_width * 2 ** k, full) for k in range(20) if min_width * 2 ** (k - 1) < full}

    def signature(batch, i):
        """Row i of a batch without its padding: the same for an example wherever it is."""
        return tuple(batch[k][i][:batch["lengths"][i]].tobytes() if k in cut else batch[k][i].tobytes()
                     for k in sorted(batch))

    batches = task.train_data(B, SEED, "epochs", True)
    perm = np.random.default_rng([SEED, 1]).permutation(n)              # epoch 1's dropped tail
    want = Counter(signature(examples, i) for i in perm[:n - n % B])
    seen = Counter()
    for step in range(len(batches), 2 * len(batches)):
        batch = batches(step)
        widths = {batch[k].shape[1] for k in cut}
        assert len(widths) == 1 and widths <= allowed and widths.pop() >= batch["lengths"].max()
        seen.update(signature(batch, i) for i in range(B))
    assert seen == want
    assert lengths.max() > min_width                                    # more than one width is possible


def test_char_lm_epochs_go_through_the_non_overlapping_windows(tiny_lm):
    task = get_task("char_lm")(load_config(tiny_lm))
    ids, t = task.train_ids, task.data.seq_len
    windows = (len(ids) - 1) // t                                       # window k: ids[kT : kT + T + 1]
    batches = task.train_data(B, SEED, "epochs", False)
    assert len(batches) == windows // B
    for step in (0, 1, len(batches) + 2):
        perm = np.random.default_rng([SEED, step // len(batches)]).permutation(windows)
        k = perm[(step % len(batches)) * B:][:B]
        span = k[:, None] * t + np.arange(t)
        batch = batches(step)
        np.testing.assert_array_equal(batch["inputs"], ids[span])
        np.testing.assert_array_equal(batch["targets"], ids[span + 1])
    drawn = task.train_data(B, SEED, "replacement", False)(9)         # random offsets, as before
    offsets = np.random.default_rng([SEED, 9]).integers(0, len(ids) - t, B)
    np.testing.assert_array_equal(drawn["inputs"], ids[offsets[:, None] + np.arange(t)])
    with pytest.raises(ConfigError, match="config key train.bucket: the training examples of task "
                                          "char_lm all have one length"):
        task.train_data(B, SEED, "epochs", True)


def test_reber_epochs_start_every_window_once_at_a_string(tmp_path):
    data = {"train_length": 40, "eval_length": 200, "eval_streams": 3, "pool_symbols": 2000}
    task = get_task("reber_continual")(load_config({"task": "reber_continual", "data": data}))
    starts, pool = task._starts, task._pool_xs
    batches = task.train_data(B, SEED, "epochs", False)
    perm = np.random.default_rng([SEED, 0]).permutation(len(starts))
    for step in range(len(batches)):
        rows = perm[step * B:(step + 1) * B]
        want = pool[starts[rows][:, None] + np.arange(40)]
        np.testing.assert_array_equal(batches(step)["xs"], want)


@pytest.mark.parametrize("task_name, data, order, bucket, key", [
    ("adding", {}, "epochs", False, "train.order"),
    ("adding", {}, "replacement", True, "train.bucket"),
    ("temporal_order", {}, "epochs", False, "train.order"),
    ("digits", {}, "replacement", True, "train.bucket"),
    ("digits", {}, "nope", False, "train.order"),
])
def test_orders_a_task_cannot_serve_are_config_errors(task_name, data, order, bucket, key):
    task = get_task(task_name)(load_config({"task": task_name, "data": data}))
    value = order if key == "train.order" else bucket
    with pytest.raises(ConfigError, match=f"config key {key}: .*got {re.escape(repr(value))}$"):
        task.train_data(8, 0, order, bucket)


def test_a_batch_larger_than_an_epoch_names_the_batch_size():
    task = get_task("digits")(load_config(CONFIGS / "digits.yaml"))
    n = len(task.train["labels"])
    with pytest.raises(ConfigError, match=f"config key train.batch_size: must be <= the {n} training "
                                          f"examples of task digits with train.order='epochs', got {n + 1}"):
        task.train_data(n + 1, 0, "epochs", False)
    assert len(task.train_data(n + 1, 0, "replacement", False)(0)["labels"]) == n + 1


def test_config_keys_train_order_and_bucket(tiny_lm):
    cfg = load_config(tiny_lm)
    assert (cfg.train.order, cfg.train.bucket) == ("replacement", False)     # today's behaviour
    cfg = load_config(tiny_lm, ["train.order=epochs", "train.bucket=true"])
    assert (cfg.train.order, cfg.train.bucket) == ("epochs", True)
    with pytest.raises(ConfigError, match=r"config key train.order: must be one of "
                                          r"\['replacement', 'epochs'\], got 'shuffle'"):
        load_config(tiny_lm, ["train.order=shuffle"])
    with pytest.raises(ConfigError, match=r"config key train.bucket"):
        load_config(tiny_lm, ["train.bucket=sometimes"])
    from jaxlstm.train.lab.schema import config_schema

    schema = config_schema("tagging")
    assert "  order: replacement" in schema and "  bucket: false" in schema
    assert "each example once per epoch" in schema and "similar lengths" in schema
