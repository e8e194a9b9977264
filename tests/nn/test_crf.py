"""Linear-chain CRF against brute-force enumeration of all tag paths on tiny inputs."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from jax.test_util import check_grads

from jaxlstm.nn.crf import (
    CRF, allowed_end, allowed_start, allowed_transitions, constraint_bias, crf_log_likelihood,
    crf_log_partition, crf_marginals, crf_sequence_score, crf_viterbi,
)

K, T = 3, 4

# jit once per shape: every test below reuses these compiled functions
log_partition = jax.jit(crf_log_partition)
sequence_score = jax.jit(crf_sequence_score)
viterbi = jax.jit(crf_viterbi)
marginals = jax.jit(crf_marginals)
decode = nnx.jit(lambda model, emissions, lengths: model.decode(emissions, lengths))
log_likelihood = jax.jit(crf_log_likelihood)
log_likelihood_grads = jax.jit(jax.grad(crf_log_likelihood, argnums=(0, 3, 4, 5)))


@pytest.fixture(autouse=True)
def float64():
    with jax.enable_x64(True):
        yield


def random_crf(seed, steps=T, tags=K):
    """float64 emissions (T, K), transitions (K, K), start (K,), end (K,)."""
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(steps, tags)), rng.normal(size=(tags, tags)),
            rng.normal(size=tags), rng.normal(size=tags))


def path_score(path, emissions, transitions, start, end):
    """The CRF path score, by its definition, in plain Python."""
    if not path:
        return 0.0
    score = start[path[0]] + end[path[-1]]
    score += sum(emissions[t, y] for t, y in enumerate(path))
    score += sum(transitions[a, b] for a, b in zip(path, path[1:]))
    return score


def all_paths(length, tags=K):
    return [list(p) for p in itertools.product(range(tags), repeat=length)]


def brute_log_z(length, *crf):
    scores = np.array([path_score(p, *crf) for p in all_paths(length)])
    top = scores.max()
    return top + np.log(np.exp(scores - top).sum())


def length(n):
    return jnp.asarray(n, jnp.int32)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("n", range(T + 1))
def test_log_partition_is_logsumexp_over_all_paths(seed, n):
    crf = random_crf(seed)
    np.testing.assert_allclose(log_partition(crf[0], length(n), *crf[1:]),
                               brute_log_z(n, *crf), rtol=1e-12, atol=1e-12)


def test_log_partition_is_stable_for_large_scores():
    emissions, transitions, start, end = random_crf(0)
    big = 1000.0 * emissions  # exp would overflow
    got = log_partition(big, length(T), transitions, start, end)
    np.testing.assert_allclose(got, brute_log_z(T, big, transitions, start, end), rtol=1e-12)


@pytest.mark.parametrize("n", range(T + 1))
def test_sequence_score_matches_definition(n):
    crf = random_crf(1)
    rng = np.random.default_rng(n)
    for _ in range(5):
        tags = rng.integers(0, K, size=T).astype(np.int32)
        tags[n:] = -1  # padding values are ignored
        np.testing.assert_allclose(sequence_score(crf[0], jnp.asarray(tags), length(n), *crf[1:]),
                                   path_score(list(tags[:n]), *crf), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n", range(1, T + 1))
def test_viterbi_is_argmax_over_all_paths(seed, n):
    crf = random_crf(seed)
    paths = all_paths(n)
    scores = [path_score(p, *crf) for p in paths]
    best = int(np.argmax(scores))
    tags, score = viterbi(crf[0], length(n), *crf[1:])
    assert tags.dtype == jnp.int32
    assert tags.tolist() == paths[best] + [0] * (T - n)
    np.testing.assert_allclose(score, scores[best], rtol=1e-12)
    np.testing.assert_allclose(sequence_score(crf[0], tags, length(n), *crf[1:]), score, rtol=1e-12)


def test_length_zero_is_the_empty_path():
    emissions, transitions, start, end = random_crf(2)
    zero = length(0)
    assert float(log_partition(emissions, zero, transitions, start, end)) == 0.0
    tags, score = viterbi(emissions, zero, transitions, start, end)
    assert tags.tolist() == [0] * T and float(score) == 0.0
    no_tags = jnp.zeros(T, jnp.int32)
    assert float(log_likelihood(emissions, no_tags, zero, transitions, start, end)) == 0.0
    grads = log_likelihood_grads(emissions, no_tags, zero, transitions, start, end)
    assert all(not np.any(g) for g in grads)
    assert not np.any(marginals(emissions, zero, transitions, start, end))


@pytest.mark.parametrize("n", range(1, T + 1))
def test_padding_equals_truncation(n):
    """T = 6 steps of which n are valid, against the first T = 4 steps (truncated, and for
    n < 4 still padded): the same scores, path and gradients whatever the padding holds."""
    emissions, transitions, start, end = random_crf(3, steps=6)
    emissions[n:] = 50.0 * np.random.default_rng(0).normal(size=(6 - n, K))  # garbage
    tags = np.random.default_rng(n).integers(0, K, size=6).astype(np.int32)
    tags[n:] = -1
    short = emissions[:T]
    args = (length(n), transitions, start, end)

    np.testing.assert_allclose(log_partition(emissions, *args), log_partition(short, *args),
                               rtol=1e-12)
    np.testing.assert_allclose(sequence_score(emissions, tags, *args),
                               sequence_score(short, tags[:T], *args), rtol=1e-12)
    full_tags, full_score = viterbi(emissions, *args)
    cut_tags, cut_score = viterbi(short, *args)
    assert full_tags.tolist() == cut_tags.tolist() + [0, 0]
    np.testing.assert_allclose(full_score, cut_score, rtol=1e-12)
    grads = log_likelihood_grads(emissions, jnp.asarray(tags), *args)
    short_grads = log_likelihood_grads(short, jnp.asarray(tags[:T]), *args)
    assert not np.any(grads[0][n:])  # padding gets no gradient
    for g, want in zip((grads[0][:T],) + grads[1:], short_grads):
        np.testing.assert_allclose(g, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n", [1, 3, T])
def test_log_likelihood_gradients_match_finite_differences(n):
    emissions, transitions, start, end = random_crf(5)
    tags = jnp.asarray([2, 0, 1, 1], jnp.int32)

    def loglik(e, a, s, f):  # the compiled log_likelihood, reused across n
        return log_likelihood(e, tags, length(n), a, s, f)

    check_grads(loglik, (emissions, transitions, start, end), order=1, modes=("fwd", "rev"),
                atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("n", [1, 2, T])
def test_marginals_sum_to_one_and_match_enumeration(n):
    crf = random_crf(6)
    got = np.asarray(marginals(crf[0], length(n), *crf[1:]))
    np.testing.assert_allclose(got[:n].sum(axis=1), 1.0, rtol=1e-12)
    assert not np.any(got[n:])
    paths = np.array(all_paths(n))
    weights = np.exp([path_score(list(p), *crf) - brute_log_z(n, *crf) for p in paths])
    want = np.stack([[weights[paths[:, t] == k].sum() for k in range(K)] for t in range(n)])
    np.testing.assert_allclose(got[:n], want, rtol=1e-10)


def test_likelihood_sums_to_one_over_all_paths():
    crf = random_crf(7)
    total = sum(np.exp(log_likelihood(crf[0], jnp.asarray(p + [0]), length(T - 1), *crf[1:]))
                for p in all_paths(T - 1))
    np.testing.assert_allclose(total, 1.0, rtol=1e-12)


def test_module_under_nnx_jit_matches_pure_functions():
    crf = CRF(K, rngs=nnx.Rngs(0), init_scale=0.5, dtype=jnp.float64)
    rng = np.random.default_rng(8)
    emissions = jnp.asarray(rng.normal(size=(4, T, K)))
    tags = jnp.asarray(rng.integers(0, K, size=(4, T)), jnp.int32)
    lengths = jnp.asarray([T, 2, 0, 1], jnp.int32)

    @nnx.jit
    def run(model, emissions, tags, lengths):
        return (model.log_likelihood(emissions, tags, lengths), model.decode(emissions, lengths),
                model.log_partition(emissions, lengths), model.marginals(emissions, lengths),
                model.log_likelihood(emissions, tags))  # lengths=None: all T steps

    loglik, (best, scores), log_z, probs, full = run(crf, emissions, tags, lengths)
    assert loglik.shape == scores.shape == log_z.shape == (4,) and best.shape == (4, T)
    assert probs.shape == (4, T, K)
    params = (crf.transitions[...], crf.start[...], crf.end[...])
    for b in range(4):
        n = lengths[b]
        np.testing.assert_allclose(loglik[b], log_likelihood(emissions[b], tags[b], n, *params),
                                   rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(log_z[b], log_partition(emissions[b], n, *params),
                                   rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(probs[b], marginals(emissions[b], n, *params),
                                   rtol=1e-12, atol=1e-12)
        want_tags, want_score = viterbi(emissions[b], n, *params)
        assert best[b].tolist() == want_tags.tolist()
        np.testing.assert_allclose(scores[b], want_score, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(full[0], loglik[0], rtol=1e-12)


def test_module_is_float32_by_default():
    crf = CRF(K, rngs=nnx.Rngs(0))
    assert crf.transitions[...].dtype == jnp.float32
    assert np.all(np.abs(crf.transitions[...]) <= 0.1)
    assert not np.any(CRF(K, rngs=nnx.Rngs(0), init_scale=0.0).transitions[...])


def test_training_learns_deterministic_transitions():
    """Tags cycle 0 -> 1 -> 2 -> 0; emissions only reveal the first tag. After training
    the transitions alone, Viterbi recovers every tag."""
    rng = np.random.default_rng(9)
    batch, steps = 16, 6
    first = rng.integers(0, K, size=batch)
    tags = (first[:, None] + np.arange(steps)[None, :]) % K
    emissions = np.zeros((batch, steps, K), np.float32)
    emissions[np.arange(batch), 0, first] = 3.0
    lengths = rng.integers(1, steps + 1, size=batch)
    lengths[0] = steps
    tags, emissions, lengths = jnp.asarray(tags), jnp.asarray(emissions), jnp.asarray(lengths)
    valid = np.arange(steps)[None, :] < np.asarray(lengths)[:, None]

    crf = CRF(K, rngs=nnx.Rngs(0), init_scale=0.0)
    before, _ = decode(crf, emissions, lengths)
    assert not np.all((np.asarray(before) == np.asarray(tags))[valid])

    optimizer = nnx.Optimizer(crf, optax.adam(0.1), wrt=nnx.Param)

    @nnx.jit
    def train_step(model, optimizer):
        loss_fn = lambda m: -m.log_likelihood(emissions, tags, lengths).mean()
        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return loss

    losses = [float(train_step(crf, optimizer)) for _ in range(100)]
    assert losses[-1] < 0.1 * losses[0]
    after, _ = decode(crf, emissions, lengths)
    np.testing.assert_array_equal(np.asarray(after)[valid], np.asarray(tags)[valid])
    assert np.asarray(after)[~valid].tolist() == [0] * int((~valid).sum())
    assert np.argmax(np.asarray(crf.transitions[...]), axis=1).tolist() == [1, 2, 0]


TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def test_allowed_transitions_bio():
    mask = allowed_transitions(TAGS)
    assert mask.dtype == bool and mask.shape == (5, 5)
    # rows: previous tag, columns: next tag
    want = [[1, 1, 0, 1, 0],   # O     -> I-* illegal
            [1, 1, 1, 1, 0],   # B-PER -> I-PER only
            [1, 1, 1, 1, 0],   # I-PER -> I-PER only
            [1, 1, 0, 1, 1],   # B-LOC -> I-LOC only
            [1, 1, 0, 1, 1]]   # I-LOC -> I-LOC only
    np.testing.assert_array_equal(mask, np.array(want, bool))
    assert allowed_start(TAGS).tolist() == [True, True, False, True, False]
    assert allowed_end(TAGS).all()
    np.testing.assert_array_equal(constraint_bias(mask), np.where(mask, 0.0, -1e4))


def test_allowed_transitions_iobes():
    tags = ["O", "B-X", "I-X", "E-X", "S-X", "B-Y", "E-Y"]
    mask = allowed_transitions(tags, scheme="IOBES")
    assert mask[1].tolist() == [False, False, True, True, False, False, False]   # B-X -> I-X, E-X
    assert mask[3].tolist() == [True, True, False, False, True, True, False]     # E-X -> O, B, S
    assert mask[5].tolist() == [False] * 6 + [True]                              # B-Y -> E-Y
    assert allowed_start(tags, "IOBES").tolist() == [True, True, False, False, True, True, False]
    assert allowed_end(tags, "IOBES").tolist() == [True, False, False, True, True, False, True]


def test_constrained_decoding_is_always_legal():
    crf = CRF.for_tags(TAGS, rngs=nnx.Rngs(0), init_scale=1.0)
    emissions = jnp.asarray(3.0 * np.random.default_rng(10).normal(size=(32, 6, len(TAGS))))
    lengths = jnp.asarray(np.random.default_rng(11).integers(1, 7, size=32), jnp.int32)
    best, _ = decode(crf, emissions, lengths)
    mask, starts = allowed_transitions(TAGS), allowed_start(TAGS)
    for path, n in zip(np.asarray(best), np.asarray(lengths)):
        path = path[:n]
        assert starts[path[0]] and all(mask[a, b] for a, b in zip(path, path[1:]))
    # the constraints are not trainable parameters
    assert len(jax.tree.leaves(nnx.state(crf, nnx.Param))) == 3


E, A, V = jnp.zeros((T, K)), jnp.zeros((K, K)), jnp.zeros(K)
ERRORS = [
    ("batched emissions", lambda: crf_log_partition(jnp.zeros((2, T, K)), length(1), A, V, V),
     ValueError, r"emissions must have shape \(T, K\) \(rank 2\), got shape \(2, 4, 3\).*jax.vmap"),
    ("transitions", lambda: crf_log_partition(E, length(1), jnp.zeros((K, K + 1)), V, V),
     ValueError, r"transitions must have shape \(K, K\) = \(3, 3\), got shape \(3, 4\)"),
    ("start", lambda: crf_viterbi(E, length(1), A, jnp.zeros(2), V),
     ValueError, r"start must have shape \(K,\) = \(3,\), got shape \(2,\)"),
    ("end", lambda: crf_viterbi(E, length(1), A, V, jnp.zeros((K, 1))),
     ValueError, r"end must have shape \(K,\) = \(3,\), got shape \(3, 1\)"),
    ("tags", lambda: crf_sequence_score(E, jnp.zeros(T + 1, jnp.int32), length(1), A, V, V),
     ValueError, r"tags must have shape \(T,\) = \(4,\), got shape \(5,\)"),
    ("float tags", lambda: crf_sequence_score(E, jnp.zeros(T), length(1), A, V, V),
     TypeError, "tags must be an integer array"),
    ("float length", lambda: crf_log_partition(E, jnp.asarray(1.0), A, V, V),
     TypeError, "length must be an integer array"),
    ("batched length", lambda: crf_log_partition(E, jnp.asarray([1, 2]), A, V, V),
     ValueError, r"length must have shape \(\).*got shape \(2,\)"),
    ("length too long", lambda: crf_log_partition(E, length(T + 1), A, V, V),
     ValueError, r"length must lie in \[0, T=4\], got 5"),
    ("int emissions", lambda: crf_log_partition(jnp.zeros((T, K), jnp.int32), length(1), A, V, V),
     TypeError, "emissions must be a floating-point array"),
    ("module tag count", lambda: CRF(K, rngs=nnx.Rngs(0)).decode(jnp.zeros((2, T, K + 1))),
     ValueError, r"emissions must have shape \(B, T, K\) with K=num_tags=3, got shape \(2, 4, 4\)"),
    ("module tags", lambda: CRF(K, rngs=nnx.Rngs(0)).log_likelihood(
        jnp.zeros((2, T, K)), jnp.zeros((2, T - 1), jnp.int32)),
     ValueError, r"tags must have shape \(B, T\) = \(2, 4\), got shape \(2, 3\)"),
    ("module lengths",
     lambda: CRF(K, rngs=nnx.Rngs(0)).decode(jnp.zeros((2, T, K)), jnp.asarray([1])),
     ValueError, r"lengths must have shape \(2,\)"),
    ("mask shape", lambda: CRF(K, rngs=nnx.Rngs(0), allowed=np.ones((2, 2), bool)),
     ValueError, r"allowed must have shape \(K, K\) = \(3, 3\), got shape \(2, 2\)"),
    ("tag name", lambda: allowed_transitions(["O", "PER"]),
     ValueError, r"tag_names must be 'O' or '<P>-<type>'.*got 'PER'"),
    ("scheme", lambda: allowed_transitions(["O"], scheme="IOE"),
     ValueError, r"scheme must be one of .*got 'IOE'"),
]


@pytest.mark.parametrize("call,exc,message", [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_clear_errors(call, exc, message):
    with pytest.raises(exc, match=message):
        call()
