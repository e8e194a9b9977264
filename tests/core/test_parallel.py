"""The parallel Newton solver (jaxlstm.core.parallel) against the sequential scan: values and
gradients for every family it is wired into (float64), finite differences, lengths and
reverse under vmap, non-convergence falling back, damping, errors."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import jaxlstm as J

pytestmark = pytest.mark.slow  # minutes on 2 cores: the slow tier (.ci/run)

X, H, T = 3, 4, 10
# name -> (init, layer, its sequential mode)
FAMILIES = {
    "lstm": (lambda k: J.init_lstm(k, X, H, dtype=jnp.float64), J.lstm, "scan"),
    "gru": (lambda k: J.init_gru(k, X, H, dtype=jnp.float64), J.gru, "scan"),
    "rnn": (lambda k: J.init_rnn(k, X, H, dtype=jnp.float64), J.rnn, "scan"),
    "slstm": (lambda k: J.init_slstm(k, X, H, dtype=jnp.float64), J.slstm, "recurrent"),
    "minlstm": (lambda k: J.init_minlstm(k, X, H, dtype=jnp.float64), J.minlstm, "sequential"),
    "mingru": (lambda k: J.init_mingru(k, X, H, dtype=jnp.float64), J.mingru, "sequential"),
    "paralstm": (lambda k: J.init_paralstm(k, X, H, dtype=jnp.float64), J.paralstm, "scan"),
    "paragru": (lambda k: J.init_paragru(k, X, H, dtype=jnp.float64), J.paragru, "scan"),
}


def _loss(layer, mode, lengths, reverse):
    def loss(p, xs):
        final, hs = layer(p, xs, mode=mode, lengths=lengths, reverse=reverse)
        return jnp.sum(jnp.sin(hs)) + sum(jnp.sum(f ** 2) for f in jax.tree.leaves(final))
    return loss


@pytest.mark.parametrize("name", FAMILIES)
def test_solver_equals_scan_in_value_and_gradient(name):
    init, layer, sequential = FAMILIES[name]
    with jax.enable_x64(True):
        params = init(jax.random.key(0))
        xs = jax.random.normal(jax.random.key(1), (2, T, X), jnp.float64)
        lengths = jnp.asarray([T, 6])

        @jax.jit
        def run(p, xs):
            out = {}
            for mode in (sequential, "newton", "quasi_newton"):
                whole = _loss(layer, mode, None, False)
                masked = lambda p, x, n: _loss(layer, mode, n, True)(p, x)  # noqa: E731
                out[mode] = (jax.value_and_grad(whole, argnums=(0, 1))(p, xs[0]),
                             jax.vmap(jax.value_and_grad(masked, argnums=(0, 1)), (None, 0, 0))(
                                 p, xs, lengths))
            return out

        out = run(params, xs)
    for mode in ("newton", "quasi_newton"):
        for a, b in zip(jax.tree.leaves(out[mode]), jax.tree.leaves(out[sequential])):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11, err_msg=f"{name} {mode}")


@pytest.mark.parametrize("name", ["paralstm", "gru"])
def test_gradients_match_finite_differences(name):
    init, layer, _ = FAMILIES[name]
    with jax.enable_x64(True):
        params = init(jax.random.key(0))
        xs = jax.random.normal(jax.random.key(1), (6, X), jnp.float64)
        check_grads(_loss(layer, "newton", jnp.asarray(4), True), (params, xs), order=1,
                    modes=["rev"], atol=1e-6, rtol=1e-6)


def _chaotic_rnn():
    params = J.init_rnn(jax.random.key(0), X, 8, dtype=jnp.float64)
    return params._replace(w_h=4.0 * params.w_h)


def test_non_convergence_falls_back_and_info_reports_it():
    step = lambda p, h, x: J.rnn_step(p, h, x)  # noqa: E731
    with jax.enable_x64(True):
        params = _chaotic_rnn()
        xs = jax.random.normal(jax.random.key(1), (3, 40, X), jnp.float64)
        h0 = jnp.zeros((8,), jnp.float64)
        want = jax.vmap(lambda x: J.scan_cell(step, params, x, h0))(xs)

        @functools.partial(jax.jit, static_argnums=1)
        def solve(xs, fallback):
            return jax.vmap(lambda x: J.parallel_scan_cell(
                step, params, x, h0, max_iters=1, fallback=fallback, return_info=True))(xs)

        final, hs, info = solve(xs, True)
        _, hs_raw, info_raw = solve(xs, False)
        _, _, info_full = jax.jit(lambda x: J.parallel_scan_cell(
            step, params, x, h0, max_iters=40, return_info=True))(xs[0])
    np.testing.assert_array_equal(info.iterations, 1)
    assert not info.converged.any() and info.fell_back.all()
    assert (info.residual > 1e-3).all()
    # The scan's result. The map is chaotic (w_h scaled by 4): the last-bit differences between
    # two compiled programs grow to ~4e-11 over the 40 steps (seen with XLA at level 0), while
    # the one-iteration Newton result it replaces is off by more than 1e-3 (below).
    np.testing.assert_allclose(hs, want[1], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(final, want[0], rtol=1e-9, atol=1e-9)
    assert not info_raw.fell_back.any() and np.abs(hs_raw - want[1]).max() > 1e-3
    # undamped Newton makes at least one more step exact per iteration: T - 1 suffice
    assert bool(info_full.converged) and not bool(info_full.fell_back)
    assert int(info_full.iterations) <= 39


def test_damping_converges_to_the_same_solution():
    step = lambda p, h, x: J.gru_step(p, h, x)  # noqa: E731
    with jax.enable_x64(True):
        params = J.init_gru(jax.random.key(0), X, H, dtype=jnp.float64)
        xs = jax.random.normal(jax.random.key(1), (30, X), jnp.float64)
        h0 = jnp.zeros((H,), jnp.float64)
        _, want = J.scan_cell(step, params, xs, h0)
        run = jax.jit(lambda lam: J.parallel_scan_cell(step, params, xs, h0, damping=lam,
                                                       max_iters=200, fallback=False,
                                                       return_info=True), static_argnums=0)
        _, plain, info0 = run(0.0)
        _, damped, info1 = run(0.5)
    for hs, info in ((plain, info0), (damped, info1)):
        assert bool(info.converged)
        np.testing.assert_allclose(hs, want, rtol=1e-11, atol=1e-12)
    assert int(info1.iterations) > int(info0.iterations)   # a shorter step, more of them


def test_bad_modes_are_named_errors():
    p = J.init_gru(jax.random.key(0), X, H)
    xs = jnp.ones((5, X))
    with pytest.raises(ValueError, match=r"mode must be one of \['scan', 'newton', "
                                         r"'quasi_newton'\], got 'parallel'"):
        J.gru(p, xs, mode="parallel")
    with pytest.raises(ValueError, match="mode must be one of.*got 'jacobi'"):
        J.lstm(J.init_lstm(jax.random.key(0), X, H), xs, mode="jacobi")
    with pytest.raises(ValueError, match="mode must be one of.*got 'parallel'"):
        J.slstm(J.init_slstm(jax.random.key(0), X, H), xs, mode="parallel")
    with pytest.raises(ValueError, match="max_iters must be an int >= 0, got -1"):
        J.paragru(J.init_paragru(jax.random.key(0), X, H), xs, mode="newton", max_iters=-1)
