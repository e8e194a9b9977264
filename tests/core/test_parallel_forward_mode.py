"""Forward mode through the parallel Newton solves (the implicit-function-theorem tangent,
`jaxlstm/core/parallel/newton.py`) against the sequential scan's, and reverse mode as its
transpose, float64, with lengths."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlstm as J

CELLS = {"gru": (J.init_gru, J.gru), "lstm": (J.init_lstm, J.lstm),
         "paralstm": (J.init_paralstm, J.paralstm)}


@pytest.mark.parametrize("name, mode", [  # the LSTM's and ParaLSTM's: 15 s each, slow tier
    ("gru", "newton"), ("gru", "quasi_newton"),
    pytest.param("lstm", "newton", marks=pytest.mark.slow),
    pytest.param("paralstm", "newton", marks=pytest.mark.slow)])
def test_jvp_and_grad_equal_the_sequential_scan(name, mode):
    init, layer = CELLS[name]
    with jax.enable_x64(True):
        params = jax.tree.map(lambda a: a.astype(jnp.float64), init(jax.random.key(0), 3, 4))
        xs = jax.random.normal(jax.random.key(1), (6, 3), jnp.float64)

        def outputs(m):
            return lambda p, x: jax.tree.leaves(layer(p, x, mode=m, lengths=4))

        tangents = (jax.tree.map(jnp.ones_like, params), jnp.cos(xs))
        jvp = jax.jit(lambda m, t: jax.jvp(outputs(m), (params, xs), t)[1], static_argnums=0)
        got, want = jvp(mode, tangents), jvp("scan", tangents)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, atol=1e-9)

        def loss(m):
            return lambda p: sum(jnp.sum(jnp.sin(t)) for t in outputs(m)(p, xs))

        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-9),
                     jax.jit(jax.grad(loss(mode)))(params), jax.jit(jax.grad(loss("scan")))(params))


@pytest.mark.slow  # ~40 s a case on 2 cores; the matrix's newton cases check HVPs as well
@pytest.mark.parametrize("name, mode", [  # the LSTM's and ParaLSTM's: 15 s each, slow tier
    ("gru", "newton"), ("gru", "quasi_newton"),
    pytest.param("lstm", "newton", marks=pytest.mark.slow),
    pytest.param("paralstm", "newton", marks=pytest.mark.slow)])
def test_second_derivatives_equal_the_sequential_scan(name, mode):
    """Hessians (forward over reverse) and Hessian-vector products in the parameters and the
    inputs: the rule's solution is the solve again, so no order differentiates the
    iterations."""
    init, layer = CELLS[name]
    with jax.enable_x64(True):
        params = jax.tree.map(lambda a: a.astype(jnp.float64), init(jax.random.key(0), 3, 4))
        xs = jax.random.normal(jax.random.key(1), (6, 3), jnp.float64)

        def loss(m):
            return lambda p, x: sum(jnp.sum(jnp.sin(t)) for t in
                                    jax.tree.leaves(layer(p, x, mode=m, lengths=4)))

        close = lambda a, b: np.testing.assert_allclose(a, b, atol=1e-8)  # noqa: E731
        jax.tree.map(close, jax.hessian(loss(mode), argnums=1)(params, xs),
                     jax.hessian(loss("scan"), argnums=1)(params, xs))
        direction = jax.tree.map(jnp.cos, params)

        def hvp(m):
            grad = jax.grad(loss(m))
            return jax.jvp(lambda p: grad(p, xs), (params,), (direction,))[1]

        jax.tree.map(close, hvp(mode), hvp("scan"))
