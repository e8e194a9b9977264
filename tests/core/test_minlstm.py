"""minLSTM and minGRU: linear-space NumPy equations, sequential vs parallel (log-space
associative scan) forms in values and gradients, lengths, reverse, stability, errors."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.test_util import check_grads

import jaxlstm as J
from tests.core.modern_reference import np_mingru, np_minlstm

FAMILIES = {
    "minlstm": (J.init_minlstm, J.minlstm, np_minlstm, J.minlstm_param_count, 3),
    "mingru": (J.init_mingru, J.mingru, np_mingru, J.mingru_param_count, 2),
}
MODES = ("sequential", "parallel")


@functools.partial(jax.jit, static_argnums=range(5))  # one compile, not one per random op
def _setup(name, X=3, H=5, T=9, seed=0):
    init = FAMILIES[name][0]
    params = init(jax.random.key(seed), X, H, dtype=jnp.float64)
    params = params._replace(b=jax.random.normal(jax.random.key(seed + 2), params.b.shape,
                                                 jnp.float64))
    xs = 2.0 * jax.random.normal(jax.random.key(seed + 1), (T, X), jnp.float64)
    h0 = jax.random.normal(jax.random.key(seed + 3), (H,), jnp.float64)  # any sign
    return params, xs, h0


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("mode", MODES)
def test_matches_linear_space_numpy(name, mode):
    layer, ref_fn = FAMILIES[name][1], FAMILIES[name][2]
    with jax.enable_x64(True):
        params, xs, h0 = _setup(name)
        final, hs = layer(params, xs, h0, mode=mode)
    ref = ref_fn(*(np.asarray(a) for a in params), np.asarray(xs), np.asarray(h0))
    np.testing.assert_allclose(hs, ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(final, ref[-1], rtol=1e-10)


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("reverse", [False, True])
def test_forms_agree_values_and_gradients_with_lengths(name, reverse):
    layer, ref_fn = FAMILIES[name][1], FAMILIES[name][2]
    with jax.enable_x64(True):
        params, xs, h0 = _setup(name)

        @jax.jit
        def grads(p, x, h, lengths):
            def loss(p, x, h, mode):
                final, hs = layer(p, x, h, mode=mode, lengths=lengths, reverse=reverse)
                return jnp.sum(jnp.sin(hs)) + jnp.sum(final ** 2)
            return {m: jax.value_and_grad(loss, argnums=(0, 1, 2))(p, x, h, m) for m in MODES}

        for length in (0, 1, 4, 9):
            out = grads(params, xs, h0, jnp.asarray(length))
            for a, b in zip(jax.tree.leaves(out["sequential"]), jax.tree.leaves(out["parallel"])):
                assert np.isfinite(b).all()
                np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12, err_msg=f"{length}")
            final, hs = layer(params, xs, h0, mode="parallel", lengths=jnp.asarray(length),
                              reverse=reverse)
            prefix = np.asarray(xs)[:length]
            ref = ref_fn(*(np.asarray(a) for a in params), prefix[::-1] if reverse else prefix,
                         np.asarray(h0))
            np.testing.assert_allclose(hs[:length], ref[::-1] if reverse else ref, atol=1e-12)
            np.testing.assert_array_equal(hs[length:], 0.0)
            np.testing.assert_allclose(final, ref[-1] if length else h0, atol=1e-12)


@pytest.mark.parametrize("name", FAMILIES)
def test_gradients_match_finite_differences(name):
    layer = FAMILIES[name][1]
    with jax.enable_x64(True):
        params, xs, h0 = _setup(name, T=5, H=3)
        f = lambda p, x, h: layer(p, x, h, mode="parallel", lengths=jnp.asarray(4))[1].sum()  # noqa: E731
        check_grads(jax.jit(f), (params, xs, h0), order=1, modes=("rev",), atol=1e-6, rtol=1e-6)


@settings(deadline=None)  # max_examples: the profile (tests/conftest.py)
@given(name=st.sampled_from(list(FAMILIES)), H=st.integers(1, 6), X=st.integers(1, 4),
       T=st.integers(1, 12), data=st.data())
def test_shapes_and_lengths_batched_against_numpy(name, H, X, T, data):
    layer, ref_fn = FAMILIES[name][1], FAMILIES[name][2]
    lengths = data.draw(st.lists(st.integers(0, T), min_size=2, max_size=2))
    with jax.enable_x64(True):
        params, xs, h0 = _setup(name, X=X, H=H, T=T, seed=T)
        batch = jnp.stack([xs, -xs])
        _, hs = jax.jit(jax.vmap(lambda x, n: layer(params, x, h0, lengths=n)))(batch, jnp.asarray(lengths))
    for b, n in enumerate(lengths):
        ref = ref_fn(*(np.asarray(a) for a in params), np.asarray(batch[b])[:n], np.asarray(h0))
        np.testing.assert_allclose(hs[b, :n], ref.reshape(n, H), atol=1e-10)
        np.testing.assert_array_equal(hs[b, n:], 0.0)


@pytest.mark.parametrize("name", FAMILIES)
def test_ten_thousand_steps_with_large_preactivations_stay_finite(name):
    init, layer = FAMILIES[name][:2]
    params = jax.tree.map(lambda a: 50.0 * a, init(jax.random.key(0), 3, 8))
    xs = 10.0 * jax.random.normal(jax.random.key(1), (10_000, 3))
    for mode in MODES:
        final, hs = jax.jit(lambda p, x: layer(p, x, mode=mode))(params, xs)
        assert np.isfinite(hs).all() and np.isfinite(final).all(), mode
    grads = jax.jit(jax.grad(lambda p: layer(p, xs, mode="parallel")[1].sum()))(params)
    assert all(np.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("name", FAMILIES)
def test_param_count_and_jit(name):
    init, layer, _, count, blocks = FAMILIES[name]
    params = init(jax.random.key(0), 4, 6)
    assert count(FAMILIES[name][0].__defaults__[0], 4, 6) == sum(a.size for a in params)
    assert sum(a.size for a in params) == blocks * 6 * (4 + 1)
    xs = jnp.ones((3, 4))
    np.testing.assert_allclose(jax.jit(layer)(params, xs)[1], layer(params, xs, mode="sequential")[1],
                               atol=1e-6)


@pytest.mark.parametrize("name", FAMILIES)
def test_bad_input_errors(name):
    init, layer = FAMILIES[name][:2]
    params = init(jax.random.key(0), 2, 4)
    with pytest.raises(ValueError, match=r"mode must be one of \['auto', 'sequential', 'parallel', 'newton', 'quasi_newton'\]"):
        layer(params, jnp.ones((3, 2)), mode="chunkwise")
    with pytest.raises(ValueError, match=r"xs must have shape \(T, X\) \(rank 2\), got shape \(1, 3, 2\)"):
        layer(params, jnp.ones((1, 3, 2)))
    with pytest.raises(ValueError, match=r"h0 must have leaf shapes \[\(4,\)\], got \[\(5,\)\]"):
        layer(params, jnp.ones((3, 2)), jnp.zeros(5))
    with pytest.raises(TypeError, match=r"xs must be a floating-point array"):
        layer(params, jnp.ones((3, 2), jnp.int32))
    with pytest.raises(ValueError, match=r"params.b must have shape \([23]H,\)"):
        layer(params._replace(b=params.b[:-1]), jnp.ones((3, 2)))
