"""The scan over time: masking, reversal, vmap, unroll, remat and gradients."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import jaxlstm as J
from tests.core.reference import as_numpy, np_lstm
from tests.core.specs import all_specs, spec_id

T, X, H = 6, 3, 4


def _setup(spec, proj=None, key=0):
    dtype = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
    params = J.init_lstm(jax.random.key(key), X, H, spec, proj_size=proj, dtype=dtype)
    xs = jax.random.normal(jax.random.key(key + 1), (T, X), dtype)
    return params, xs


LENGTHS = [0, 1, 4, T]


@pytest.mark.parametrize("spec", all_specs(), ids=spec_id)
@pytest.mark.parametrize("reverse", [False, True])
def test_scan_matches_numpy_loop(spec, reverse):
    """Without lengths, and with each of LENGTHS (one vmapped call: one compile for all)."""
    with jax.enable_x64(True):
        params, xs = _setup(spec, proj=2)
        state0 = J.LSTMState(jnp.full((2,), 0.5), jnp.full((H,), -0.3))
        run = functools.partial(J.lstm, params, xs, state0, spec=spec, reverse=reverse)
        unmasked = run()
        masked = jax.vmap(lambda n: run(lengths=n))(jnp.asarray(LENGTHS))
        for i, length in enumerate([None] + LENGTHS):
            final, hs = unmasked if length is None else jax.tree.map(lambda a: a[i - 1], masked)
            (h_ref, c_ref), hs_ref = np_lstm(as_numpy(params), np.asarray(xs), np.full(2, 0.5),
                                             np.full(H, -0.3), spec, length, reverse)
            np.testing.assert_allclose(hs, hs_ref, atol=1e-12, err_msg=f"lengths={length}")
            np.testing.assert_allclose(final.h, h_ref, atol=1e-12, err_msg=f"lengths={length}")
            np.testing.assert_allclose(final.c, c_ref, atol=1e-12, err_msg=f"lengths={length}")


def test_vmap_equals_python_loop_and_padding_does_not_leak():
    spec = J.CellSpec(peepholes=True)
    with jax.enable_x64(True):
        params, _ = _setup(spec)
        xs = jax.random.normal(jax.random.key(5), (3, T, X), jnp.float64)
        lengths = jnp.array([6, 2, 4])
        for reverse in (False, True):
            run = jax.jit(functools.partial(J.lstm, spec=spec, reverse=reverse))
            finals, hs = jax.vmap(lambda x, n: run(params, x, lengths=n))(xs, lengths)
            garbage = xs.at[:, 4:].set(1e6)  # padding must not reach the valid outputs
            finals_g, hs_g = jax.vmap(lambda x, n: run(params, x, lengths=n))(garbage, jnp.array([4, 2, 4]))
            for b in range(3):
                n = int(lengths[b])
                f_b, hs_b = J.lstm(params, xs[b, :n], spec=spec, reverse=reverse)
                np.testing.assert_allclose(hs[b, :n], hs_b, atol=1e-12)
                np.testing.assert_array_equal(hs[b, n:], 0.0)
                np.testing.assert_allclose(finals.h[b], f_b.h, atol=1e-12)
                np.testing.assert_allclose(finals.c[b], f_b.c, atol=1e-12)
            np.testing.assert_allclose(hs_g[1:, :2], hs[1:, :2], atol=1e-12)
            assert np.all(np.isfinite(hs_g)) and np.all(np.abs(hs_g[:, 4:]) == 0)


def test_reversal_twice_is_identity_on_valid_prefix():
    order = J.valid_prefix_reversal(7, jnp.asarray(4))
    np.testing.assert_array_equal(order, [3, 2, 1, 0, 4, 5, 6])
    np.testing.assert_array_equal(order[order], np.arange(7))


@pytest.mark.parametrize("unroll", [2, 3, T])
def test_unroll_gives_same_result(unroll):
    with jax.enable_x64(True):
        params, xs = _setup(J.CellSpec())
        a = J.lstm(params, xs, lengths=jnp.asarray(5))
        b = J.lstm(params, xs, lengths=jnp.asarray(5), unroll=unroll)
    jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, atol=1e-13), a, b)


@pytest.mark.parametrize("spec", [J.CellSpec(), J.CellSpec(variant="cifg", peepholes=True),
                                  J.CellSpec(variant="peephole_full"), J.CellSpec(variant="shared_preact")],
                         ids=spec_id)
def test_gradients_match_finite_differences(spec):
    with jax.enable_x64(True):
        params, xs = _setup(spec, proj=2 if spec.variant != "peephole_full" else None)

        def loss(params, xs):
            final, hs = J.lstm(params, xs, spec=spec, lengths=jnp.asarray(5), reverse=True)
            return jnp.sum(hs ** 2) + jnp.sum(jnp.sin(final.c))

        # second order (Hessian-vector products) once; first order for every variant
        order = 2 if spec == J.CellSpec() else 1
        check_grads(jax.jit(loss), (params, xs), order=order, modes=["rev"], atol=1e-5,
                    rtol=1e-5)


@pytest.mark.parametrize("layer", ["rnn", "gru"])
def test_baseline_gradients_match_finite_differences(layer):
    with jax.enable_x64(True):
        key = jax.random.key(0)
        params = (J.init_rnn if layer == "rnn" else J.init_gru)(key, X, H, dtype=jnp.float64)
        xs = jax.random.normal(key, (T, X), jnp.float64)
        run = J.rnn if layer == "rnn" else J.gru
        loss = jax.jit(lambda p: jnp.sum(run(p, xs, lengths=jnp.asarray(4))[1] ** 2))
        check_grads(loss, (params,), order=1, modes=["rev"], atol=1e-6, rtol=1e-6)


def test_remat_gives_identical_gradients():
    params, xs = _setup(J.CellSpec())
    loss = lambda p, remat: jnp.sum(J.lstm(p, xs, remat=remat)[1] ** 2)
    g1 = jax.grad(loss)(params, False)
    g2 = jax.grad(loss)(params, True)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7), g1, g2)


def test_twenty_thousand_steps_stay_finite():
    params = J.init_lstm(jax.random.key(0), 2, 8)
    xs = jax.random.normal(jax.random.key(1), (20_000, 2)) * 3.0
    loss = lambda p: jnp.mean(J.lstm(p, xs)[1] ** 2)
    value, grads = jax.jit(jax.value_and_grad(loss))(params)
    assert np.isfinite(value)
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))


def test_return_gates_traces_match_gate_functions():
    spec = J.CellSpec(peepholes=True)
    params, xs = _setup(spec)
    _, (hs, trace) = J.lstm(params, xs, spec=spec, return_gates=True)
    _, hs_plain = J.lstm(params, xs, spec=spec)
    np.testing.assert_allclose(hs, hs_plain)
    state = J.zero_state(params)
    for t in range(T):
        np.testing.assert_allclose(trace.f[t], J.forget_gate(params, state, xs[t], spec), atol=1e-6)
        state, _ = J.cell_step(params, state, xs[t], spec)
        np.testing.assert_allclose(trace.c[t], state.c, atol=1e-6)


def test_stack_dropout_needs_key_and_scales():
    layers = J.init_lstm_stack(jax.random.key(0), X, H, 3)
    xs = jax.random.normal(jax.random.key(1), (T, X))
    _, a = J.lstm_stack(layers, xs, dropout_rate=0.5)
    _, b = J.lstm_stack(layers, xs)
    np.testing.assert_allclose(a, b)  # no key: deterministic (evaluation)
    _, c = J.lstm_stack(layers, xs, dropout_rate=0.5, key=jax.random.key(2))
    _, d = J.lstm_stack(layers, xs, dropout_rate=0.5, key=jax.random.key(3))
    assert not np.allclose(c, b) and not np.allclose(c, d)


def test_bidirectional_is_forward_and_reversed_runs_concatenated():
    fw = J.init_lstm(jax.random.key(0), X, H)
    bw = J.init_lstm(jax.random.key(1), X, H)
    xs = jax.random.normal(jax.random.key(2), (T, X))
    (f_fw, f_bw), hs = J.bidirectional(J.lstm, (fw, bw), xs)
    _, hs_fw = J.lstm(fw, xs)
    f_rev, hs_rev = J.lstm(bw, xs[::-1])
    np.testing.assert_allclose(hs[:, :H], hs_fw, atol=1e-6)
    np.testing.assert_allclose(hs[:, H:], hs_rev[::-1], atol=1e-6)
    np.testing.assert_allclose(f_bw.c, f_rev.c, atol=1e-6)
