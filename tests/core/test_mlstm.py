"""mLSTM: NumPy equations, the xlstm package's PyTorch backends, the three forms against each
other (values and gradients), lengths, state continuation, stability, errors."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.test_util import check_grads

import jaxlstm as J
from tests.core.modern_reference import np_mlstm

MODES = ("recurrent", "parallel", "chunkwise")


# The layer compiled whole (one program per call signature) rather than run op by op.
MLSTM = jax.jit(J.mlstm, static_argnames=("spec", "mode", "reverse"))


def _setup(X, H, heads, forget="sigmoid", T=7, seed=0, chunk=3, eps=1e-6):
    spec = J.MLSTMSpec(num_heads=heads, forget_gate=forget, chunk_size=chunk, eps=eps)
    return (spec, *_arrays(X, H, spec, T, seed))


@functools.partial(jax.jit, static_argnums=range(5))  # one compile, not one per random op
def _arrays(X, H, spec, T, seed):
    params = J.init_mlstm(jax.random.key(seed), X, H, spec, dtype=jnp.float64)
    noise = lambda k, a: a + 0.5 * jax.random.normal(jax.random.key(seed + k), a.shape,  # noqa: E731
                                                     jnp.float64)
    params = params._replace(b=noise(2, params.b), b_gates=noise(3, params.b_gates))
    xs = jax.random.normal(jax.random.key(seed + 1), (T, X), jnp.float64)
    return params, xs


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("forget", ["sigmoid", "exp"])
@pytest.mark.parametrize("heads", [1, 2])
def test_matches_unstabilised_numpy(mode, forget, heads):
    with jax.enable_x64(True):
        spec, params, xs = _setup(3, 8, heads, forget, eps=0.0)
        final, hs = MLSTM(params, xs, spec=spec, mode=mode)
    ref, (C, n) = np_mlstm(*(np.asarray(a) for a in params), np.asarray(xs), heads, forget)
    np.testing.assert_allclose(hs, ref, rtol=1e-9, atol=1e-12)
    scale = np.exp(np.asarray(final.m))  # the state holds C, n scaled by exp(-m)
    np.testing.assert_allclose(np.swapaxes(np.asarray(final.C), -1, -2) * scale[:, None, None],
                               C, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(np.asarray(final.n) * scale[:, None], n, rtol=1e-9, atol=1e-12)


def _xlstm_inputs(params, xs, heads):
    """q, k (unscaled), v, o, ĩ, f̃ per head from the documented layout, NumPy float64."""
    torch = pytest.importorskip("torch")
    w_x, b, w_gates, b_gates = (np.asarray(a, np.float64) for a in params)
    w_x, b = np.concatenate([w_x, w_gates], axis=1), np.concatenate([b, b_gates])
    K = heads
    H = (b.shape[0] - 2 * K) // 4
    d = H // K
    pre = np.asarray(xs, np.float64) @ w_x + b                           # (B, T, 4H + 2K)
    heads_first = lambda a: torch.tensor(a.reshape(*a.shape[:2], K, d).transpose(0, 2, 1, 3))
    q, k, v, o = (heads_first(pre[..., j * H:(j + 1) * H]) for j in range(4))
    ig = torch.tensor(pre[..., 4 * H:4 * H + K].transpose(0, 2, 1))[..., None]   # (B, K, T, 1)
    fg = torch.tensor(pre[..., 4 * H + K:].transpose(0, 2, 1))[..., None]
    return q, k, v, o, ig, fg


def _to_ours(h_tilde, o):
    """(B, K, T, d) h̃ and o pre-activation -> h (B, T, H)."""
    h = (1.0 / (1.0 + np.exp(-o.numpy()))) * h_tilde.numpy()
    return h.transpose(0, 2, 1, 3).reshape(h.shape[0], h.shape[2], -1)


@pytest.mark.parametrize("heads", [1, 2])
def test_matches_xlstm_package_backends(heads):
    pytest.importorskip("torch")
    backends = pytest.importorskip("xlstm.blocks.mlstm.backends")
    B, T, X, H, CS = 2, 8, 4, 8, 4
    with jax.enable_x64(True):
        spec, params, xs = _setup(X, H, heads, T=T, chunk=CS)
        xs = jnp.stack([xs, 0.5 * xs[::-1]])
        outs = {m: jax.vmap(lambda x: MLSTM(params, x, spec=spec, mode=m))(xs) for m in MODES}
        no_eps = J.MLSTMSpec(num_heads=heads, eps=0.0)
        _, parallel_no_eps = jax.vmap(lambda x: MLSTM(params, x, spec=no_eps, mode="parallel"))(xs)
    q, k, v, o, ig, fg = _xlstm_inputs(params, xs, heads)
    # The package's parallel form floors the denominator at exp(-max_s log D_ts) where its
    # recurrent form (and all of ours) uses exp(-m_t) with m_t also bounded by m_0 + F_t; the
    # two agree exactly without eps and differ by O(eps) with it.
    parallel = backends.parallel_stabilized_simple(q, k, v, ig, fg, eps=0.0)
    np.testing.assert_allclose(parallel_no_eps, _to_ours(parallel, o), atol=1e-10)
    chunked, (C, n, m) = backends.chunkwise_simple(q, k, v, ig[..., 0], fg[..., 0], chunk_size=CS,
                                                   return_last_state=True)
    np.testing.assert_allclose(outs["chunkwise"][1], _to_ours(chunked, o), atol=1e-10)
    d = H // heads
    final = outs["chunkwise"][0]
    # the package keeps k unscaled in C and n (it scales q): ours = theirs / √d
    np.testing.assert_allclose(final.C, C.numpy() / math.sqrt(d), atol=1e-10)
    np.testing.assert_allclose(final.n, n.numpy() / math.sqrt(d), atol=1e-10)
    np.testing.assert_allclose(final.m, m.numpy()[..., 0, 0], atol=1e-10)
    c_state = np.zeros((B, heads, d, d))
    n_state, m_state = np.zeros((B, heads, d, 1)), np.zeros((B, heads, 1, 1))
    import torch
    state = tuple(torch.tensor(a) for a in (c_state, n_state, m_state))
    steps = []
    for t in range(T):
        h, state = backends.recurrent_step_stabilized_simple(
            *state, q[:, :, t:t + 1].clone(), k[:, :, t:t + 1].clone(), v[:, :, t:t + 1].clone(),
            ig[:, :, t:t + 1], fg[:, :, t:t + 1])
        steps.append(h)
    recurrent = torch.cat(steps, dim=2)
    np.testing.assert_allclose(outs["recurrent"][1], _to_ours(recurrent, o), atol=1e-10)
    np.testing.assert_allclose(outs["recurrent"][0].C, state[0].numpy(), atol=1e-10)
    np.testing.assert_allclose(outs["recurrent"][0].m, state[2].numpy()[..., 0, 0], atol=1e-10)


@pytest.mark.parametrize("with_lengths", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_forms_agree_values_and_gradients(with_lengths, reverse):
    with jax.enable_x64(True):
        spec, params, xs = _setup(3, 4, 2, T=8, chunk=3)
        state0 = J.MLSTMState(0.3 * jnp.ones((2, 2, 2)), 0.2 * jnp.ones((2, 2)),
                              jnp.asarray([0.5, -1.0]))

        @jax.jit
        def grads(p, x, s, lengths):
            def loss(p, x, s, mode):
                final, hs = J.mlstm(p, x, s, spec=spec, mode=mode, reverse=reverse,
                                    lengths=lengths if with_lengths else None)
                return jnp.sum(hs * jnp.cos(hs)) + sum(jnp.sum(jnp.sin(a)) for a in final)
            return {m: jax.value_and_grad(loss, argnums=(0, 1, 2))(p, x, s, m) for m in MODES}

        for length in ([0, 1, 5, 8] if with_lengths else [8]):
            results = grads(params, xs, state0, jnp.asarray(length))
            for mode in ("parallel", "chunkwise"):
                for a, b in zip(jax.tree.leaves(results["recurrent"]),
                                jax.tree.leaves(results[mode])):
                    assert np.isfinite(b).all()
                    np.testing.assert_allclose(b, a, rtol=1e-8, atol=1e-10,
                                               err_msg=f"{mode} length {length}")


@pytest.mark.parametrize("length", [0, 5])
def test_lengths_match_numpy_on_the_prefix(length):
    with jax.enable_x64(True):
        spec, params, xs = _setup(3, 4, 2, T=8, eps=0.0)
        out = {m: MLSTM(params, xs, spec=spec, mode=m, lengths=jnp.asarray(length),
                          reverse=True) for m in MODES}
    ref, _ = np_mlstm(*(np.asarray(a) for a in params), np.asarray(xs)[:length][::-1], 2)
    for mode, (final, hs) in out.items():
        np.testing.assert_allclose(hs[:length], ref[::-1], atol=1e-12, err_msg=mode)
        np.testing.assert_array_equal(hs[length:], 0.0)


@pytest.mark.parametrize("mode", MODES)
def test_state_continues_a_sequence(mode):
    with jax.enable_x64(True):
        spec, params, xs = _setup(3, 4, 2, T=11, chunk=4)
        _, whole = MLSTM(params, xs, spec=spec, mode="recurrent")
        mid, first = MLSTM(params, xs[:5], spec=spec, mode=mode)
        _, second = MLSTM(params, xs[5:], mid, spec=spec, mode=mode)
    np.testing.assert_allclose(np.concatenate([first, second]), whole, atol=1e-12)


@pytest.mark.parametrize("mode", ["recurrent", "chunkwise"])
def test_gradients_match_finite_differences(mode):
    with jax.enable_x64(True):
        spec, params, xs = _setup(2, 4, 2, T=5, chunk=2)
        f = lambda p, x: J.mlstm(p, x, spec=spec, mode=mode, lengths=jnp.asarray(4))[1].sum()  # noqa: E731
        check_grads(jax.jit(f), (params, xs), order=1, modes=("rev",), atol=1e-5, rtol=1e-5)


@settings(deadline=None)  # max_examples: the profile (tests/conftest.py)
@given(heads=st.sampled_from([1, 2, 4]), d=st.integers(1, 3), T=st.integers(1, 9),
       chunk=st.integers(1, 5), data=st.data())
def test_shapes_heads_chunks_lengths_against_numpy(heads, d, T, chunk, data):
    length = data.draw(st.integers(0, T))
    mode = data.draw(st.sampled_from(MODES))
    with jax.enable_x64(True):
        spec, params, xs = _setup(2, heads * d, heads, T=T, chunk=chunk, eps=0.0, seed=T)
        _, hs = jax.jit(lambda p, x, n: J.mlstm(p, x, spec=spec, mode=mode, lengths=n))(
            params, xs, jnp.asarray(length))
    ref, _ = np_mlstm(*(np.asarray(a) for a in params), np.asarray(xs), heads, lengths=length)
    np.testing.assert_allclose(hs, ref, atol=1e-10)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("forget", ["sigmoid", "exp"])
def test_ten_thousand_steps_with_large_preactivations_stay_finite(mode, forget):
    spec = J.MLSTMSpec(num_heads=2, forget_gate=forget, chunk_size=100)
    params = J.init_mlstm(jax.random.key(0), 3, 8, spec)
    params = jax.tree.map(lambda a: a * 50.0, params)
    xs = 10.0 * jax.random.normal(jax.random.key(1), (10_000, 3))
    if mode == "parallel":  # T² memory: the same stress on a tenth of the steps
        xs = xs[:1000]
    final, hs = jax.jit(lambda p, x: J.mlstm(p, x, spec=spec, mode=mode))(params, xs)
    assert np.isfinite(hs).all() and all(np.isfinite(a).all() for a in final)


def test_jit_vmap_param_count_and_auto_mode():
    spec = J.MLSTMSpec(num_heads=2)
    params = J.init_mlstm(jax.random.key(0), 5, 8, spec)
    xs = jax.random.normal(jax.random.key(1), (3, 4, 5))
    _, hs = jax.jit(jax.vmap(lambda x: J.mlstm(params, x, spec=spec)))(xs)
    _, ref = J.mlstm(params, xs[1], spec=spec, mode="recurrent")
    np.testing.assert_allclose(hs[1], ref, atol=1e-5)
    assert J.mlstm_param_count(spec, 5, 8) == sum(a.size for a in params) == 6 * (32 + 4)


@pytest.mark.parametrize("T", [64, 60])
def test_one_chunk_under_jit_vmap_matches_numpy(T):
    # Regression: with T <= chunk_size (one chunk) a length-1 lax.scan under jit(vmap) at
    # this size returned values up to 1e30 and -inf on CPU (jaxlib 0.10.2); the char LM's
    # validation bpc read 1e24 while its training loss was fine.
    spec = J.MLSTMSpec(num_heads=4, chunk_size=64)
    params = J.init_mlstm(jax.random.key(0), 8, 128, spec)
    xs = jax.random.normal(jax.random.key(1), (32, T, 8))
    _, hs = jax.jit(jax.vmap(lambda x: J.mlstm(params, x, spec=spec, mode="chunkwise")))(xs)
    w = [np.asarray(a, np.float64) for a in params]
    for b in (0, 31):
        ref, _ = np_mlstm(*w, np.asarray(xs[b], np.float64), 4, "sigmoid")
        np.testing.assert_allclose(hs[b], ref, rtol=1e-4, atol=1e-5)
    assert np.abs(np.asarray(hs)).max() < 10


def test_bad_input_errors():
    with pytest.raises(ValueError, match=r"MLSTMSpec.chunk_size must be a positive int, got 0"):
        J.MLSTMSpec(chunk_size=0)
    with pytest.raises(ValueError, match=r"MLSTMSpec.forget_gate must be one of"):
        J.MLSTMSpec(forget_gate="relu")
    with pytest.raises(ValueError, match=r"MLSTMSpec.eps must be a float >= 0, got -1"):
        J.MLSTMSpec(eps=-1)
    with pytest.raises(ValueError, match=r"hidden_size must be divisible"):
        J.init_mlstm(jax.random.key(0), 2, 6, J.MLSTMSpec(num_heads=4))
    spec = J.MLSTMSpec(num_heads=2)
    params = J.init_mlstm(jax.random.key(0), 2, 4, spec)
    with pytest.raises(ValueError, match=r"mode must be one of .*got 'scan'"):
        J.mlstm(params, jnp.ones((3, 2)), spec=spec, mode="scan")
    with pytest.raises(ValueError, match=r"chunk_size must be a positive int, got 0"):
        J.mlstm(params, jnp.ones((3, 2)), spec=spec, mode="chunkwise", chunk_size=0)
    with pytest.raises(ValueError, match=r"xs must have shape \(T, input_size=2\)"):
        J.mlstm(params, jnp.ones((3, 3)), spec=spec)
    with pytest.raises(TypeError, match=r"lengths must be an integer array"):
        J.mlstm(params, jnp.ones((3, 2)), spec=spec, lengths=jnp.asarray(1.0))
    with pytest.raises(ValueError, match=r"state0 must have leaf shapes"):
        J.mlstm(params, jnp.ones((3, 2)), J.MLSTMState(jnp.zeros((2, 3, 3)), jnp.zeros((2, 2)),
                                                       jnp.zeros(2)), spec=spec)
