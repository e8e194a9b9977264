"""Truncated BPTT (`stream_lm`): lane layout, carried state, document resets, resume.

References: a layout worked out by hand; the whole lane run in one scan (the carried
state must reproduce it chunk by chunk); each document run alone from a zero state
(the reset at a document boundary must reproduce it); an uninterrupted run (a
resumed run must end bit-identical, carried state included).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxlstm.train import ConfigError, fit, load_config, load_run
from jaxlstm.train.engine.metrics import read_metrics
from jaxlstm.train.lab.tasks.base import cross_entropy
from jaxlstm.train.lab.tasks.stream_lm import StreamLM, document_lanes

DOCS = "\n\n".join(f"the cat sat on mat number {i}." * (1 + i % 3) for i in range(12))


@pytest.fixture
def stream_config(tmp_path, tiny_config):
    text = tmp_path / "docs.txt"
    text.write_text(DOCS, encoding="utf-8")
    return tiny_config("stream", "stream_lm",
                       "steps: 8, batch_size: 4, eval_every: 4, checkpoint_every: 4, log_every: 2, progress: false",
                       f'source: {text}, seq_len: 8, eval_lanes: 4, document_separator: "\\n\\n"')


def test_document_lanes_by_hand():
    docs = [np.arange(0, 5), np.arange(10, 13), np.arange(20, 22), np.arange(30, 31)]
    out = document_lanes(docs, seq_len=2, lanes=2)
    # doc 0: pairs (0,1)(1,2)|(2,3)(3,4) -> lane 0, two chunks; doc 1: (10,11)(11,12) -> lane 1;
    # doc 2: (20,21) -> lane 1 (one chunk against lane 0's two); doc 3 has no pair: dropped.
    np.testing.assert_array_equal(out["inputs"], [[[0, 1], [10, 11]], [[2, 3], [20, 0]]])
    np.testing.assert_array_equal(out["targets"], [[[1, 2], [11, 12]], [[3, 4], [21, 0]]])
    np.testing.assert_array_equal(out["lengths"], [[2, 2], [2, 1]])
    np.testing.assert_array_equal(out["reset"], [[True, True], [False, True]])


def _task(config, overrides):
    cfg = load_config(config, overrides)
    task = StreamLM(cfg)
    return task, task.make_model(nnx.Rngs(params=0))


def _chunk_losses(task, model, batch_size, force_no_reset=False):
    """Run every chunk through the task's loss, carrying the state; (losses, final carry)."""
    carry = task.initial_carry(batch_size)
    step = jax.jit(lambda batch, carry: task.loss(model, batch, None, carry))
    losses = []
    for n in range(task.chunks_per_epoch()):
        batch = task.train_chunk(n, batch_size)
        if force_no_reset:
            batch = {**batch, "reset": np.zeros_like(batch["reset"])}
        loss, _, carry = step(batch, carry)
        losses.append(float(loss.value))
    return losses, carry


def test_carried_state_equals_one_scan_over_the_whole_lane(stream_config):
    """No separator: 2 lanes of one contiguous piece each, chunks of 8."""
    task, model = _task(stream_config, ["train.batch_size=2", "data.document_separator=''"])
    lanes = task.train_lanes
    losses, carry = _chunk_losses(task, model, 2)
    assert task.chunks_per_epoch() > 5
    run = jax.jit(lambda ids: model(ids))
    # The reference: each lane's valid ids in one sequence, one scan, zero initial state.
    nll, count = np.zeros(task.chunks_per_epoch()), np.zeros(task.chunks_per_epoch())
    for b in range(2):
        valid = lanes["lengths"][:, b]
        inputs = np.concatenate([lanes["inputs"][n, b, :valid[n]] for n in range(len(valid))])
        targets = np.concatenate([lanes["targets"][n, b, :valid[n]] for n in range(len(valid))])
        logits, final = run(jnp.asarray(inputs)[None])
        logp = jax.nn.log_softmax(logits[0])
        per_token = -np.asarray(jnp.take_along_axis(logp, jnp.asarray(targets)[:, None], 1))[:, 0]
        bounds = np.concatenate([[0], np.cumsum(valid)])
        for n in range(len(valid)):
            nll[n] += per_token[bounds[n]:bounds[n + 1]].sum()
            count[n] += valid[n]
        for got, want in zip(jax.tree.leaves(carry), jax.tree.leaves(final)):
            np.testing.assert_allclose(np.asarray(got)[b], np.asarray(want)[0], atol=2e-5, rtol=0)
    np.testing.assert_allclose(losses, nll / count, atol=2e-5, rtol=0)


def test_state_is_reset_at_a_document_boundary(stream_config):
    """One lane: documents back to back; each chunk's loss equals running its document alone."""
    task, model = _task(stream_config, ["train.batch_size=1"])
    lanes = task.train_lanes
    losses, _ = _chunk_losses(task, model, 1)
    run = jax.jit(lambda ids: model(ids)[0])
    starts = np.flatnonzero(lanes["reset"][:, 0])
    assert len(starts) == 12  # every document in the one lane
    expected = []
    for k, first in enumerate(starts):
        last = starts[k + 1] if k + 1 < len(starts) else task.chunks_per_epoch()
        valid = lanes["lengths"][first:last, 0]
        inputs = np.concatenate([lanes["inputs"][n, 0, :v] for n, v in zip(range(first, last), valid)])
        targets = np.concatenate([lanes["targets"][n, 0, :v] for n, v in zip(range(first, last), valid)])
        # The document alone, from zeros (zero-padded to one length for one compile: the
        # LSTM is causal, so the padding after it cannot change its outputs).
        logits = run(jnp.asarray(np.pad(inputs, (0, 512 - len(inputs))))[None])
        bounds = np.concatenate([[0], np.cumsum(valid)])
        for a, b in zip(bounds[:-1], bounds[1:]):
            expected.append(float(cross_entropy(logits[0, a:b], jnp.asarray(targets[a:b]))[0]))
    np.testing.assert_allclose(losses, expected, atol=2e-5, rtol=0)
    # Without the reset the state leaks across documents, and the losses differ.
    leaked, _ = _chunk_losses(task, model, 1, force_no_reset=True)
    assert np.abs(np.array(leaked) - expected).max() > 1e-3


@pytest.mark.slow
def test_tbptt_run_resumes_bit_identical_with_its_carried_state(stream_config):
    full = load_config(stream_config, ["name=full"])
    summary = fit(full, quiet=True)
    fit(load_config(stream_config, ["name=part", "train.steps=4"]), quiet=True)
    fit(load_config(stream_config, ["name=part"]), resume=True, quiet=True)
    _, a = load_run(full.run_dir, which="latest")
    _, b = load_run(full.run_dir.parent / "part", which="latest")
    assert max(float(np.abs(np.asarray(c)).max()) for c in jax.tree.leaves(a.carry)) > 1e-3
    for x, y in zip(jax.tree.leaves(a.checkpoint_trees()), jax.tree.leaves(b.checkpoint_trees())):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    # The run folder of the uninterrupted run.
    for name in ("config.yaml", "metrics.jsonl", "learning_curves.png", "summary.json"):
        assert (full.run_dir / name).is_file(), name
    records = read_metrics(full.run_dir / "metrics.jsonl")
    assert all(np.isfinite(r["loss"]) for r in records)
    assert np.isfinite(summary["final"]["valid/bpc"]) and np.isfinite(summary["final"]["valid/bpc_reset_each_chunk"])


def test_bad_stream_configs(stream_config):
    with pytest.raises(ConfigError, match="model.bidirectional: stream_lm carries the state forward"):
        StreamLM(load_config(stream_config, ["model.bidirectional=true"]))
    task, _ = _task(stream_config, [])
    with pytest.raises(ConfigError, match="train.batch_size: stream_lm was laid out for 4 lanes, got batch_size 8"):
        task.train_chunk(0, 8)
