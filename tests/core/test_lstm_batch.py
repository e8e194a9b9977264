"""`lstm_batch` (= `jax.vmap(lstm)`, the fused backends) against JAX's own autodiff of the scan.

The reference gradients come from differentiating the plain scan (`lstm(...,
backend="reference")` under `vmap`), which shares nothing with the fused backends'
hand-written backward passes;
`check_grads` adds finite differences, and `tests/nn` checks the modules (which
run `lstm_batch`) against `torch.nn.LSTM`.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import jaxlstm as J
from jaxlstm.core.backends.xla_fused import layout_for
from jaxlstm.core.dispatch import standard_cell_reason
from tests.core.reference import as_numpy, np_lstm, np_step

B, T, X, H = 3, 7, 4, 5
LENGTHS = (7, 3, 0)


def _setup(dtype=jnp.float64, spec=J.CellSpec(), proj=None):
    keys = jax.random.split(jax.random.key(0), 5)
    params = J.init_lstm(keys[0], X, H, spec, proj_size=proj, dtype=dtype)
    params = params._replace(b=params.b + 0.3 * jax.random.normal(keys[1], params.b.shape, dtype))
    xs = jax.random.normal(keys[2], (B, T, X), dtype)
    out = proj or H
    state0 = J.LSTMState(jax.random.normal(keys[3], (B, out), dtype),
                         jax.random.normal(keys[4], (B, H), dtype))
    return params, xs, state0


def _loss(layer, params, xs, state0, **kwargs):
    final, hs = layer(params, xs, state0, **kwargs)
    return jnp.sum(jnp.sin(hs)) + jnp.sum(final.h ** 2) + jnp.sum(jnp.cos(final.c))


reference = J.vmap_layer(functools.partial(J.lstm, backend="reference"))


def _outputs_and_gradients(layer, params, xs, state0, **kwargs):
    """((loss, (final, hs)), grads w.r.t. params, xs, state0) in one compiled call."""
    def loss(params, xs, state0):
        final, hs = layer(params, xs, state0, **kwargs)
        return jnp.sum(jnp.sin(hs)) + jnp.sum(final.h ** 2) + jnp.sum(jnp.cos(final.c)), (final, hs)
    return jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))(params, xs, state0)


@pytest.mark.parametrize("lengths, reverse, with_state, unroll", [
    (None, False, False, 1), (None, True, True, 1), (LENGTHS, False, True, 1),
    (LENGTHS, True, False, 1), (LENGTHS, True, True, 3)])
def test_fused_outputs_and_gradients_equal_autodiff_of_the_scan(lengths, reverse, with_state, unroll):
    with jax.enable_x64(True):
        params, xs, state0 = _setup()
        state0 = state0 if with_state else None
        kw = dict(lengths=None if lengths is None else jnp.asarray(lengths), reverse=reverse,
                  unroll=unroll)
        got = _outputs_and_gradients(J.lstm_batch, params, xs, state0, **kw)
        want = _outputs_and_gradients(reference, params, xs, state0, **kw)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12), got, want)


# The three forms of the backward pass: feature-major (8 <= B < H); batch-major with B >= 8, which
# accumulates the weight gradients in the loop; batch-major with B < 8, which stacks dZ (the
# module-level B = 3 of the other tests).
@pytest.mark.parametrize("batch, hidden, feature_major", [(8, 9, True), (9, 8, False)])
def test_both_loop_layouts_equal_autodiff_of_the_scan(batch, hidden, feature_major):
    assert layout_for(batch, hidden).feature_major == feature_major
    assert not layout_for(3, 5).feature_major  # B <= 4: batch-major
    with jax.enable_x64(True):
        keys = jax.random.split(jax.random.key(1), 4)
        params = J.init_lstm(keys[0], X, hidden, dtype=jnp.float64)
        xs = jax.random.normal(keys[1], (batch, T, X), jnp.float64)
        state0 = J.LSTMState(*jax.random.normal(keys[2], (2, batch, hidden), jnp.float64))
        lengths = jax.random.randint(keys[3], (batch,), 0, T + 1)
        kw = dict(lengths=lengths, reverse=True)
        got = _outputs_and_gradients(J.lstm_batch, params, xs, state0, **kw)
        want = _outputs_and_gradients(reference, params, xs, state0, **kw)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12), got, want)


@pytest.mark.parametrize("order", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_fused_gradients_match_finite_differences(order):
    with jax.enable_x64(True):
        params, xs, state0 = _setup()
        loss = functools.partial(_loss, J.lstm_batch, lengths=jnp.asarray(LENGTHS), reverse=True)
        check_grads(jax.jit(loss), (params, xs, state0), order=order, modes=["rev"], atol=1e-6,
                    rtol=1e-6)


@pytest.mark.slow
def test_in_loop_weight_gradients_match_finite_differences_to_second_order():
    batch, hidden = 9, 4  # batch-major, B >= 8: the backward accumulates the weight gradients
    assert not layout_for(batch, hidden).feature_major
    with jax.enable_x64(True):
        keys = jax.random.split(jax.random.key(2), 4)
        params = J.init_lstm(keys[0], X, hidden, dtype=jnp.float64)
        xs = jax.random.normal(keys[1], (batch, 4, X), jnp.float64)
        state0 = J.LSTMState(*jax.random.normal(keys[2], (2, batch, hidden), jnp.float64))
        lengths = jax.random.randint(keys[3], (batch,), 0, 5)
        loss = functools.partial(_loss, J.lstm_batch, lengths=lengths)
        check_grads(jax.jit(loss), (params, xs, state0), order=2, modes=["rev"], atol=1e-6,
                    rtol=1e-6)


def test_fused_float32_matches_within_rounding():
    params, xs, state0 = _setup(jnp.float32)
    got = jax.grad(functools.partial(_loss, J.lstm_batch))(params, xs, state0)
    want = jax.grad(functools.partial(_loss, reference))(params, xs, state0)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5), got, want)


@pytest.mark.parametrize("case", ["peepholes", "proj", "cifg", "remat", "compute_dtype",
                                  "return_gates"])
def test_other_variants_and_options_run_vmap_of_lstm(case):
    """lstm_batch with lengths, for the cases the fused backends do not take, against the
    NumPy equations of tests/core/reference.py run on each sequence alone (bfloat16 matmuls
    within bfloat16 rounding; with return_gates, the per-step gates and cell state too)."""
    spec = {"peepholes": J.CellSpec(peepholes=True), "cifg": J.CellSpec(variant="cifg")}.get(
        case, J.CellSpec())
    params, xs, state0 = _setup(jnp.float32, spec, proj=2 if case == "proj" else None)
    kw = {"remat": dict(remat=True), "compute_dtype": dict(compute_dtype=jnp.bfloat16),
          "return_gates": dict(return_gates=True)}.get(case, {})
    final, hs = J.lstm_batch(params, xs, state0, spec=spec, lengths=jnp.asarray(LENGTHS), **kw)
    tol = dict(rtol=3e-2, atol=3e-2) if case == "compute_dtype" else dict(rtol=1e-5, atol=1e-5)
    p = as_numpy(params)
    x64, h0, c0 = (np.asarray(a, np.float64) for a in (xs, state0.h, state0.c))
    for b, n in enumerate(LENGTHS):
        (h, c), want_hs = np_lstm(p, x64[b], h0[b], c0[b], spec, length=n)
        np.testing.assert_allclose(final.h[b], h, **tol)
        np.testing.assert_allclose(final.c[b], c, **tol)
        got_hs = hs[0] if case == "return_gates" else hs
        np.testing.assert_allclose(got_hs[b, :n], want_hs[:n], **tol)
        if case == "return_gates":
            hh, cc = h0[b], c0[b]
            for t in range(n):
                hh, cc, (i, f, g, o) = np_step(p, hh, cc, x64[b, t], spec)
                for name, want in zip("ifgoc", (i, f, g, o, cc)):
                    np.testing.assert_allclose(getattr(hs[1], name)[b, t], want, **tol,
                                               err_msg=f"gate {name} of sequence {b} at step {t}")


def test_fused_backends_only_for_the_standard_cell():
    params, _, _ = _setup(jnp.float32)
    assert standard_cell_reason(J.CellSpec(forget_bias=3.0), params) is None
    assert "not the standard cell" in standard_cell_reason(J.CellSpec(peepholes=True), params)
    assert "not the standard cell" in standard_cell_reason(
        J.CellSpec(cell_activation="identity"), params)
    proj_params, _, _ = _setup(jnp.float32, proj=2)
    assert "projection" in standard_cell_reason(J.CellSpec(), proj_params)


def test_vmap_over_an_ensemble_of_weights_gives_each_members_gradient():
    params, xs, _ = _setup(jnp.float32)
    ensemble = jax.tree.map(lambda a: jnp.stack([a, 0.5 * a]), params)
    loss = lambda p: jnp.sum(J.lstm_batch(p, xs)[1] ** 2)  # noqa: E731
    got = jax.vmap(jax.grad(loss))(ensemble)
    for k in range(2):
        member = jax.tree.map(lambda a: a[k], ensemble)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a[k], b, rtol=1e-5, atol=1e-6),
                     got, jax.grad(loss)(member))


def test_forward_mode_on_the_fused_path_equals_the_independent_reference():
    params, xs, _ = _setup(jnp.float32)
    _, want = jax.linearize(lambda x: reference(params, x)[1], xs)
    for backend in (None, "reference"):
        _, tangent = jax.jvp(lambda x: J.lstm_batch(params, x, backend=backend)[1], (xs,), (xs,))
        np.testing.assert_allclose(tangent, want(xs), atol=1e-6)


@pytest.mark.parametrize("call, match", [
    (lambda p, xs: J.lstm_batch(p, xs[0]), r"xs must have shape \(B, T, X\) \(rank 3\)"),
    (lambda p, xs: J.lstm_batch(p, xs[..., :2]), r"xs must have shape \(B, T, input_size=4\)"),
    (lambda p, xs: J.lstm_batch(p, xs, lengths=jnp.asarray([1, 2])),
     r"lengths must have shape \(3,\)"),
    (lambda p, xs: J.lstm_batch(p, xs, J.zero_state(p)), r"state0 must have leaf shapes"),
])
def test_bad_input_is_named(call, match):
    params, xs, _ = _setup(jnp.float32)
    with pytest.raises((ValueError, TypeError), match=match):
        call(params, xs)


def test_jacrev_of_lstm_batch_equals_central_differences_of_the_numpy_reference():
    """jax.jacrev of the outputs hs (B, T, H) w.r.t. the inputs xs (B, T, X), float64, with
    lengths, against the Jacobian of tests/core/reference.py's NumPy LSTM by central
    differences (step 1e-6), column by column."""
    with jax.enable_x64(True):
        params, xs, state0 = _setup()
        lengths = jnp.asarray(LENGTHS)
        jac = jax.jit(jax.jacrev(lambda x: J.lstm_batch(params, x, state0, lengths=lengths)[1]))(xs)
        assert jac.shape == (B, T, H, B, T, X)
        p, x0 = as_numpy(params), np.asarray(xs)
        h0, c0 = np.asarray(state0.h), np.asarray(state0.c)

        def numpy_hs(x):
            return np.stack([np_lstm(p, x[b], h0[b], c0[b], J.CellSpec(), length=n)[1]
                             for b, n in enumerate(LENGTHS)])

        eps = 1e-6
        for index in np.ndindex(*x0.shape):
            up, down = x0.copy(), x0.copy()
            up[index] += eps
            down[index] -= eps
            column = (numpy_hs(up) - numpy_hs(down)) / (2 * eps)
            np.testing.assert_allclose(jac[(...,) + index], column, rtol=1e-6, atol=1e-8,
                                       err_msg=f"d hs / d xs{index}")


@pytest.mark.parametrize("batch, hidden", [(3, 5), (2, 127)])
def test_per_example_gradients_by_vmap_of_grad_off_the_kernel_equal_a_loop(batch, hidden):
    """vmap(grad) over examples at sizes the oneDNN kernel does not take (B < 8 or H < 128:
    the XLA path) against jax.grad of the reference scan run on one example at a time."""
    keys = jax.random.split(jax.random.key(batch * hidden), 4)
    params = J.init_lstm(keys[0], X, hidden)
    xs = jax.random.normal(keys[1], (batch, T, X))
    lengths = jax.random.randint(keys[2], (batch,), 1, T + 1)

    def loss(p, x, n, backend=None):
        final, hs = J.lstm(p, x, lengths=n, backend=backend)
        return jnp.sum(jnp.sin(hs)) + jnp.sum(final.c ** 2)

    got = jax.jit(jax.vmap(jax.grad(loss), in_axes=(None, 0, 0)))(params, xs, lengths)
    one_example = jax.jit(jax.grad(functools.partial(loss, backend="reference")))
    for b in range(batch):
        want = one_example(params, xs[b], lengths[b])
        jax.tree.map(lambda g, w: np.testing.assert_allclose(g[b], w, rtol=2e-5, atol=2e-6,
                                                             err_msg=f"example {b}"), got, want)
