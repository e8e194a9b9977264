"""The numbers the "it learns" checks compare against: the unigram baseline and bits per
character, computed by hand."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from jaxlstm.train import load_config
from jaxlstm.train.lab.tasks.char_lm import CharLM, unigram_baseline


def test_unigram_baseline_by_hand():
    # training ids 0,0,0,1 over a vocabulary of 3; add-one counts 4, 2, 1 of 7.
    # valid ids 0 and 2: -(log2(4/7) + log2(1/7)) / 2 = log2(7) - 1.
    got = unigram_baseline(np.array([0, 0, 0, 1]), np.array([0, 2]), 3)
    assert got["unigram_bpc"] == pytest.approx(math.log2(7) - 1, abs=1e-12)
    assert got["uniform_bpc"] == pytest.approx(math.log2(3), abs=1e-12)


def test_char_lm_task_baseline_on_a_file(tmp_path):
    # 100 characters, the last 10 held out: train "a" * 90, valid "ab" * 5.
    # add-one counts over {a, b}: 91 and 1 of 92, so the held-out bpc is
    # (5 log2(92/91) + 5 log2(92)) / 10.
    path = tmp_path / "t.txt"
    path.write_text("a" * 90 + "ab" * 5, encoding="utf-8")
    cfg = load_config({"task": "char_lm", "out_dir": str(tmp_path),
                       "data": {"source": str(path), "seq_len": 4, "valid_fraction": 0.1,
                                "eval_batches": 1, "eval_batch_size": 2}})
    base = CharLM(cfg).baseline()
    assert base["unigram_bpc"] == pytest.approx((math.log2(92 / 91) + math.log2(92)) / 2, abs=1e-12)
    assert base["uniform_bpc"] == 1.0


class FixedLogits:
    """A stand-in model: the same logits at every position."""

    def __init__(self, logits):
        self.logits = jnp.asarray(logits, jnp.float32)

    def __call__(self, inputs, rngs=None, deterministic=None):
        return jnp.broadcast_to(self.logits, (*inputs.shape, len(self.logits))), None


def test_loss_in_nats_and_bits_per_character(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("ab" * 50, encoding="utf-8")
    cfg = load_config({"task": "char_lm", "out_dir": str(tmp_path),
                       "data": {"source": str(path), "seq_len": 4, "eval_batches": 1,
                                "eval_batch_size": 2}})
    task = CharLM(cfg)
    a, b = task.vocab.encode("ab")
    batch = {"inputs": np.zeros((2, 3), np.int32), "targets": np.full((2, 3), a, np.int32)}
    # p(a) = 3/4 everywhere (logits log 3 and 0): loss -ln(3/4) nats, log2(4/3) bits, accuracy 1
    logits = np.zeros(2)
    logits[a] = math.log(3.0)
    loss, metrics = task.loss(FixedLogits(logits), batch, None)
    assert float(loss) == pytest.approx(math.log(4 / 3), rel=1e-6)
    assert float(metrics["bpc"]) == pytest.approx(math.log2(4 / 3), rel=1e-6)
    assert float(metrics["accuracy"]) == 1.0
    # uniform over two characters: exactly one bit per character, accuracy of argmax ties = id 0
    loss, metrics = task.loss(FixedLogits(np.zeros(2)), batch, None)
    assert float(metrics["bpc"]) == pytest.approx(1.0, rel=1e-6)
