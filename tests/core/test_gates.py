"""Each gate and the fused step against the equations written out in NumPy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlstm as J
from tests.core.reference import as_numpy, np_step
from tests.core.specs import all_specs, spec_id

X, H, P = 3, 5, 2


def _random_params(spec, key, proj):
    params = J.init_lstm(key, X, H, spec, proj_size=proj, dtype=jnp.float64)
    # Random everything (not just the init) so no term can hide behind a zero.
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.fold_in(key, 1), len(leaves))
    leaves = [jax.random.normal(k, l.shape, jnp.float64) for k, l in zip(keys, leaves)]
    return jax.tree.unflatten(tree, leaves)


@pytest.mark.parametrize("proj", [None, P])
@pytest.mark.parametrize("spec", all_specs(), ids=spec_id)
def test_gates_and_step_match_numpy_equations(spec, proj):
    with jax.enable_x64(True):
        key = jax.random.key(0)
        params = _random_params(spec, key, proj)
        k1, k2, k3 = jax.random.split(jax.random.key(1), 3)
        x = jax.random.normal(k1, (4, X), jnp.float64)  # a batch of 4 steps at once
        state = J.LSTMState(jax.random.normal(k2, (4, proj or H), jnp.float64),
                            jax.random.normal(k3, (4, H), jnp.float64))
        p = as_numpy(params)
        h_ref, c_ref, (i_ref, f_ref, g_ref, o_ref) = np_step(
            p, np.asarray(state.h), np.asarray(state.c), np.asarray(x), spec)

        # Each gate alone (unfused: only its own block's weights).
        np.testing.assert_allclose(J.forget_gate(params, state, x, spec), f_ref, atol=1e-12)
        np.testing.assert_allclose(J.input_gate(params, state, x, spec), i_ref, atol=1e-12)
        np.testing.assert_allclose(J.candidate(params, state, x, spec), g_ref, atol=1e-12)
        o = J.output_gate(params, state, x, spec, c_new=jnp.asarray(c_ref))
        np.testing.assert_allclose(o, o_ref, atol=1e-12)

        # The fused step.
        new_state, h = J.cell_step(params, state, x, spec)
        np.testing.assert_allclose(h, h_ref, atol=1e-12)
        np.testing.assert_allclose(new_state.c, c_ref, atol=1e-12)
        np.testing.assert_allclose(new_state.h, h_ref, atol=1e-12)


@pytest.mark.parametrize("spec", all_specs(), ids=spec_id)
def test_fused_step_equals_composed_gate_functions(spec):
    """cell_step (one matmul) == the seed-002 recipe composed from the four gate functions."""
    with jax.enable_x64(True):
        params = _random_params(spec, jax.random.key(2), None)
        x = jax.random.normal(jax.random.key(3), (X,), jnp.float64)
        state = J.LSTMState(jnp.full((H,), 0.3), jnp.linspace(-1, 1, H))
        f = J.forget_gate(params, state, x, spec)
        i = J.input_gate(params, state, x, spec)
        g = J.candidate(params, state, x, spec)
        c = f * state.c + i * g
        o = J.output_gate(params, state, x, spec, c_new=c)
        h = o * J.ACTIVATIONS["identity" if spec.variant == "noaf" else spec.cell_activation](c)
        new_state, h_fused = J.cell_step(params, state, x, spec)
        np.testing.assert_allclose(h_fused, h, atol=1e-13)
        np.testing.assert_allclose(new_state.c, c, atol=1e-13)


def test_absent_gates_are_ones_and_cifg_couples():
    state = J.LSTMState(jnp.zeros(H), jnp.ones(H))
    x = jnp.ones(X)
    for variant, gate in (("nig", J.input_gate), ("nfg", J.forget_gate), ("nog", J.output_gate)):
        spec = J.CellSpec(variant=variant)
        params = J.init_lstm(jax.random.key(0), X, H, spec)
        np.testing.assert_array_equal(gate(params, state, x, spec), np.ones(H))
    spec = J.CellSpec(variant="cifg")
    params = J.init_lstm(jax.random.key(0), X, H, spec)
    f = J.forget_gate(params, state, x, spec)
    np.testing.assert_allclose(J.input_gate(params, state, x, spec), 1.0 - f, atol=1e-7)


def test_output_gate_with_peepholes_requires_new_cell_state():
    spec = J.CellSpec(peepholes=True)
    params = J.init_lstm(jax.random.key(0), X, H, spec)
    state = J.LSTMState(jnp.zeros(H), jnp.zeros(H))
    with pytest.raises(ValueError, match="c_new"):
        J.output_gate(params, state, jnp.ones(X), spec)


def test_gate_functions_compose_as_scan_bodies():
    """A gate function has the scan-body argument order: it runs inside lax.scan as is."""
    spec = J.CellSpec()
    params = J.init_lstm(jax.random.key(0), X, H, spec)
    xs = jax.random.normal(jax.random.key(1), (6, X))

    def body(state, x):
        new_state, h = J.cell_step(params, state, x, spec)
        return new_state, J.forget_gate(params, state, x, spec)

    _, fs = jax.lax.scan(body, J.zero_state(params), xs)
    _, (hs, trace) = J.lstm(params, xs, return_gates=True)
    np.testing.assert_allclose(fs, trace.f, atol=1e-6)
