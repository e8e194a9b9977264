"""Every family's public layer function reports its parallel solve (`return_info=True` ->
`SolveInfo`), with states equal to the family's own sequential scan; `max_iters=0` falls back
and says so; `return_info` with a sequential mode is a named error."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlstm as J  # noqa: F401
from jaxlstm.core.parallel import default_tol

from tests.core.test_parallel import FAMILIES, T, X


@pytest.mark.parametrize("name", FAMILIES)
def test_public_function_returns_solve_info(name):
    init, layer, sequential = FAMILIES[name]
    with jax.enable_x64(True):
        params = init(jax.random.key(0))
        xs = jax.random.normal(jax.random.key(1), (T, X), jnp.float64)
        run = jax.jit(layer, static_argnames=("mode", "max_iters", "return_info"))
        want_final, want_hs = run(params, xs, mode=sequential)
        final, hs, info = run(params, xs, mode="newton", max_iters=T, return_info=True)
        np.testing.assert_allclose(hs, want_hs, rtol=1e-9, atol=1e-11)
        for a, b in zip(jax.tree.leaves(final), jax.tree.leaves(want_final)):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)
        assert bool(info.converged) and not bool(info.fell_back)
        assert 0 <= int(info.iterations) <= T
        assert float(info.residual) <= default_tol(jnp.float64)
        # no iterations allowed: the sequential scan's result, flagged as a fallback
        _, hs0, info0 = run(params, xs, mode="quasi_newton", max_iters=0, return_info=True)
        if not bool(info0.converged):
            assert bool(info0.fell_back) and int(info0.iterations) == 0
        np.testing.assert_allclose(hs0, want_hs, rtol=1e-9, atol=1e-11)
        with pytest.raises(ValueError, match="return_info"):
            layer(params, xs, mode=sequential, return_info=True)
