"""Edge cases of the core: empty sequences, empty features, bad parameters and states,
dtype promotion under x64, plain `jax.jit`, and the cell-family table.

References: hand-computed values (the initial state for T = 0; an input-free LSTM for
X = 0, computed with NumPy below) and the reference scan (`backend="reference"`).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlstm as J
from jaxlstm.core import dispatch


def _batch(fn, xs, *args):
    return jax.vmap(fn)(xs, *args)


@pytest.mark.parametrize("batch", [1, 8])
def test_no_steps_return_the_initial_state_and_no_outputs(batch):
    params = J.init_lstm(jax.random.key(0), 3, dispatch.MIN_HIDDEN)  # kernel-sized when batch=8
    h0 = jnp.full((batch, dispatch.MIN_HIDDEN), 0.5)
    c0 = jnp.full((batch, dispatch.MIN_HIDDEN), -2.0)
    xs = jnp.zeros((batch, 0, 3))
    (h, c), hs = jax.vmap(lambda x, s: J.lstm(params, x, s))(xs, J.LSTMState(h0, c0))
    assert hs.shape == (batch, 0, dispatch.MIN_HIDDEN)
    np.testing.assert_array_equal(h, h0)
    np.testing.assert_array_equal(c, c0)
    grads = jax.grad(lambda s: jnp.sum(jax.vmap(lambda x, s: J.lstm(params, x, s)[0].c)(xs, s)))(
        J.LSTMState(h0, c0))
    np.testing.assert_array_equal(grads.c, np.ones_like(c0))


def _numpy_lstm_without_inputs(w_h, b, steps):
    """h_t, c_t of an LSTM whose inputs have no features: z_t = h_{t-1}·w_h + b."""
    hidden = w_h.shape[0]
    h, c, hs = np.zeros(hidden), np.zeros(hidden), []
    sig = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731
    for _ in range(steps):
        z = h @ w_h + b
        i, f, g, o = sig(z[:hidden]), sig(z[hidden:2 * hidden]), np.tanh(z[2 * hidden:3 * hidden]), \
            sig(z[3 * hidden:])
        c = f * c + i * g
        h = o * np.tanh(c)
        hs.append(h)
    return np.stack(hs), h, c


@pytest.mark.parametrize("batch", [None, 8])
def test_no_input_features_run_the_recurrence_alone(batch):
    hidden = dispatch.MIN_HIDDEN
    w_h = np.asarray(jax.random.normal(jax.random.key(1), (hidden, 4 * hidden))) * 0.1
    b = np.asarray(jax.random.normal(jax.random.key(2), (4 * hidden,)))
    params = J.LSTMParams(jnp.zeros((0, 4 * hidden)), jnp.asarray(w_h, jnp.float32),
                          jnp.asarray(b, jnp.float32))
    want_hs, want_h, want_c = _numpy_lstm_without_inputs(w_h, b, 5)
    if batch is None:
        (h, c), hs = J.lstm(params, jnp.zeros((5, 0)))
    else:
        (h, c), hs = jax.vmap(lambda x: J.lstm(params, x))(jnp.zeros((batch, 5, 0)))
        hs, h, c = hs[-1], h[-1], c[-1]
        assert "X=0" in J.explain(params, jnp.zeros((batch, 5, 0))).reason
    np.testing.assert_allclose(hs, want_hs, atol=1e-5)
    np.testing.assert_allclose(h, want_h, atol=1e-5)
    np.testing.assert_allclose(c, want_c, atol=1e-5)


def test_zero_hidden_size_is_a_named_error():
    with pytest.raises(ValueError, match="hidden_size must be a positive int, got 0"):
        J.init_lstm(jax.random.key(0), 3, 0)
    empty = J.LSTMParams(jnp.zeros((3, 0)), jnp.zeros((0, 0)), jnp.zeros((0,)))
    with pytest.raises(ValueError, match=r"hidden_size > 0.*got w_h of shape \(0, 0\)"):
        J.lstm(empty, jnp.zeros((4, 3)))


@pytest.mark.parametrize("batch", [3, 8])
def test_parameters_of_another_variant_are_named_at_every_batch_size(batch):
    cifg = J.init_lstm(jax.random.key(0), 3, 5, J.CellSpec(variant="cifg"))
    xs = jnp.zeros((batch, 4, 3))
    match = r"params.w_x has shape \(3, 15\) but CellSpec\(variant='vanilla'.*expects \(3, 20\)"
    with pytest.raises(ValueError, match=match):
        J.lstm_batch(cifg, xs)
    with pytest.raises(ValueError, match=match):
        jax.vmap(lambda x: J.lstm(cifg, x))(xs)


@pytest.mark.parametrize("layer, params, state0", [
    (J.lstm, J.init_lstm(jax.random.key(0), 3, 5),
     J.LSTMState(jnp.zeros(5, jnp.int32), jnp.zeros(5, jnp.int32))),
    (J.gru, J.init_gru(jax.random.key(0), 3, 5), jnp.zeros(5, jnp.int32)),
    (J.rnn, J.init_rnn(jax.random.key(0), 3, 5), jnp.zeros(5, jnp.int32)),
])
def test_integer_state_is_a_named_error(layer, params, state0):
    with pytest.raises(TypeError, match=r"(state0\.h|h0) must be a floating-point array, got "
                                        r"dtype int32"):
        layer(params, jnp.zeros((4, 3)), state0)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "1.0", True, None])
def test_forget_bias_is_validated(value):
    with pytest.raises(ValueError, match="CellSpec.forget_bias must be a finite real number"):
        J.CellSpec(forget_bias=value)


def test_float64_inputs_with_float32_parameters_promote_on_every_backend():
    """Under jax_enable_x64, jax.random.normal gives float64; the layer computes in the
    promoted dtype (float64) on every backend, and agrees with float64 parameters."""
    with jax.enable_x64(True):
        params32 = J.init_lstm(jax.random.key(0), 3, dispatch.MIN_HIDDEN)
        params64 = jax.tree.map(lambda a: a.astype(jnp.float64), params32)
        xs = jax.random.normal(jax.random.key(1), (8, 6, 3))
        assert xs.dtype == jnp.float64
        for backend in (None, "reference"):
            one = functools.partial(J.lstm, backend=backend)
            (h, c), hs = jax.vmap(lambda x: one(params32, x))(xs)
            assert hs.dtype == h.dtype == c.dtype == jnp.float64
            want = jax.vmap(lambda x: J.lstm(params64, x, backend="reference"))(xs)
            jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12),
                         (J.LSTMState(h, c), hs), want)
            grads = jax.grad(lambda p: jnp.sum(jax.vmap(lambda x: one(p, x))(xs)[1] ** 2))(params32)
            assert grads.w_x.dtype == jnp.float32  # a gradient has its parameter's dtype
        for layer, init in ((J.gru, J.init_gru), (J.rnn, J.init_rnn)):
            h, hs = layer(init(jax.random.key(0), 3, 4), xs[0])
            assert hs.dtype == h.dtype == jnp.float64


@pytest.mark.parametrize("family", ["lstm", "gru", "rnn"])
def test_plain_jit_takes_the_spec_as_an_argument(family):
    fam = J.get_family(family)
    spec = fam.spec_type()
    params = fam.init(jax.random.key(0), 3, 4, spec)
    xs = jax.random.normal(jax.random.key(1), (5, 3))
    got = jax.jit(fam.layer)(params, xs, spec=spec)
    want = fam.layer(params, xs, spec=spec)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), got, want)


def test_jit_recompiles_only_when_the_spec_changes():
    params = J.init_lstm(jax.random.key(0), 3, 4)
    xs = jnp.ones((5, 3))
    traces = []

    @jax.jit
    def run(params, xs, spec):
        traces.append(spec)
        return J.lstm(params, xs, spec=spec)[1]

    a = run(params, xs, J.CellSpec())
    run(params, xs, J.CellSpec())
    b = run(params, xs, J.CellSpec(cell_activation="identity"))
    assert len(traces) == 2
    assert not np.allclose(a, b)


def test_every_family_counts_the_parameters_it_initialises():
    for name, fam in J.FAMILIES.items():
        params = fam.init(jax.random.key(0), 3, 4, fam.spec_type())
        assert fam.param_count(fam.spec_type(), 3, 4) == sum(
            a.size for a in jax.tree.leaves(params)), name
        assert J.family_of(fam.spec_type()) is fam
    with pytest.raises(ValueError, match="cell must be one of"):
        J.get_family("transformer")


def test_backend_argument_is_checked():
    params = J.init_lstm(jax.random.key(0), 3, 4)
    with pytest.raises(ValueError, match=r"backend must be one of \[None, 'reference'\], got 'gpu'"):
        J.lstm(params, jnp.ones((5, 3)), backend="gpu")


def test_explain_says_why_the_reference_runs():
    params = J.init_lstm(jax.random.key(0), 3, 4, J.CellSpec(peepholes=True))
    choice = J.explain(params, jnp.ones((5, 3)), spec=J.CellSpec(peepholes=True))
    assert choice.backend == "reference" and "not the standard cell" in choice.reason
    plain = J.init_lstm(jax.random.key(0), 3, 4)
    assert J.explain(plain, jnp.ones((5, 3)), remat=True).backend == "reference"
    assert J.explain(plain, jnp.ones((5, 3))).backend == "xla_fused"
    on_gpu = J.explain(plain, jnp.ones((2, 5, 3)), platform="gpu")
    assert on_gpu.backend == "xla_fused", on_gpu
    assert "B=2" in on_gpu.reason and on_gpu.reason.endswith("platform gpu (the kernel is CPU-only)"), on_gpu
