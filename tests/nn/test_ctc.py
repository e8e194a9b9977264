"""CTC: the optax-backed loss against brute-force alignment sums, best-path decoding, and the
label error rate."""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxlstm.nn.ctc import (
    ctc_greedy_decode, ctc_greedy_decode_padded, ctc_loss, edit_distance, label_error_rate,
    lengths_to_paddings,
)

ctc_loss_jit = jax.jit(ctc_loss, static_argnames="blank_id")


def collapse(path, blank):
    """B(pi): merge repeats, then drop blanks."""
    return [k for k, _ in itertools.groupby(path) if k != blank]


def brute_force_ctc(logits, label, blank):
    """-log sum over all K^T alignments pi with B(pi) == label of prod_t softmax(logits_t)[pi_t]."""
    steps, classes = logits.shape
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    total = sum(np.exp(sum(log_probs[t, k] for t, k in enumerate(path)))
                for path in itertools.product(range(classes), repeat=steps)
                if collapse(path, blank) == list(label))
    return -np.log(total)


# (label, valid frames) with T = 4 frames and K = 3 classes; a repeat ([1, 1]) needs a blank
CASES = [([1], 4), ([1, 2], 4), ([1, 1], 4), ([2, 1, 2], 4), ([1, 1], 3), ([2], 2), ([], 3),
         ([2, 2], 4), ([1, 2], 2)]


@pytest.mark.parametrize("blank", [0, 2])
def test_ctc_loss_is_minus_log_sum_over_alignments(blank):
    with jax.enable_x64(True):
        rng = np.random.default_rng(blank)
        batch, steps, classes, max_label = len(CASES), 4, 3, 3
        other = [k for k in range(classes) if k != blank]  # relabel 1, 2 -> the non-blanks
        logits = rng.normal(size=(batch, steps, classes))
        labels = np.full((batch, max_label), -1, np.int32)
        lengths = np.array([n for _, n in CASES], np.int32)
        label_lengths = np.array([len(label) for label, _ in CASES], np.int32)
        for b, (label, n) in enumerate(CASES):
            labels[b, :len(label)] = [other[k - 1] for k in label]
            logits[b, n:] = 100.0 * rng.normal(size=(steps - n, classes))  # padding: ignored
        got = ctc_loss_jit(jnp.asarray(logits), jnp.asarray(lengths), jnp.asarray(labels),
                           jnp.asarray(label_lengths), blank_id=blank)
        assert got.shape == (batch,) and got.dtype == jnp.float64
        want = [brute_force_ctc(logits[b, :n], labels[b, :len(label)], blank)
                for b, (label, n) in enumerate(CASES)]
        np.testing.assert_allclose(got, want, rtol=1e-10)


def test_ctc_loss_of_infeasible_labels_is_huge_but_finite():
    """optax approximates log 0 by -1e5: a label that cannot fit gets a loss of order 1e5."""
    logits = jnp.zeros((3, 3, 3))
    labels = jnp.array([[1, 1, 0], [1, 2, 1], [1, 0, 0]], jnp.int32)
    loss = ctc_loss_jit(logits, jnp.array([2, 2, 0], jnp.int32), labels,
                        jnp.array([2, 3, 1], jnp.int32))
    assert np.all(np.isfinite(loss)) and np.all(loss > 1e4)


def test_ctc_loss_defaults_to_all_frames_and_has_finite_gradients():
    logits = jnp.asarray(np.random.default_rng(0).normal(size=(2, 5, 4)), jnp.float32)
    labels, label_lengths = jnp.array([[1, 2], [3, 3]], jnp.int32), jnp.array([2, 2], jnp.int32)

    @jax.jit
    def run(logits):
        loss = lambda x: ctc_loss(x, None, labels, label_lengths)
        explicit = ctc_loss(logits, jnp.array([5, 5], jnp.int32), labels, label_lengths)
        return loss(logits), explicit, jax.grad(lambda x: loss(x).sum())(logits)

    full, explicit, grads = run(logits)
    np.testing.assert_allclose(full, explicit, rtol=1e-6)
    assert np.all(np.isfinite(grads))
    np.testing.assert_allclose(grads.sum(axis=-1), 0.0, atol=1e-5)  # softmax: rows sum to 0


def test_lengths_to_paddings():
    np.testing.assert_array_equal(lengths_to_paddings(jnp.array([0, 2, 3]), 3),
                                  [[1, 1, 1], [0, 0, 1], [0, 0, 0]])


def one_hot_logits(paths, classes=4):
    """Logits whose argmax at (b, t) is paths[b][t]."""
    return jnp.asarray(5.0 * np.eye(classes, dtype=np.float32)[np.asarray(paths)])


def test_greedy_decode_hand_cases():
    paths = [[1, 1, 0, 1, 2, 2, 0],   # merge repeats, a blank separates the two 1s -> 1 1 2
             [0, 0, 0, 0, 0, 0, 0],   # all blank -> []
             [3, 3, 3, 3, 3, 3, 3],   # one long run -> 3
             [2, 0, 2, 3, 0, 0, 1],   # -> 2 2 3 1
             [1, 2, 1, 2, 1, 2, 1]]   # alternating -> everything
    logits = one_hot_logits(paths)
    assert ctc_greedy_decode(logits) == [[1, 1, 2], [], [3], [2, 2, 3, 1], [1, 2, 1, 2, 1, 2, 1]]
    lengths = jnp.array([3, 7, 0, 4, 1], jnp.int32)  # padded frames are ignored
    assert ctc_greedy_decode(logits, lengths) == [[1], [], [], [2, 2, 3], [1]]


def test_greedy_decode_other_blank():
    logits = one_hot_logits([[3, 1, 1, 3, 0, 0, 3, 2]])
    assert ctc_greedy_decode(logits, blank_id=3) == [[1, 0, 2]]


def test_greedy_decode_padded_is_jittable():
    logits = one_hot_logits([[1, 1, 0, 1, 2, 2, 0], [0, 3, 0, 3, 3, 0, 2]])
    decoded, counts = jax.jit(ctc_greedy_decode_padded)(logits, jnp.array([7, 5], jnp.int32))
    assert decoded.dtype == counts.dtype == jnp.int32
    assert decoded.tolist() == [[1, 1, 2, -1, -1, -1, -1], [3, 3, -1, -1, -1, -1, -1]]
    assert counts.tolist() == [3, 2]


@pytest.mark.parametrize("a,b,want", [
    ("kitten", "sitting", 3), ("flaw", "lawn", 2), ("", "abc", 3), ("abc", "", 3), ("", "", 0),
    ("abc", "abc", 0), ("abc", "acb", 2), ("intention", "execution", 5),
    ([1, 2, 3], [1, 3], 1), ([1, 2, 3], (4, 1, 2, 3), 1), (np.array([5, 6]), [6, 5], 2),
])
def test_edit_distance_hand_cases(a, b, want):
    assert edit_distance(a, b) == want


@functools.lru_cache(maxsize=None)
def recursive_distance(a: str, b: str) -> int:
    """The Levenshtein recurrence, literally."""
    if not a or not b:
        return len(a) + len(b)
    return min(recursive_distance(a[1:], b) + 1, recursive_distance(a, b[1:]) + 1,
               recursive_distance(a[1:], b[1:]) + (a[0] != b[0]))


short = st.text(alphabet="abc", max_size=7)


@settings(max_examples=200, deadline=None)
@given(short, short, short)
def test_edit_distance_matches_recurrence_and_is_a_metric(a, b, c):
    d = edit_distance(a, b)
    assert d == recursive_distance(a, b) == edit_distance(b, a)
    assert abs(len(a) - len(b)) <= d <= max(len(a), len(b))
    assert (d == 0) == (a == b)
    assert edit_distance(a, c) <= d + edit_distance(b, c)


def test_label_error_rate():
    refs = [[1, 2, 3], [4, 5], []]
    hyps = [[1, 3], [4, 5, 6, 7], [8]]
    assert label_error_rate(refs, hyps) == (1 + 2 + 1) / 5
    assert label_error_rate(["kitten"], ["sitting"]) == 3 / 6
    assert label_error_rate([[1]], [[2, 3, 4]]) == 3.0  # can exceed 1


LOGITS, LABELS, ONE = jnp.zeros((2, 4, 3)), jnp.ones((2, 2), jnp.int32), jnp.array([1, 1])
ERRORS = [
    ("rank", lambda: ctc_loss(jnp.zeros((4, 3)), None, LABELS, ONE),
     ValueError, r"logits must have shape \(B, T, K\) \(rank 3\), got shape \(4, 3\)"),
    ("lengths shape", lambda: ctc_loss(LOGITS, jnp.array([4]), LABELS, ONE),
     ValueError, r"lengths must have shape \(B,\) = \(2,\), got shape \(1,\)"),
    ("lengths range", lambda: ctc_loss(LOGITS, jnp.array([5, 4]), LABELS, ONE),
     ValueError, r"lengths must lie in \[0, T=4\], got min 4 and max 5"),
    ("labels batch", lambda: ctc_loss(LOGITS, None, jnp.ones((3, 2), jnp.int32), ONE),
     ValueError, r"labels must have shape \(B, L\) with B=2 .*got shape \(3, 2\)"),
    ("label lengths", lambda: ctc_loss(LOGITS, None, LABELS, jnp.array([1, 3])),
     ValueError, r"label_lengths must lie in \[0, L=2\], got min 1 and max 3"),
    ("blank label", lambda: ctc_loss(LOGITS, None, jnp.array([[1, 0], [2, 0]], jnp.int32),
                                     jnp.array([2, 1])),
     ValueError, r"labels must lie in \[0, K=3\) and differ from blank_id=0 .*got \[0\]"),
    ("float labels", lambda: ctc_loss(jnp.zeros((1, 4, 3)), None, jnp.ones((1, 2)), jnp.array([1])),
     TypeError, "labels must be an integer array"),
    ("decode lengths", lambda: ctc_greedy_decode(jnp.zeros((1, 4, 3)), jnp.array([-1])),
     ValueError, r"lengths must lie in \[0, T=4\], got min -1"),
    ("blank id", lambda: ctc_greedy_decode(jnp.zeros((1, 4, 3)), blank_id=3),
     ValueError, r"blank_id must lie in \[0, K=3\), got 3"),
    ("ler counts", lambda: label_error_rate([[1]], [[1], [2]]),
     ValueError, "same number of sequences, got 1 and 2"),
    ("ler empty", lambda: label_error_rate([[]], [[1]]), ValueError, "undefined"),
]


@pytest.mark.parametrize("call,exc,message", [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_clear_errors(call, exc, message):
    with pytest.raises(exc, match=message):
        call()
