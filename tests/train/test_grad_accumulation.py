"""Gradient accumulation: k micro-batches give the full batch's update.

The reference is the plain step on the whole batch (one `value_and_grad`); the
optimizer is SGD without momentum or clipping, so the update is -lr · gradient and
any error in the accumulated gradient (a sum for a mean, a dropped micro-batch)
shows in the parameters.
"""

import jax
import numpy as np
import pytest

from jaxlstm.train import ConfigError, TaskTrainer, load_config

SGD = ["optim.name=sgd", "optim.momentum=0.0", "optim.clip_norm=null", "optim.learning_rate=0.5"]


def _step(config, overrides, step=0):
    trainer = TaskTrainer(load_config(config, SGD + overrides))
    train_step, _ = trainer.compiled_steps()
    state, _, _, carry, loss, metrics = train_step(
        trainer.params, trainer.model_state, trainer.opt_state, trainer.batch(step), trainer.key(step),
        trainer.carry)
    before = [np.asarray(x) for x in jax.tree.leaves(trainer.params)]
    after = [np.asarray(x) for x in jax.tree.leaves(state)]
    return float(loss), metrics, before, after, [np.asarray(x) for x in jax.tree.leaves(carry)]


def test_micro_batches_equal_the_full_batch_update(tiny_lm):
    loss1, metrics1, before, full, _ = _step(tiny_lm, ["train.grad_accum_steps=1"])
    loss4, metrics4, before4, accum, _ = _step(tiny_lm, ["train.grad_accum_steps=4"])
    for a, b in zip(before, before4):
        np.testing.assert_array_equal(a, b)  # same initial parameters
    assert abs(loss1 - loss4) < 1e-6
    assert abs(float(metrics1["grad_norm"]) - float(metrics4["grad_norm"])) < 1e-5
    moved = max(float(np.abs(a - b).max()) for a, b in zip(full, before))
    assert moved > 1e-3  # the step changed the parameters, so the comparison means something
    for a, b in zip(full, accum):
        np.testing.assert_allclose(a, b, rtol=0, atol=2e-6)


def test_micro_batches_carry_each_rows_state(tmp_path):
    """For the stateful task each row's final state does not depend on the split."""
    text = tmp_path / "docs.txt"
    text.write_text("\n\n".join(f"the cat sat on mat number {i}." * (1 + i % 3) for i in range(60)))
    config = tmp_path / "stream.yaml"
    config.write_text(f"""
task: stream_lm
model: {{hidden_size: 16, embed_dim: 8}}
train: {{batch_size: 8}}
data: {{source: {text}, seq_len: 16, document_separator: "\\n\\n"}}
""")
    _, _, _, _, carry1 = _step(config, ["train.grad_accum_steps=1"], step=1)
    _, _, _, _, carry2 = _step(config, ["train.grad_accum_steps=2"], step=1)
    assert max(float(np.abs(c).max()) for c in carry1) > 1e-3
    for a, b in zip(carry1, carry2):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_batch_size_must_divide_by_the_micro_batches(tiny_lm):
    with pytest.raises(ConfigError, match=r"train.batch_size/train.grad_accum_steps: batch_size 8 "
                                          r"must be divisible by grad_accum_steps 3"):
        load_config(tiny_lm, ["train.grad_accum_steps=3"])
    with pytest.raises(ConfigError, match=r"train.grad_accum_steps: must be > 0, got 0"):
        load_config(tiny_lm, ["train.grad_accum_steps=0"])
