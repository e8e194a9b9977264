"""ParaLSTM and ParaGRU: loop-by-loop NumPy references in every mode, structured Jacobians
against `jax.jacfwd`, parameter counts, bad modes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlstm as J
from tests.core.modern_reference import np_paragru, np_paralstm

MODES = ("scan", "newton", "quasi_newton")


def _paralstm(X=4, H=6, T=12, heads=2):
    spec = J.ParaLSTMSpec(num_heads=heads)
    p = J.init_paralstm(jax.random.key(0), X, H, spec, dtype=jnp.float64)
    p = p._replace(p=jax.random.normal(jax.random.key(5), p.p.shape, jnp.float64),
                   a=2 * jax.random.normal(jax.random.key(6), p.a.shape, jnp.float64))
    xs = jax.random.normal(jax.random.key(1), (T, X), jnp.float64)
    s0 = J.ParaLSTMState(*jax.random.normal(jax.random.key(2), (2, H), jnp.float64))
    return spec, p, xs, s0


def _paragru(X=3, H=5, T=12):
    p = J.init_paragru(jax.random.key(0), X, H, dtype=jnp.float64)
    p = p._replace(b_h=jax.random.normal(jax.random.key(7), p.b_h.shape, jnp.float64),
                   a=2 * jax.random.normal(jax.random.key(6), p.a.shape, jnp.float64))
    xs = jax.random.normal(jax.random.key(1), (T, X), jnp.float64)
    h0 = jax.random.normal(jax.random.key(2), (H,), jnp.float64)
    return p, xs, h0


def test_paralstm_matches_numpy_in_every_mode():
    with jax.enable_x64(True):
        spec, p, xs, s0 = _paralstm()
        run = jax.jit(lambda p, xs, s0: {m: J.paralstm(p, xs, s0, spec=spec, mode=m)
                                         for m in MODES})
        out = run(p, xs, s0)
    ref, (h, c) = np_paralstm(*(np.asarray(v) for v in p), np.asarray(xs), *map(np.asarray, s0))
    for mode in MODES:
        final, hs = out[mode]
        np.testing.assert_allclose(hs, ref, rtol=1e-10, atol=1e-12, err_msg=mode)
        np.testing.assert_allclose(final.h, h, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(final.c, c, rtol=1e-10, atol=1e-12)


def test_paragru_matches_numpy_in_every_mode():
    with jax.enable_x64(True):
        p, xs, h0 = _paragru()
        out = jax.jit(lambda p, xs, h0: {m: J.paragru(p, xs, h0, mode=m) for m in MODES})(
            p, xs, h0)
    ref = np_paragru(*(np.asarray(v) for v in p), np.asarray(xs), np.asarray(h0))
    for mode in MODES:
        np.testing.assert_allclose(out[mode][1], ref, rtol=1e-10, atol=1e-12, err_msg=mode)
        np.testing.assert_allclose(out[mode][0], ref[-1], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["paralstm", "paragru", "minlstm", "mingru"])
def test_structured_jacobian_equals_jacfwd(name):
    family = J.get_family(name)
    with jax.enable_x64(True):
        spec = family.spec_type()
        p = family.init(jax.random.key(0), 4, 6, spec, dtype=jnp.float64)
        p = jax.tree.map(lambda v: v + 0.7 * jax.random.normal(jax.random.key(3), v.shape,
                                                               v.dtype), p)
        state = jax.tree.map(lambda z: jax.random.normal(jax.random.key(4), z.shape, z.dtype),
                             family.zero_state(p, spec))
        x = jax.random.normal(jax.random.key(1), (4,), jnp.float64)
        flat, unravel = jax.flatten_util.ravel_pytree(state)
        dense = jax.jacfwd(lambda z: jax.flatten_util.ravel_pytree(
            family.step(p, unravel(z), x, spec)[0])[0])(flat)
        blocks = family.jacobian(p, state, x, spec)
    k, _, m = blocks.shape
    want = np.zeros((k * m, k * m))
    for i in range(k):
        for j in range(k):
            want[i * m:(i + 1) * m, j * m:(j + 1) * m] = np.diag(blocks[i, j])
    np.testing.assert_allclose(dense, want, rtol=1e-12, atol=1e-12)


def test_param_counts_match_the_leaves():
    spec = J.ParaLSTMSpec(num_heads=2)
    p = J.init_paralstm(jax.random.key(0), 4, 6, spec)
    assert J.paralstm_param_count(spec, 4, 6) == sum(v.size for v in p) == 3 * 6 * 2 + 8 * 6
    g = J.init_paragru(jax.random.key(0), 3, 5)
    assert J.paragru_param_count(J.ParaGRUSpec(), 3, 5) == sum(v.size for v in g) == 15 * 6


def test_bad_mode_and_heads_are_named_errors():
    p = J.init_paragru(jax.random.key(0), 3, 5)
    with pytest.raises(ValueError, match="mode must be one of.*got 'parallel'"):
        J.paragru(p, jnp.ones((4, 3)), mode="parallel")
    with pytest.raises(ValueError, match="num_heads=2"):
        J.init_paralstm(jax.random.key(0), 3, 6, J.ParaLSTMSpec(num_heads=2))
    with pytest.raises(ValueError, match="return_info needs mode"):
        J.paragru(p, jnp.ones((4, 3)), mode="scan", return_info=True)
