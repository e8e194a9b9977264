"""The long-time-lag tasks (adding, temporal order, continual embedded Reber): their
metrics against hand-computed and brute-force references, their config errors, and
a few-step smoke run of each shipped config."""

import json
import math
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from jaxlstm.data.reber import SYMBOL_ID, SYMBOLS, legal_next, multi_hot, one_hot, reber_string
from jaxlstm.train.lab.config import ConfigError, load_config
from jaxlstm.train.lab.config_run import fit
from jaxlstm.train.lab.tasks import get_task
from jaxlstm.train.lab.tasks.reber import stream_metrics, string_starts, topk_correct

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


# --- the Reber correctness rule -----------------------------------------------------------

def _vec(pairs):
    """A 7-vector from {symbol: value}; other entries 0."""
    v = np.zeros(len(SYMBOLS))
    for s, x in pairs.items():
        v[SYMBOL_ID[s]] = x
    return v


@pytest.mark.parametrize("scores, legal, expected", [
    ({"T": 2.0, "P": 1.5, "B": 0.1}, "TP", True),      # both legal symbols on top
    ({"T": 2.0, "P": -1.0, "B": 0.1}, "TP", False),    # P below the illegal B
    ({"S": 0.3}, "S", True),                            # one legal symbol, the only positive
    ({"S": 0.3, "X": 0.3}, "S", False),                 # a tie with an illegal symbol is wrong
    ({"S": 0.3, "X": 0.3}, "SX", True),                 # a tie among legal symbols is fine
    ({"E": -5.0}, "E", False),                          # E is the lowest: six illegal zeros beat it
])
def test_topk_rule_on_hand_built_scores(scores, legal, expected):
    got = topk_correct(jnp.asarray(_vec(scores)), jnp.asarray(multi_hot([legal])[0]))
    assert bool(got) is expected


def test_topk_rule_matches_brute_force_ranking():
    """Correct iff the k best-ranked symbols (k = number legal) are the legal ones and
    the k-th score is strictly above the (k+1)-th, checked by sorting."""
    rng = np.random.default_rng(0)
    for _ in range(300):
        scores = rng.integers(-2, 3, size=7).astype(float)   # small integers: many ties
        k = int(rng.integers(1, 4))
        legal = np.zeros(7)
        legal[rng.choice(7, size=k, replace=False)] = 1.0
        order = sorted(range(7), key=lambda j: -scores[j])
        expected = (set(order[:k]) == set(np.flatnonzero(legal))
                    and (k == 7 or scores[order[k - 1]] > scores[order[k]]))
        assert bool(topk_correct(jnp.asarray(scores), jnp.asarray(legal))) == expected


# --- string segmentation and the stream measures -------------------------------------------

S1, S2, S3 = "BTBTXSETE", "BPBPVVEPE", "BTBPTVVETE"   # three embedded Reber strings


def test_string_starts_only_at_outer_b():
    stream = S1 + S2 + S3[:4]
    starts = np.asarray(string_starts(jnp.asarray(one_hot(stream)[None])))[0]
    assert list(np.flatnonzero(starts)) == [0, len(S1), len(S1) + len(S2)]


def test_stream_measures_by_hand():
    stream = S1 + S2 + S3 + S1[:3]                     # three complete strings and a cut one
    xs = jnp.asarray(one_hot(stream)[None])
    correct = np.ones((1, len(stream)), bool)
    correct[0, len(S1) + 7] = False                    # one error inside the second string
    m = {k: float(v) for k, v in stream_metrics(jnp.asarray(correct), xs).items()}
    assert m["step_accuracy"] == pytest.approx(1 - 1 / len(stream))
    assert m["string_accuracy"] == pytest.approx(2 / 3)     # S1 and S3 right, S2 wrong
    assert m["strings_before_error"] == 1                   # only S1 precedes the error
    assert m["stream_accuracy"] == 0

    correct[:] = True
    correct[0, -1] = False                             # an error in the cut string only
    m = {k: float(v) for k, v in stream_metrics(jnp.asarray(correct), xs).items()}
    assert m["string_accuracy"] == 1 and m["strings_before_error"] == 3


def _reber_task(tmp_path, **data):
    data = {"train_length": 40, "eval_length": 200, "eval_streams": 3, "pool_symbols": 2000, **data}
    cfg = load_config({"task": "reber_continual", "out_dir": str(tmp_path), "data": data})
    return get_task("reber_continual")(cfg)


def _complete_strings(stream_xs):
    """Number of complete strings of one stream, parsed with the grammar's automaton; a
    string that ends at the stream's last step counts as cut (the metric leaves it out)."""
    stream = "".join(SYMBOLS[i] for i in np.argmax(stream_xs, -1))[:-1]   # the last is left out
    strings, current = [], ""
    for s in stream:
        current += s
        if len(legal_next(current, embedded=True)[-1]) == 0:   # a complete string
            strings.append(current)
            current = ""
    return len(strings)


def test_reber_loss_metrics_for_a_perfect_and_a_forgetful_predictor(tmp_path):
    task = _reber_task(tmp_path)
    batch = task.eval_batches()[0]
    targets = batch["targets"]
    perfect = lambda xs, rngs=None, deterministic=None: jnp.asarray(4.0 * targets - 2.0)  # noqa: E731
    loss, m = task.loss(perfect, batch, None)
    expected_loss = 7 * math.log1p(math.exp(-2.0))      # -log sigmoid(2) on every unit
    assert float(loss) == pytest.approx(expected_loss, rel=1e-5)
    assert float(m["step_accuracy"]) == 1 and float(m["string_accuracy"]) == 1
    stream_lengths = [_complete_strings(x) for x in batch["xs"]]
    assert float(m["strings_before_error"]) == pytest.approx(np.mean(stream_lengths))

    # Forget the branch: at an inner E predict T and P equally (both high).
    forgetful = targets.copy()
    recall = (batch["xs"][..., SYMBOL_ID["E"]] > 0) & (targets[..., [SYMBOL_ID["T"], SYMBOL_ID["P"]]].sum(-1) > 0)
    forgetful[recall, SYMBOL_ID["T"]] = forgetful[recall, SYMBOL_ID["P"]] = 1.0
    _, m = task.loss(lambda xs, rngs=None, deterministic=None: jnp.asarray(4.0 * forgetful - 2.0), batch, None)
    assert float(m["step_accuracy"]) == pytest.approx(task.baseline()["no_branch_memory_step_accuracy"])
    assert float(m["string_accuracy"]) == 0 and float(m["strings_before_error"]) == 0


def test_reber_training_windows_start_at_strings_and_are_grammatical(tmp_path):
    task = _reber_task(tmp_path)
    batch = task.train_batch(np.random.default_rng(1), 4)
    assert batch["xs"].shape == (4, 40, 7) and batch["targets"].shape == (4, 40, 7)
    for xs, targets in zip(batch["xs"], batch["targets"]):
        stream = "".join(SYMBOLS[i] for i in np.argmax(xs, -1))
        np.testing.assert_array_equal(targets, multi_hot(legal_next(stream, embedded=True, continual=True)))


def test_reber_string_generator_used_by_the_hand_cases_is_grammatical():
    for s in (S1, S2, S3):
        assert len(legal_next(s, embedded=True)[-1]) == 0
    assert len(reber_string(np.random.default_rng(0), embedded=True)) >= 9


# --- temporal order and adding metrics -----------------------------------------------------

def test_temporal_order_accuracy_and_loss_by_hand(tmp_path):
    cfg = load_config({"task": "temporal_order", "out_dir": str(tmp_path), "data": {"eval_size": 4}})
    task = get_task("temporal_order")(cfg)
    batch = {"xs": np.zeros((4, 110, 8), np.float32), "lengths": np.full(4, 100, np.int32),
             "labels": np.array([0, 1, 2, 3], np.int32)}
    logits = jnp.asarray([[2.0, 0, 0, 0], [0, 2.0, 0, 0], [2.0, 0, 0, 0], [0, 0, 0, 0]])
    loss, m = task.loss(lambda xs, lengths=None, rngs=None, deterministic=None: logits, batch, None)
    assert float(m["accuracy"]) == pytest.approx(2 / 4)   # rows 0, 1 right; row 3 ties -> argmax 0
    p_right = math.exp(2) / (math.exp(2) + 3)
    expected = (-2 * math.log(p_right) - math.log(1 / (math.exp(2) + 3)) - math.log(0.25)) / 4
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_adding_accuracy_uses_the_papers_tolerance(tmp_path):
    cfg = load_config({"task": "adding", "out_dir": str(tmp_path), "data": {"min_length": 10, "eval_size": 4}})
    task = get_task("adding")(cfg)
    batch = {"xs": np.zeros((4, 11, 2), np.float32), "lengths": np.full(4, 10, np.int32),
             "targets": np.array([0.5, 0.5, 0.2, 0.9], np.float32)}
    pred = jnp.asarray([[0.5], [0.545], [0.23], [0.8]])     # errors 0, 0.045, 0.03, 0.1
    loss, m = task.loss(lambda xs, lengths=None, rngs=None, deterministic=None: pred, batch, None)
    assert float(m["accuracy"]) == pytest.approx(2 / 4)
    assert float(loss) == pytest.approx((0 + 0.045 ** 2 + 0.03 ** 2 + 0.1 ** 2) / 4, rel=1e-4)


# --- config errors -------------------------------------------------------------------------

@pytest.mark.parametrize("task, data, key", [
    ("temporal_order", {"eval_size": 0}, "data.eval_size"),
    ("reber_continual", {"train_length": 0}, "data.train_length"),
    ("reber_continual", {"eval_length": -3}, "data.eval_length"),
    ("reber_continual", {"eval_streams": 0}, "data.eval_streams"),
    ("reber_continual", {"train_length": 100, "pool_symbols": 150}, "data.pool_symbols"),
    ("reber_continual", {"train_length": "long"}, "data.train_length"),
    ("reber_continual", {"reset_state": True}, "reset_state"),
    ("adding", {"min_length": 9}, "data.min_length"),
])
def test_bad_data_values_name_the_key(task, data, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config({"task": task, "data": data})


# --- the shipped configs, a few steps each -------------------------------------------------

TINY = {
    "adding.yaml": ["data.min_length=20", "data.eval_size=16"],
    "temporal_order.yaml": ["data.eval_size=16"],
    "reber_continual.yaml": ["data.train_length=30", "data.eval_length=100", "data.eval_streams=2",
                             "data.pool_symbols=1000"],
}


@pytest.mark.slow
@pytest.mark.parametrize("config", sorted(TINY))
def test_config_runs_a_few_steps(config, tmp_path):
    overrides = TINY[config] + [f"out_dir={tmp_path}", "model.hidden_size=8", "train.steps=4",
                                "train.batch_size=4", "train.eval_every=2", "train.checkpoint_every=4",
                                "train.progress=false"]
    cfg = load_config(CONFIGS / config, overrides)
    summary = fit(cfg, quiet=True)
    run = cfg.run_dir
    for name in ("config.yaml", "metrics.jsonl", "summary.json", "learning_curves.png"):
        assert (run / name).is_file(), name
    assert json.loads((run / "summary.json").read_text())["steps"] == 4
    assert summary["final"] and all(math.isfinite(v) for v in summary["final"].values())
    assert summary["monitor"] in summary["final"]
    if config == "reber_continual.yaml":
        assert (run / "stream.png").stat().st_size > 1000
