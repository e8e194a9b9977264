"""NNX conventions: the cells inside `flax.nnx.RNN`, dropout switched by `train()` /
`eval()` with 1/(1-p) scaling between layers only, the deprecated `key=` path, and the
documented return order."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jaxlstm as J
from jaxlstm.nn import GRU, GRUCell, LSTM, LSTMCell, LanguageModel
from tests.core.reference import as_numpy, np_lstm

B, T, X, H = 3, 7, 4, 5


def inputs(seed=0):
    return jax.random.normal(jax.random.key(seed), (B, T, X))


def test_lstm_cell_runs_inside_flax_nnx_rnn():
    cell = LSTMCell(X, H, spec=J.CellSpec(peepholes=True), rngs=nnx.Rngs(0))
    xs = inputs()
    rnn = nnx.RNN(cell, return_carry=True)
    (h, c), ys = rnn(xs)                    # the carry is the core's LSTMState(h, c)
    # against the NumPy equations, sequence by sequence
    p = as_numpy(cell.params)
    for b in range(B):
        (h_ref, c_ref), hs_ref = np_lstm(p, np.asarray(xs[b], np.float64), np.zeros(H), np.zeros(H),
                                         cell.spec)
        np.testing.assert_allclose(ys[b], hs_ref, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(h[b], h_ref, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(c[b], c_ref, rtol=1e-5, atol=1e-6)
    # and against the module's own loop with the same parameters
    finals, hs = LSTM.from_params([cell.params], cell.spec)(xs, state_first=True)
    np.testing.assert_allclose(ys, hs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h, finals[0].h, rtol=1e-5, atol=1e-6)


def test_lstm_cell_in_nnx_rnn_with_seq_lengths_ends_at_each_last_step():
    cell = LSTMCell(X, H, rngs=nnx.Rngs(1))
    xs, lengths = inputs(1), jnp.array([7, 3, 5])
    (h, c), ys = nnx.RNN(cell, return_carry=True)(xs, seq_lengths=lengths)
    finals, hs = LSTM.from_params([cell.params])(xs, lengths=lengths, state_first=True)
    np.testing.assert_allclose(h, finals[0].h, rtol=1e-5, atol=1e-6)
    for b, n in enumerate(lengths.tolist()):
        np.testing.assert_allclose(ys[b, :n], hs[b, :n], rtol=1e-5, atol=1e-6)


def test_gru_cell_runs_inside_flax_nnx_rnn():
    cell = GRUCell(X, H, rngs=nnx.Rngs(2))
    xs = inputs(2)
    h, ys = nnx.RNN(cell, return_carry=True)(xs)
    gru = GRU(X, H, rngs=nnx.Rngs(0))
    gru.forward_cells[0]._store(cell.params)
    finals, hs = gru(xs, state_first=True)
    np.testing.assert_allclose(ys, hs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h, finals[0], rtol=1e-5, atol=1e-6)


def two_layer(p, **kw):
    return LSTM(X, H, num_layers=2, dropout=p, rngs=nnx.Rngs(params=0, dropout=1), **kw)


def test_dropout_is_off_under_eval_and_on_under_train():
    model, xs = two_layer(0.5), inputs()
    no_dropout = LSTM.from_params(model.layer_params(), dropout=0.0)
    _, reference = no_dropout(xs, state_first=True)
    model.eval()
    _, a = model(xs, state_first=True)
    _, b = model(xs, state_first=True)
    np.testing.assert_array_equal(a, reference)
    np.testing.assert_array_equal(b, reference)
    model.train()
    _, c = model(xs, state_first=True)
    _, d = model(xs, state_first=True)       # the module's stream gives a new mask each call
    assert np.abs(c - reference).max() > 1e-3 and np.abs(c - d).max() > 1e-3
    _, e = model(xs, state_first=True, deterministic=True)
    np.testing.assert_array_equal(e, reference)


def test_dropout_scales_kept_units_by_one_over_keep_probability_between_layers_only():
    p, key, xs = 0.25, jax.random.key(7), inputs(3)
    model = two_layer(p)
    first, second = model.layer_params()
    _, h1 = LSTM.from_params([first])(xs, state_first=True)
    # the mask of the only place dropout applies, between layer 1 and 2 (nnx.Dropout draws
    # bernoulli(keep probability) with the key the stack gives layer 2)
    keep = jax.random.bernoulli(jax.random.fold_in(key, 1), 1.0 - p, h1.shape)
    layer2 = LSTM.from_params([second])
    _, scaled = layer2(jnp.where(keep, h1 / (1.0 - p), 0.0), state_first=True)
    _, unscaled = layer2(jnp.where(keep, h1, 0.0), state_first=True)
    _, got = model(xs, rngs=key, state_first=True)
    np.testing.assert_allclose(got, scaled, rtol=1e-6, atol=1e-7)   # and nothing after layer 2
    assert np.abs(got - unscaled).max() > 1e-3
    assert 0.15 < 1.0 - float(keep.mean()) < 0.35                    # about p of the units dropped


def test_no_dropout_after_the_last_layer():
    model = LSTM(X, H, num_layers=1, dropout=0.5, rngs=nnx.Rngs(params=0, dropout=1))
    xs = inputs(4)
    model.train()
    _, trained = model(xs, state_first=True)
    _, evaluated = model(xs, state_first=True, deterministic=True)
    np.testing.assert_array_equal(trained, evaluated)


def test_deprecated_key_argument_still_works_and_warns():
    model, xs, key = two_layer(0.5), inputs(5), jax.random.key(3)
    _, want = model(xs, rngs=key, state_first=True)
    with pytest.warns(DeprecationWarning, match="key= is deprecated"):
        _, got = model(xs, key=key, state_first=True)
    np.testing.assert_array_equal(got, want)
    with pytest.warns(DeprecationWarning):
        _, got_eval = model(xs, key=None, state_first=True)   # key=None meant evaluation
    np.testing.assert_array_equal(got_eval, model(xs, deterministic=True, state_first=True)[1])


def test_task_models_follow_train_and_eval():
    lm = LanguageModel(11, embed_dim=4, hidden_size=H, num_layers=2, dropout=0.5,
                       rngs=nnx.Rngs(params=0, dropout=1))
    tokens = jnp.arange(12).reshape(2, 6) % 11
    lm.eval()
    a, _ = lm(tokens)
    b, _ = lm(tokens)
    np.testing.assert_array_equal(a, b)
    lm.train()
    c, _ = lm(tokens)
    assert np.abs(a - c).max() > 1e-4


def test_return_order_is_the_cores_and_the_old_order_is_deprecated():
    model, xs = LSTM(X, H, rngs=nnx.Rngs(0)), inputs(6)
    finals, hs = model(xs)
    core_final, core_hs = jax.vmap(lambda x: J.lstm(model.layer_params()[0], x))(xs)
    np.testing.assert_allclose(hs, core_hs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(finals[0].h, core_final.h, rtol=1e-5, atol=1e-6)
    with pytest.warns(DeprecationWarning, match=r"state_first=False\) returns the old order"):
        old_hs, old_finals = model(xs, state_first=False)
    np.testing.assert_array_equal(old_hs, hs)
    np.testing.assert_array_equal(old_finals[0].h, finals[0].h)