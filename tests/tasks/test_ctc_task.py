"""The `ctc` task: generated unsegmented sequences, best-path decoding and label error rate."""

import itertools
import json
import math
from collections import deque
from pathlib import Path

import numpy as np
import pytest

from jaxlstm.train.lab.config import ConfigError, load_config
from jaxlstm.train.lab.config_run import fit
from jaxlstm.train.lab.tasks.ctc import CTC, CTCData, ctc_examples, greedy_ler, reference_labels

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def bfs_edit_distance(a, b, alphabet) -> int:
    """Fewest single-symbol insertions, deletions or substitutions from a to b, by
    breadth-first search over all strings reachable with those edits."""
    a, b = tuple(a), tuple(b)
    seen, queue = {a}, deque([(a, 0)])
    while queue:
        s, d = queue.popleft()
        if s == b:
            return d
        moves = [s[:i] + s[i + 1:] for i in range(len(s))]
        moves += [s[:i] + (c,) + s[i:] for i in range(len(s) + 1) for c in alphabet]
        moves += [s[:i] + (c,) + s[i + 1:] for i in range(len(s)) for c in alphabet if c != s[i]]
        for m in moves:
            if m not in seen and len(m) <= max(len(a), len(b)):
                seen.add(m)
                queue.append((m, d + 1))
    raise AssertionError("unreachable")


def one_hot_logits(paths, num_classes=4):
    """(B, T, K) logits whose per-frame argmax is `paths` (equal-length int lists)."""
    return np.eye(num_classes, dtype=np.float32)[np.asarray(paths)] * 5.0


def test_greedy_decoding_collapses_repeats_and_drops_blanks():
    paths = [[1, 1, 0, 1, 2, 2, 0, 3],   # -> 1 1 2 3
             [0, 0, 0, 0, 0, 0, 0, 0],   # -> (empty)
             [2, 2, 2, 0, 0, 2, 3, 3]]   # -> 2 2 3, but only 4 valid frames -> 2
    lengths = np.array([8, 8, 4], np.int32)
    refs = [[1, 2, 3], [3], [2]]
    ler, hyps = greedy_ler(one_hot_logits(paths), lengths, refs)
    assert hyps == [[1, 1, 2, 3], [], [2]]
    # distances: 1 (one insertion), 1 (one deletion), 0 over 3 + 1 + 1 reference labels.
    assert ler == pytest.approx(2 / 5)


def test_label_error_rate_is_total_edit_distance_over_total_length_by_bfs():
    rng = np.random.default_rng(0)
    refs, hyps = [], []
    for _ in range(12):
        refs.append(rng.integers(1, 4, size=int(rng.integers(1, 4))).tolist())
        hyps.append(rng.integers(1, 4, size=int(rng.integers(0, 4))).tolist())
    # the hypotheses as logits: each label on its own frame, blanks between and after.
    steps = 8
    paths = [list(itertools.chain.from_iterable((h, 0) for h in hyp)) for hyp in hyps]
    paths = [p + [0] * (steps - len(p)) for p in paths]
    ler, decoded = greedy_ler(one_hot_logits(paths), None, refs)
    assert decoded == hyps
    want = sum(bfs_edit_distance(r, h, (1, 2, 3)) for r, h in zip(refs, hyps)) / sum(map(len, refs))
    assert ler == pytest.approx(want)
    # a rate, not a mean of per-sequence rates: these differ here.
    mean_of_rates = np.mean([bfs_edit_distance(r, h, (1, 2, 3)) / len(r) for r, h in zip(refs, hyps)])
    assert not math.isclose(ler, mean_of_rates)


def test_bfs_reference_on_hand_cases():
    assert bfs_edit_distance("flaw", "lawn", "flawn") == 2
    assert bfs_edit_distance([], [1, 2], (1, 2)) == 2
    assert bfs_edit_distance([1, 2, 1], [2, 1, 2], (1, 2)) == 2


def test_generated_frames_collapse_to_their_labels():
    data = CTCData(num_labels=3, min_labels=1, max_labels=6, min_run=1, max_run=3, max_gap=2,
                   feature_dim=4, noise=0.0)
    batch = ctc_examples(300, data, np.random.default_rng(1))
    refs = reference_labels(batch)
    assert all(1 <= x <= 3 for r in refs for x in r)
    assert any(a == b for r in refs for a, b in zip(r, r[1:]))  # repeats occur
    assert batch["xs"].shape == (300, data.max_frames, 4)
    assert (batch["lengths"] <= data.max_frames).all()
    valid = np.arange(data.max_frames)[None] < batch["lengths"][:, None]
    assert (batch["xs"][~valid] == 0).all() and (batch["frame_labels"][~valid] == 0).all()
    # the true frame classes as logits decode (merge runs, drop gaps) to exactly the targets:
    # equal neighbours always have a gap frame between their runs.
    ler, _ = greedy_ler(np.eye(4, dtype=np.float32)[batch["frame_labels"]], batch["lengths"], refs)
    assert ler == 0.0
    # without noise every frame equals its prototype: the framewise baseline is exact.
    cfg = load_config({"task": "ctc", "data": {**data.__dict__, "eval_size": 64}})
    assert CTC(cfg).baseline() == {"empty_output_ler": 1.0, "framewise_nearest_prototype_ler": 0.0}


@pytest.mark.parametrize("data, key", [
    ({"max_labels": 1}, "data.max_labels"),        # < min_labels = 2
    ({"max_gap": 0}, "data.max_gap"),               # repeated labels need a gap
    ({"min_run": 0}, "data.min_run"),
    ({"noise": -1.0}, "data.noise"),
    ({"num_labels": 0}, "data.num_labels"),
    ({"frames": 3}, "data.frames"),                 # unknown key
])
def test_bad_data_keys_name_the_key(data, key):
    with pytest.raises(ConfigError, match=key):
        load_config({"task": "ctc", "data": data})


@pytest.mark.slow
def test_ctc_config_smoke(tmp_path):
    cfg = load_config(CONFIGS / "ctc.yaml", [
        f"out_dir={tmp_path}", "train.steps=4", "train.eval_every=4", "train.checkpoint_every=4",
        "train.batch_size=8", "train.progress=false", "model.hidden_size=8",
        "data.max_labels=4", "data.eval_size=16"])
    summary = fit(cfg, quiet=True)
    run = cfg.run_dir
    for f in ("summary.json", "metrics.jsonl", "learning_curves.png", "ctc_outputs.png"):
        assert (run / f).is_file(), f
    assert json.loads((run / "summary.json").read_text())["steps"] == 4
    assert summary["monitor"] == "valid/ler"
    assert all(math.isfinite(v) for v in summary["final"].values())
    assert summary["final"]["valid/ler"] >= 0 and summary["baseline"]["empty_output_ler"] == 1.0
