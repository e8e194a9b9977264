"""jaxlstm against torch.nn.LSTM / GRU / RNN with copied weights, in float64."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlstm as J
from jaxlstm.interop import from_torch_lstm, to_torch_state_dict, torch_lstm_layout

torch = pytest.importorskip("torch")
TOL = 1e-10


def _torch_run(module, xs, lengths=None):
    """Run a batch-first torch RNN module, packing when lengths are given."""
    x = torch.from_numpy(xs)
    if lengths is None:
        out, state = module(x)
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            x, torch.from_numpy(lengths), batch_first=True, enforce_sorted=False)
        out, state = module(packed)
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=xs.shape[1])
    return out.detach().numpy(), state


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("proj_size", [0, 3])
@pytest.mark.parametrize("packed", [False, True])
def test_lstm_stack_matches_torch(num_layers, bidirectional, proj_size, packed):
    torch.manual_seed(0)
    B, T, X, H = 4, 7, 5, 6
    module = torch.nn.LSTM(X, H, num_layers=num_layers, bidirectional=bidirectional,
                           proj_size=proj_size, batch_first=True).double()
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(B, T, X))
    lengths = np.array([7, 3, 1, 5]) if packed else None
    out_ref, (h_n, c_n) = _torch_run(module, xs, lengths)

    with jax.enable_x64(True):
        layers = from_torch_lstm(module.state_dict(), dtype=jnp.float64)
        run = functools.partial(J.lstm_stack, is_bidirectional=bidirectional)
        if packed:
            finals, hs = jax.vmap(lambda x, n: run(layers, x, lengths=n))(jnp.asarray(xs), jnp.asarray(lengths))
        else:
            finals, hs = jax.vmap(lambda x: run(layers, x))(jnp.asarray(xs))
    np.testing.assert_allclose(hs, out_ref, atol=TOL)
    # torch's h_n: (layers * directions, B, R), layer-major then direction.
    flat = [d for f in finals for d in (f if bidirectional else (f,))]
    np.testing.assert_allclose(np.stack([s.h for s in flat]), h_n.detach().numpy(), atol=TOL)
    np.testing.assert_allclose(np.stack([s.c for s in flat]), c_n.detach().numpy(), atol=TOL)


def test_initial_state_matches_torch():
    torch.manual_seed(1)
    module = torch.nn.LSTM(3, 4, batch_first=True).double()
    xs = np.random.default_rng(1).normal(size=(2, 5, 3))
    h0 = np.random.default_rng(2).normal(size=(1, 2, 4))
    c0 = np.random.default_rng(3).normal(size=(1, 2, 4))
    out_ref, _ = module(torch.from_numpy(xs), (torch.from_numpy(h0), torch.from_numpy(c0)))
    with jax.enable_x64(True):
        (params,) = from_torch_lstm(module, dtype=jnp.float64)
        _, hs = jax.vmap(lambda x, h, c: J.lstm(params, x, J.LSTMState(h, c)))(xs, h0[0], c0[0])
    np.testing.assert_allclose(hs, out_ref.detach().numpy(), atol=TOL)


@pytest.mark.parametrize("kind", ["gru", "rnn"])
def test_baselines_match_torch(kind):
    torch.manual_seed(2)
    B, T, X, H = 3, 6, 4, 5
    cls = torch.nn.GRU if kind == "gru" else torch.nn.RNN
    module = cls(X, H, batch_first=True).double()
    sd = {k: v.detach().numpy() for k, v in module.state_dict().items()}
    xs = np.random.default_rng(0).normal(size=(B, T, X))
    lengths = np.array([6, 2, 4])
    out_ref, h_ref = _torch_run(module, xs, lengths)
    with jax.enable_x64(True):
        if kind == "gru":
            params = J.GRUParams(sd["weight_ih_l0"].T, sd["weight_hh_l0"].T, sd["bias_ih_l0"], sd["bias_hh_l0"])
            layer = J.gru
        else:
            params = J.RNNParams(sd["weight_ih_l0"].T, sd["weight_hh_l0"].T, sd["bias_ih_l0"] + sd["bias_hh_l0"])
            layer = J.rnn
        params = jax.tree.map(jnp.asarray, params)
        h_final, hs = jax.vmap(lambda x, n: layer(params, x, lengths=n))(jnp.asarray(xs), jnp.asarray(lengths))
    np.testing.assert_allclose(hs, out_ref, atol=TOL)
    np.testing.assert_allclose(h_final, h_ref.detach().numpy()[0], atol=TOL)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_state_dict_round_trip(bidirectional):
    module = torch.nn.LSTM(4, 6, num_layers=2, bidirectional=bidirectional, proj_size=2)
    sd = module.state_dict()
    layout = torch_lstm_layout(sd)
    assert layout == dict(num_layers=2, bidirectional=bidirectional, bias=True, proj_size=2)
    back = to_torch_state_dict(from_torch_lstm(sd))
    assert set(back) == set(sd)
    fresh = torch.nn.LSTM(4, 6, num_layers=2, bidirectional=bidirectional, proj_size=2)
    fresh.load_state_dict(back)
    x = torch.randn(3, 5, 4)
    torch.testing.assert_close(fresh(x)[0], module(x)[0], atol=1e-6, rtol=1e-5)


def test_jaxlstm_params_run_in_torch():
    """The other direction: weights made by init_lstm_stack give the same outputs in torch."""
    with jax.enable_x64(True):
        layers = J.init_lstm_stack(jax.random.key(0), 3, 4, 2, dtype=jnp.float64)
        xs = jax.random.normal(jax.random.key(1), (5, 3), jnp.float64)
        _, hs = J.lstm_stack(layers, xs)
    module = torch.nn.LSTM(3, 4, num_layers=2).double()
    module.load_state_dict(to_torch_state_dict(layers))
    out, _ = module(torch.from_numpy(np.array(xs)))
    np.testing.assert_allclose(hs, out.detach().numpy(), atol=TOL)


def test_unknown_state_dict_key_is_named():
    with pytest.raises(ValueError, match="weight_foo"):
        from_torch_lstm({"weight_foo": np.zeros((4, 4))})
