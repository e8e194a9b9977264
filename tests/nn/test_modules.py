"""The NNX modules against the core functions, Flax's own LSTM and PyTorch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jaxlstm as J
from jaxlstm.nn import LSTM, GRU, RNN, LSTMCell, SequenceClassifier, SequenceRegressor, LanguageModel

B, T, X, H = 3, 6, 4, 5
LENGTHS = jnp.array([6, 2, 4])


def _xs(key=0):
    return jax.random.normal(jax.random.key(key), (B, T, X))


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("spec", [J.CellSpec(), J.CellSpec(variant="cifg", peepholes=True)])
def test_lstm_module_equals_core_stack(bidirectional, spec):
    m = LSTM(X, H, num_layers=2, bidirectional=bidirectional, spec=spec, proj_size=3, rngs=nnx.Rngs(0))
    run = nnx.jit(lambda module, x, n: module(x, lengths=n))
    finals, hs = run(m, _xs(), LENGTHS)
    layers = m.layer_params()
    ref_finals, ref_hs = jax.jit(jax.vmap(
        lambda x, n: J.lstm_stack(layers, x, spec=spec, lengths=n,
                                  is_bidirectional=bidirectional)))(_xs(), LENGTHS)
    np.testing.assert_allclose(hs, ref_hs, atol=1e-6)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), finals, ref_finals)
    # Round trip through the core parameters, without copying logic.
    m2 = LSTM.from_params(layers, spec)
    np.testing.assert_allclose(run(m2, _xs(), LENGTHS)[1], hs, atol=1e-6)
    assert m.out_features == 3 * (2 if bidirectional else 1) == hs.shape[-1]


def test_lstm_matches_flax_optimized_lstm_cell():
    cell = LSTMCell(X, H, rngs=nnx.Rngs(0))
    flax_cell = nnx.OptimizedLSTMCell(X, H, rngs=nnx.Rngs(1))
    flax_cell.dense_i.kernel[...] = cell.w_x[...]
    flax_cell.dense_h.kernel[...] = cell.w_h[...]
    flax_cell.dense_h.bias[...] = cell.b[...]
    flax_rnn = nnx.RNN(flax_cell, return_carry=True)
    (c_ref, h_ref), hs_ref = flax_rnn(_xs(), seq_lengths=LENGTHS)
    module = LSTM.from_params([cell.params])
    (final,), hs = module(_xs(), lengths=LENGTHS)
    for b, n in enumerate(np.asarray(LENGTHS)):
        np.testing.assert_allclose(hs[b, :n], hs_ref[b, :n], atol=1e-5)
    np.testing.assert_allclose(final.h, h_ref, atol=1e-5)
    np.testing.assert_allclose(final.c, c_ref, atol=1e-5)


def test_lstm_from_torch_module():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    t = torch.nn.LSTM(X, H, num_layers=2, bidirectional=True, batch_first=True)
    xs = np.array(_xs())
    out, _ = t(torch.from_numpy(xs))
    _, hs = LSTM.from_torch(t)(jnp.asarray(xs))
    np.testing.assert_allclose(hs, out.detach().numpy(), atol=1e-5)


@pytest.mark.parametrize("cls,layer", [(GRU, J.gru), (RNN, J.rnn)])
def test_baseline_modules_equal_core(cls, layer):
    m = cls(X, H, rngs=nnx.Rngs(0))
    (final,), hs = m(_xs(), lengths=LENGTHS)
    (params,) = m.layer_params()
    ref_final, ref_hs = jax.vmap(lambda x, n: layer(params, x, lengths=n))(_xs(), LENGTHS)
    np.testing.assert_allclose(hs, ref_hs, atol=1e-6)
    np.testing.assert_allclose(final, ref_final, atol=1e-6)


def test_initial_state_in_final_state_out_chains_chunks():
    """Running T steps at once == two chunks with the state carried (truncated BPTT)."""
    m = LSTM(X, H, num_layers=2, rngs=nnx.Rngs(0))
    finals, hs = m(_xs())
    mid, hs1 = m(_xs()[:, :2])
    finals2, hs2 = m(_xs()[:, 2:], initial_state=mid)
    np.testing.assert_allclose(jnp.concatenate([hs1, hs2], 1), hs, atol=1e-6)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), finals2, finals)


def test_dropout_only_in_training_mode_and_per_example_masks():
    m = LSTM(X, H, num_layers=3, dropout=0.5, rngs=nnx.Rngs(0))
    xs = jnp.broadcast_to(_xs()[:1], (B, T, X))  # identical examples
    m.eval()
    _, a = m(xs, state_first=True)
    _, b = m(xs, state_first=True)
    np.testing.assert_array_equal(a, b)
    m.train()
    _, c = m(xs, rngs=jax.random.key(1), state_first=True)
    assert not np.allclose(c, a)
    assert not np.allclose(c[0], c[1])  # each example gets its own mask


def test_gate_traces_match_core_return_gates():
    m = LSTM(X, H, num_layers=2, rngs=nnx.Rngs(0))
    x = _xs()[0]
    traces = m.gate_traces(x)
    _, (hs0, t0) = J.lstm(m.forward_cells[0].params, x, return_gates=True)
    np.testing.assert_allclose(traces[0].f, t0.f, atol=1e-6)
    _, (_, t1) = J.lstm(m.forward_cells[1].params, hs0, return_gates=True)
    np.testing.assert_allclose(traces[1].c, t1.c, atol=1e-6)


def test_classifier_reads_each_sequence_last_valid_step():
    m = SequenceClassifier(2, in_features=X, hidden_size=H, bidirectional=True, rngs=nnx.Rngs(0))
    feats = m.features(_xs(), lengths=LENGTHS)
    for b, n in enumerate(np.asarray(LENGTHS)):
        one = m.features(_xs()[b:b + 1, :n])
        np.testing.assert_allclose(feats[b], one[0], atol=1e-5)
    assert m(_xs(), lengths=LENGTHS).shape == (B, 2)


def test_model_shapes_and_jit():
    lm = LanguageModel(11, embed_dim=4, hidden_size=H, rngs=nnx.Rngs(0))
    logits, _ = nnx.jit(lambda m, t: m(t))(lm, jnp.zeros((B, T), jnp.int32))
    assert logits.shape == (B, T, 11)
    reg = SequenceRegressor(X, 2, hidden_size=H, cell="gru", rngs=nnx.Rngs(0))
    assert reg(_xs(), lengths=LENGTHS).shape == (B, 2)


BAD = [
    (lambda m: m(jnp.ones((T, X))), r"xs must have shape \(B, T, X\) \(rank 3\), got shape \(6, 4\)"),
    (lambda m: m(jnp.ones((B, T, X + 1))), r"xs must have shape \(B, T, in_features=4\), got shape \(3, 6, 5\)"),
    (lambda m: m(_xs(), lengths=jnp.array([1, 2])), r"lengths must have shape \(3,\)"),
    (lambda m: m(_xs(), lengths=jnp.array([1, 2, 9])), r"lengths must lie in \[0, T=6\]"),
    (lambda m: m(_xs(), initial_state=m.initial_state(2)), "initial_state must match"),
]


@pytest.mark.parametrize("call,message", BAD)
def test_module_errors_are_clear(call, message):
    m = LSTM(X, H, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=message):
        call(m)


def test_unknown_cell_and_bad_dropout():
    from jaxlstm.nn import make_encoder

    with pytest.raises(ValueError, match=r"cell must be one of \['lstm', 'gru', 'rnn', 'mingru', 'minlstm', 'mlstm', 'slstm', 'paragru', 'paralstm', 'xlstm'\], got 'tcn'"):
        make_encoder("tcn", X, H, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\), got 1.0"):
        LSTM(X, H, dropout=1.0, rngs=nnx.Rngs(0))
