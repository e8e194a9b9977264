"""Chunked rematerialisation (`remat=k`): the same values and gradients as the plain scan.

The reference is the scan without remat (itself checked against a NumPy loop in
test_scan.py). Remat only changes what the backward pass stores, so in float64 the
values must agree exactly and the gradients to rounding (the per-chunk sums of the
parameter gradients are added in another order).
"""

import functools
import importlib.util
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jaxlstm as J
import jaxlstm.nn as N

T, X, H, B = 11, 3, 4, 3


def _layer(name):
    """(layer function, params, initial state) of one layer kind, in float64."""
    key = jax.random.key(0)
    if name == "lstm":
        spec = J.CellSpec(peepholes=True)
        params = J.init_lstm(key, X, H, spec, proj_size=2, dtype=jnp.float64)
        state0 = J.LSTMState(jnp.full((B, 2), 0.3), jnp.full((B, H), -0.2))
        return functools.partial(J.lstm, spec=spec), params, state0
    init, run = (J.init_gru, J.gru) if name == "gru" else (J.init_rnn, J.rnn)
    return run, init(key, X, H, dtype=jnp.float64), jnp.full((B, H), 0.3)


def _value_and_grads(layer, remat, params, xs, state0, lengths, reverse, unroll=1):
    """Jitted, vmapped over the batch: ((final, hs), d(loss)/d(params, xs, state0))."""

    def loss(p, x, s0):
        one = lambda x_b, s_b, n_b: layer(p, x_b, s_b, lengths=n_b, reverse=reverse,
                                          unroll=unroll, remat=remat)
        if lengths is None:
            final, hs = jax.vmap(lambda x_b, s_b: one(x_b, s_b, None))(x, s0)
        else:
            final, hs = jax.vmap(one)(x, s0, lengths)
        weights = jnp.cos(jnp.arange(hs.size, dtype=hs.dtype)).reshape(hs.shape)
        value = jnp.sum(weights * hs) + sum(jnp.sum(f ** 2) for f in jax.tree.leaves(final))
        return value, (final, hs)

    (_, outputs), grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))(
        params, xs, state0)
    return outputs, grads


def _assert_same(reference, other, atol):
    for a, b in zip(jax.tree.leaves(reference), jax.tree.leaves(other)):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=0, atol=atol)


# (k, lengths, reverse, unroll): 4 and 2 do not divide T = 11; 16 > T.
CASES = {"lstm": [(4, True, True, 1), (2, False, False, 2)],
         "gru": [(4, True, False, 1), (3, False, True, 1)],
         "rnn": [(16, True, True, 1), (4, False, True, 2)]}


@pytest.mark.parametrize("name", ["lstm", "gru", "rnn"])
def test_chunked_remat_matches_plain_scan(name):
    with jax.enable_x64(True):
        layer, params, state0 = _layer(name)
        xs = jax.random.normal(jax.random.key(1), (B, T, X), jnp.float64)
        for k, with_lengths, reverse, unroll in CASES[name]:
            lengths = jnp.array([T, 6, 0]) if with_lengths else None
            out0, grads0 = _value_and_grads(layer, 0, params, xs, state0, lengths, reverse)
            out_k, grads_k = _value_and_grads(layer, k, params, xs, state0, lengths, reverse, unroll)
            _assert_same(out0, out_k, atol=1e-12)
            _assert_same(grads0, grads_k, atol=1e-12)
            assert np.abs(np.asarray(grads0[1])).max() > 1e-3  # not trivially zero


def test_stacked_bidirectional_module_with_chunked_remat():
    model = N.LSTM(X, H, num_layers=2, bidirectional=True, rngs=nnx.Rngs(0))
    chunked = N.LSTM.from_params(model.layer_params(), remat=4)
    assert chunked.remat == 4
    xs = jax.random.normal(jax.random.key(3), (2, T, X))
    lengths = jnp.array([T, 5])
    # float32; without remat the layers run the fused layer, whose one [x, h]·[w_x; w_h] matmul per step
    # rounds differently from remat's x·w_x + h·w_h
    _assert_same(model(xs, lengths=lengths), chunked(xs, lengths=lengths), atol=1e-6)


def test_remat_off_adds_nothing_and_chunks_nest_one_scan():
    params = J.init_lstm(jax.random.key(0), X, H)
    xs = jnp.ones((12, X))
    plain = str(jax.make_jaxpr(lambda p: J.lstm(p, xs, backend="reference"))(params))
    chunked = str(jax.make_jaxpr(lambda p: J.lstm(p, xs, remat=4))(params))
    assert plain.count("remat") == 0 and plain.count("scan[") == 1
    # an outer scan over 3 chunks whose body is a checkpointed (remat) scan of 4 steps
    assert chunked.count("remat") == 1 and chunked.count("scan[") == 2


@pytest.mark.parametrize("bad", [-1, 2.5, "sqrt", None])
def test_bad_remat_is_a_clear_error(bad):
    params = J.init_lstm(jax.random.key(0), X, H)
    with pytest.raises(ValueError, match="remat must be a bool or an int >= 0"):
        J.lstm(params, jnp.ones((T, X)), remat=bad)
    with pytest.raises(ValueError, match="remat"):
        N.LSTM(X, H, remat=bad, rngs=nnx.Rngs(0))


def test_config_key_model_remat():
    from jaxlstm.train.lab.config import ConfigError, ModelConfig

    assert ModelConfig(remat=128).encoder_kwargs()["remat"] == 128
    assert ModelConfig(remat=True).encoder_kwargs()["remat"] is True
    with pytest.raises(ConfigError, match="model.remat"):
        ModelConfig(remat=-3)


def test_memory_benchmark_quick_mode_shows_a_reduction():
    path = Path(__file__).resolve().parents[2] / "experiments" / "remat_memory.py"
    spec = importlib.util.spec_from_file_location("remat_memory", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.main(["--quick", "--no-timing"])
    by_name = {row["remat"]: row for row in rows}
    assert by_name["none"]["ratio"] == 1.0
    assert by_name[f"k={module.QUICK['chunk']}"]["ratio"] > 1.0
    assert all(row["bytes"] > 0 for row in rows)
