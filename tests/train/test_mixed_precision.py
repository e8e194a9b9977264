"""Mixed precision (`compute_dtype`): bf16/fp16 matmuls, float32 parameters and cell state.

Error bounds. A bf16 (fp16) number carries 8 (11) significant bits, unit roundoff
u = 2^-9 ≈ 2.0e-3 (2^-11 ≈ 4.9e-4). Rounding the matmul inputs (x, h, W) perturbs a
pre-activation by about u·Σ|x_k W_kj|, a few u for inputs and weights of order one;
sigmoid and tanh are 1/4- and 1-Lipschitz; the forget gate (< 1) damps what is carried
from earlier steps, and the emitted h is rounded once more (≤ u/2 relative). So the
outputs should differ from float32 by a few u, not growing with T: we allow a relative
RMS error of 10 u (2e-2 for bf16, 5e-3 for fp16), and 25 u for the largest single error.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jaxlstm as J
import jaxlstm.nn as N
from jaxlstm.train import fit, load_config, load_run
from jaxlstm.train.lab.config import ConfigError

UNIT_ROUNDOFF = {jnp.bfloat16: 2.0 ** -9, jnp.float16: 2.0 ** -11}


def _relative_errors(approx, exact):
    approx, exact = np.asarray(approx, np.float64), np.asarray(exact, np.float64)
    rms = np.sqrt(np.mean((approx - exact) ** 2) / np.mean(exact ** 2))
    return rms, np.abs(approx - exact).max() / np.abs(exact).max()


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("layer", ["lstm", "lstmp_peephole", "gru", "rnn"])
def test_forward_stays_close_to_float32(dtype, layer):
    X, H, T = 16, 32, 200
    key = jax.random.key(0)
    xs = jax.random.normal(jax.random.key(1), (T, X))
    if layer.startswith("lstm"):
        spec = J.CellSpec(peepholes=layer != "lstm")
        params = J.init_lstm(key, X, H, spec, proj_size=16 if layer != "lstm" else None)
        run = lambda cd: J.lstm(params, xs, spec=spec, compute_dtype=cd, lengths=jnp.asarray(150))
    else:
        init, fn = (J.init_gru, J.gru) if layer == "gru" else (J.init_rnn, J.rnn)
        params = init(key, X, H)
        run = lambda cd: fn(params, xs, compute_dtype=cd, lengths=jnp.asarray(150))
    final32, hs32 = run(None)
    final_lo, hs_lo = jax.jit(lambda: run(dtype))()
    assert hs_lo.dtype == dtype
    for leaf in jax.tree.leaves(final_lo):  # the carried state (h and the cell state c) is float32
        assert leaf.dtype == jnp.float32
    u = UNIT_ROUNDOFF[dtype]
    rms, worst = _relative_errors(hs_lo, hs32)
    assert rms < 10 * u and worst < 25 * u, (rms, worst)
    assert rms > 0.0  # it really computed in the lower precision
    np.testing.assert_array_equal(np.asarray(hs_lo[150:], np.float32), 0.0)
    for a, b in zip(jax.tree.leaves(final_lo), jax.tree.leaves(final32)):
        assert _relative_errors(a, b)[0] < 10 * u


def test_gradients_are_float32_and_close():
    params = J.init_lstm(jax.random.key(0), 8, 16)
    xs = jax.random.normal(jax.random.key(1), (50, 8))
    loss = lambda p, cd: jnp.mean(J.lstm(p, xs, compute_dtype=cd, remat=7)[1].astype(jnp.float32) ** 2)
    g32 = jax.grad(loss)(params, None)
    g16 = jax.grad(loss)(params, jnp.bfloat16)
    for a, b in zip(jax.tree.leaves(g16), jax.tree.leaves(g32)):
        assert a.dtype == jnp.float32
        # gradients pass through rounded weights and rounded cotangents: allow 20 u
        assert _relative_errors(a, b)[0] < 20 * UNIT_ROUNDOFF[jnp.bfloat16]


def test_module_keeps_float32_parameters_and_outputs():
    model = N.LanguageModel(20, embed_dim=8, hidden_size=16, num_layers=2, compute_dtype="bfloat16",
                            rngs=nnx.Rngs(0))
    logits, finals = model(jnp.ones((2, 12), jnp.int32))
    assert logits.dtype == jnp.float32  # the head reads bf16 features with float32 weights
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(finals))
    assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(nnx.state(model, nnx.Param)))


def test_bad_compute_dtype_is_a_clear_error():
    with pytest.raises(ValueError, match="compute_dtype must be None or a floating dtype.*int8"):
        J.lstm(J.init_lstm(jax.random.key(0), 2, 3), jnp.ones((4, 2)), compute_dtype=jnp.int8)
    with pytest.raises(ConfigError, match="model.compute_dtype"):
        load_config({"task": "char_lm", "model": {"compute_dtype": "float8"}})


def test_bf16_training_run_ends_close_to_float32(tiny_lm):
    summaries = {}
    for dtype in ("float32", "bfloat16"):
        cfg = load_config(tiny_lm, [f"name={dtype}", f"model.compute_dtype={dtype}", "train.steps=40"])
        summaries[dtype] = fit(cfg, quiet=True)
        assert (cfg.run_dir / "summary.json").is_file()
        _, trainer = load_run(cfg.run_dir, which="latest")
        assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(trainer.params))
        assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(trainer.opt_state)
                   if jnp.issubdtype(leaf.dtype, jnp.floating))
    bpc = {k: s["final"]["valid/bpc"] for k, s in summaries.items()}
    assert np.isfinite(list(bpc.values())).all()
    assert bpc["float32"] < summaries["float32"]["baseline"]["unigram_bpc"]  # it learned
    assert abs(bpc["bfloat16"] - bpc["float32"]) < 0.05 * bpc["float32"], bpc
    assert "compute_dtype: bfloat16" in (cfg.run_dir / "config.yaml").read_text()
