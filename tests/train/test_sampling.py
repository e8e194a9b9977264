"""`sample_text` at temperature > 0: seeded, and distributed as softmax(logits / T).

The model is a Markov chain over a 3-character vocabulary: its logits depend only on the
last character fed in, so the observed transition frequencies of a long sample must
match softmax(table[previous] / T), a distribution computed here with NumPy.
"""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxlstm.data.text import CharVocab
from jaxlstm.train.lab.generate import sample_text

TABLE = np.array([[2.0, 0.0, -1.0],
                  [0.0, 1.0, 0.5],
                  [-1.0, 1.5, 0.0]], np.float32)


class MarkovLM(nnx.Module):
    """logits of step t = TABLE[token t]; the carry is unused (None)."""

    def __init__(self):
        self.table = nnx.Param(jnp.asarray(TABLE))

    def __call__(self, tokens, initial_state=None, rngs=None, deterministic=None):
        return self.table[...][tokens], initial_state


VOCAB = CharVocab.build("abc")


def transitions(text: str) -> np.ndarray:
    ids = VOCAB.encode(text)
    counts = np.zeros((3, 3))
    np.add.at(counts, (ids[:-1], ids[1:]), 1)
    return counts


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_same_seed_same_text_other_seed_other_text():
    model = MarkovLM()
    one = sample_text(model, VOCAB, "a", 200, temperature=1.0, seed=3)
    assert one == sample_text(model, VOCAB, "a", 200, temperature=1.0, seed=3)
    assert one != sample_text(model, VOCAB, "a", 200, temperature=1.0, seed=4)
    assert one.startswith("a") and len(one) == 201 and set(one) <= set("abc")


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_transition_frequencies_follow_softmax_of_logits_over_temperature(temperature):
    text = sample_text(MarkovLM(), VOCAB, "a", 3000, temperature=temperature, seed=0)
    counts = transitions(text)
    want = softmax(TABLE / temperature)
    for row in range(3):
        n = counts[row].sum()
        assert n >= 50
        # each frequency within 4.5 binomial standard deviations of its probability
        sd = np.sqrt(want[row] * (1 - want[row]) / n)
        np.testing.assert_array_less(np.abs(counts[row] / n - want[row]), 4.5 * sd + 1e-9)


def test_temperature_zero_is_greedy():
    # argmax of each row: a -> a, b -> b, c -> b: from "a" always "a", from "c" "b" then "b"s
    assert sample_text(MarkovLM(), VOCAB, "a", 5, temperature=0.0) == "aaaaaa"
    assert sample_text(MarkovLM(), VOCAB, "c", 5, temperature=0.0) == "cbbbbb"
