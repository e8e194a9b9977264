"""sLSTM: NumPy equations, the xlstm package's PyTorch cell, gradients, lengths, stability."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.test_util import check_grads

import jaxlstm as J
from tests.core.modern_reference import np_slstm


def _setup(X, H, heads, forget="sigmoid", T=7, seed=0, scale=1.0):
    spec = J.SLSTMSpec(num_heads=heads, forget_gate=forget)
    return (spec, *_arrays(X, H, spec, T, seed, scale))


@functools.partial(jax.jit, static_argnums=range(6))  # one compile, not one per random op
def _arrays(X, H, spec, T, seed, scale):
    params = J.init_slstm(jax.random.key(seed), X, H, spec, dtype=jnp.float64)
    params = jax.tree.map(lambda a: a * scale, params)
    xs = jax.random.normal(jax.random.key(seed + 1), (T, X), jnp.float64)
    return params, xs


@pytest.mark.parametrize("forget", ["sigmoid", "exp"])
@pytest.mark.parametrize("heads", [1, 2, 4])
def test_matches_unstabilised_numpy(forget, heads):
    with jax.enable_x64(True):
        spec, params, xs = _setup(3, 8, heads, forget)
        final, hs = J.slstm(params, xs, spec=spec)
    ref_hs, (h, c, n) = np_slstm(*(np.asarray(a) for a in params), np.asarray(xs), heads, forget)
    np.testing.assert_allclose(hs, ref_hs, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(final.h, h, rtol=1e-10)
    # the state holds c and n scaled by exp(-m)
    c_s, n_s, m = (np.asarray(a) for a in (final.c, final.n, final.m))
    np.testing.assert_allclose(c_s * np.exp(m), c, rtol=1e-9)
    np.testing.assert_allclose(n_s * np.exp(m), n, rtol=1e-9)


@pytest.mark.parametrize("heads", [1, 2])
def test_matches_xlstm_package_vanilla_cell(heads):
    torch = pytest.importorskip("torch")
    cell_mod = pytest.importorskip("xlstm.blocks.slstm.cell")
    X, H, T, B = 5, 8, 9, 2
    spec = J.SLSTMSpec(num_heads=heads)
    params = J.init_slstm(jax.random.key(3), X, H, spec)
    # recurrent weights are zero at the package's init; give them values to compare
    params = params._replace(r=jax.random.normal(jax.random.key(4), params.r.shape) * 0.5,
                             b=params.b + jax.random.normal(jax.random.key(5), params.b.shape))
    xs = jax.random.normal(jax.random.key(6), (B, T, X))
    cfg = cell_mod.sLSTMCellConfig(hidden_size=H, num_heads=heads, backend="vanilla",
                                   dtype="float32", output_shape="BSH")
    cell = cell_mod.sLSTMCell(cfg)
    d = H // heads
    w_x, r, b = (np.asarray(a, np.float64) for a in params)
    with torch.no_grad():
        # external layouts: recurrent (K, d_in, gates, d_out), bias (K, gates, d)
        cell._recurrent_kernel_.copy_(cell._recurrent_kernel_ext2int(
            torch.tensor(r.reshape(heads, d, 4, d), dtype=torch.float32)))
        cell._bias_.copy_(cell._bias_ext2int(
            torch.tensor(b.reshape(4, heads, d).transpose(1, 0, 2), dtype=torch.float32)))
        wx = torch.tensor(np.asarray(xs, np.float64) @ w_x, dtype=torch.float32)  # (B, T, 4H)
        out, state = cell(wx)
    final, hs = jax.vmap(lambda x: J.slstm(params, x, spec=spec))(xs)
    np.testing.assert_allclose(hs, out.numpy(), atol=2e-5)
    for ours, theirs in zip(final, state.numpy()):  # y, c, n, m
        np.testing.assert_allclose(ours, theirs, atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize("length", [0, 1, 4, 7])
@pytest.mark.parametrize("reverse", [False, True])
def test_lengths_and_reverse_match_numpy_on_the_prefix(length, reverse):
    with jax.enable_x64(True):
        spec, params, xs = _setup(3, 4, 2)
        final, hs = J.slstm(params, xs, spec=spec, lengths=jnp.asarray(length), reverse=reverse)
    prefix = np.asarray(xs)[:length]
    ref_hs, (h, _, _) = np_slstm(*(np.asarray(a) for a in params),
                                 prefix[::-1] if reverse else prefix, 2)
    if length:
        np.testing.assert_allclose(hs[:length], ref_hs[::-1] if reverse else ref_hs, atol=1e-12)
        np.testing.assert_allclose(final.h, h, atol=1e-12)
    else:
        np.testing.assert_array_equal(final.h, 0.0)
    np.testing.assert_array_equal(hs[length:], 0.0)


def test_state_continues_a_sequence():
    with jax.enable_x64(True):
        spec, params, xs = _setup(3, 4, 2, T=10)
        _, whole = J.slstm(params, xs, spec=spec)
        mid, first = J.slstm(params, xs[:4], spec=spec)
        _, second = J.slstm(params, xs[4:], mid, spec=spec)
    np.testing.assert_allclose(np.concatenate([first, second]), whole, atol=1e-12)


@pytest.mark.parametrize("forget", ["sigmoid", "exp"])
def test_gradients_match_finite_differences(forget):
    with jax.enable_x64(True):
        spec, params, xs = _setup(2, 4, 2, forget, T=4)
        f = lambda p, x: J.slstm(p, x, spec=spec, lengths=jnp.asarray(3))[1].sum()  # noqa: E731
        check_grads(jax.jit(f), (params, xs), order=1, modes=("rev",), atol=1e-5, rtol=1e-5)


@settings(deadline=None)  # max_examples: the profile (tests/conftest.py)
@given(heads=st.sampled_from([1, 2, 4]), d=st.integers(1, 3), X=st.integers(1, 4),
       T=st.integers(1, 6), data=st.data())
def test_shapes_heads_lengths_against_numpy(heads, d, X, T, data):
    length = data.draw(st.integers(0, T))
    forget = data.draw(st.sampled_from(["sigmoid", "exp"]))
    H = heads * d
    with jax.enable_x64(True):
        spec, params, xs = _setup(X, H, heads, forget, T=T, seed=T)
        xs2 = jnp.stack([xs, -xs])
        lengths = jnp.asarray([length, T])
        _, hs = jax.jit(jax.vmap(lambda x, n: J.slstm(params, x, spec=spec, lengths=n)))(
            xs2, lengths)
    assert hs.shape == (2, T, H)
    ref, _ = np_slstm(*(np.asarray(a) for a in params), np.asarray(xs)[:length], heads, forget)
    np.testing.assert_allclose(hs[0, :length], ref.reshape(length, H), atol=1e-10)
    np.testing.assert_array_equal(hs[0, length:], 0.0)
    ref2, _ = np_slstm(*(np.asarray(a) for a in params), -np.asarray(xs), heads, forget)
    np.testing.assert_allclose(hs[1], ref2, atol=1e-10)


@pytest.mark.parametrize("forget", ["sigmoid", "exp"])
def test_ten_thousand_steps_with_large_preactivations_stay_finite(forget):
    spec = J.SLSTMSpec(num_heads=2, forget_gate=forget)
    params = J.init_slstm(jax.random.key(0), 3, 8, spec)
    params = jax.tree.map(lambda a: a * 50.0, params)  # pre-activations in the hundreds
    xs = 10.0 * jax.random.normal(jax.random.key(1), (10_000, 3))
    final, hs = jax.jit(lambda p, x: J.slstm(p, x, spec=spec))(params, xs)
    assert np.isfinite(hs).all() and all(np.isfinite(a).all() for a in final)
    assert np.abs(hs).max() <= 1.0  # h = o · (a weighted mean of tanh values)
    grads = jax.jit(jax.grad(lambda p: J.slstm(p, xs[:2000], spec=spec)[1].sum()))(params)
    assert all(np.isfinite(g).all() for g in grads)


def test_jit_with_spec_argument_and_param_count():
    spec = J.SLSTMSpec(num_heads=4)
    params = J.init_slstm(jax.random.key(0), 5, 8, spec)
    xs = jnp.ones((3, 5))
    _, hs = jax.jit(J.slstm)(params, xs, spec=spec)
    np.testing.assert_allclose(hs, J.slstm(params, xs, spec=spec)[1], atol=1e-6)
    assert J.slstm_param_count(spec, 5, 8) == sum(a.size for a in params)
    assert J.slstm_param_count(spec, 5, 8) == 4 * 8 * (5 + 2 + 1)


def test_bad_input_errors():
    with pytest.raises(ValueError, match=r"SLSTMSpec.num_heads must be a positive int, got 0"):
        J.SLSTMSpec(num_heads=0)
    with pytest.raises(ValueError, match=r"SLSTMSpec.forget_gate must be one of .*got 'tanh'"):
        J.SLSTMSpec(forget_gate="tanh")
    with pytest.raises(ValueError, match=r"hidden_size must be divisible by .*num_heads=3"):
        J.init_slstm(jax.random.key(0), 2, 8, J.SLSTMSpec(num_heads=3))
    params = J.init_slstm(jax.random.key(0), 2, 4, J.SLSTMSpec(num_heads=2))
    with pytest.raises(ValueError, match=r"xs must have shape \(T, X\)"):
        J.slstm(params, jnp.ones((2, 3, 2)), spec=J.SLSTMSpec(num_heads=2))
    with pytest.raises(ValueError, match=r"input_size=2"):
        J.slstm(params, jnp.ones((3, 5)), spec=J.SLSTMSpec(num_heads=2))
    with pytest.raises(ValueError, match=r"params.r must have shape \(4, 1, 4\)"):
        J.slstm(params, jnp.ones((3, 2)), spec=J.SLSTMSpec(num_heads=4))
    with pytest.raises(ValueError, match=r"mode must be one of \['auto', 'recurrent', 'newton', 'quasi_newton'\], got 'parallel'"):
        J.slstm(params, jnp.ones((3, 2)), spec=J.SLSTMSpec(num_heads=2), mode="parallel")
    with pytest.raises(ValueError, match=r"lengths must lie in \[0, T=3\]"):
        J.slstm(params, jnp.ones((3, 2)), spec=J.SLSTMSpec(num_heads=2), lengths=jnp.asarray(4))
    with pytest.raises(ValueError, match=r"state0 must have"):
        J.slstm(params, jnp.ones((3, 2)), (jnp.zeros(4),) * 3, spec=J.SLSTMSpec(num_heads=2))
