"""NNX modules of the modern cells and the xLSTM blocks; `model.cell` in configs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jaxlstm as J
from jaxlstm.nn import make_encoder
from jaxlstm.nn.modern import ModernRNN
from jaxlstm.nn.xlstm_blocks import XLSTM, block_kinds
from jaxlstm.train.lab.config import ConfigError, load_config
from jaxlstm.train.lab.config_run import fit

LAYERS = {"slstm": J.slstm, "mlstm": J.mlstm, "minlstm": J.minlstm, "mingru": J.mingru}


@pytest.mark.parametrize("family", list(LAYERS))
def test_bidirectional_stack_equals_core_layers(family):
    heads = 2 if family in ("slstm", "mlstm") else 1
    spec_type = J.FAMILIES[family].spec_type
    spec = spec_type(num_heads=heads) if heads > 1 else spec_type()
    enc = ModernRNN(family, 3, 4, spec=spec, num_layers=2, bidirectional=True, rngs=nnx.Rngs(0))
    xs = jax.random.normal(jax.random.key(1), (2, 5, 3))
    lengths = jnp.asarray([5, 3])
    finals, hs = nnx.jit(lambda m, x, n: m(x, lengths=n))(enc, xs, lengths)
    assert hs.shape == (2, 5, 8) and enc.out_features == 8
    layer = LAYERS[family]
    params = [(enc.forward_cells[k].params, enc.backward_cells[k].params) for k in range(2)]

    @jax.jit
    @jax.vmap
    def by_hand(x, n):  # the core layers, one sequence
        for fw, bw in params:
            _, h_fw = layer(fw, x, spec=spec, lengths=n)
            _, h_bw = layer(bw, x, spec=spec, lengths=n, reverse=True)
            x = jnp.concatenate([h_fw, h_bw], -1)
        return x

    np.testing.assert_allclose(hs, by_hand(xs, lengths), atol=1e-5)


@pytest.mark.parametrize("make", [
    lambda: ModernRNN("mingru", 3, 4, num_layers=2, dropout=0.5, rngs=nnx.Rngs(0)),
    lambda: XLSTM(3, 8, num_blocks=2, ratio="1:1", num_heads=2, dropout=0.5, rngs=nnx.Rngs(0))])
def test_dropout_follows_train_and_eval(make):
    """NNX convention: a new module trains (dropout on, masks from its Rngs); eval() turns
    dropout off, so outputs repeat; train() turns it back on."""
    enc = make()
    xs = jnp.ones((2, 4, 3))
    run = nnx.jit(lambda m, x: m(x, state_first=False)[0])
    a = run(enc, xs)
    assert not np.allclose(a, run(enc, xs))  # fresh masks each call
    enc.eval()
    b = run(enc, xs)
    np.testing.assert_array_equal(b, run(enc, xs))
    enc.train()
    assert not np.allclose(b, run(enc, xs))


@pytest.mark.parametrize("num_blocks, ratio, kinds", [
    (8, "7:1", ["mlstm"] * 7 + ["slstm"]), (3, "1:1", ["mlstm", "slstm", "mlstm"]),
    (2, "0:1", ["slstm", "slstm"])])
def test_block_ratio(num_blocks, ratio, kinds):
    assert block_kinds(num_blocks, ratio) == kinds


def test_xlstm_model_runs_masks_and_errors():
    model = XLSTM(3, 8, num_blocks=2, ratio="1:1", num_heads=2, rngs=nnx.Rngs(0))
    xs = jax.random.normal(jax.random.key(0), (2, 6, 3))
    run = nnx.jit(lambda m, x, n: m(x, lengths=n))
    finals, hs = run(model, xs, jnp.asarray([6, 2]))
    assert hs.shape == (2, 6, 8) and len(finals) == 2
    np.testing.assert_array_equal(hs[1, 2:], 0.0)
    # causal: the first 2 outputs of a sequence do not depend on what follows
    _, hs2 = run(model, xs.at[1, 2:].set(9.0), jnp.asarray([6, 2]))
    np.testing.assert_allclose(hs2[1], hs[1], atol=1e-6)
    with pytest.raises(ValueError, match=r"ratio must be 'm:s'.*got '7-1'"):
        XLSTM(3, 8, ratio="7-1", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"divisible by num_heads=3, got 8"):
        XLSTM(3, 8, num_heads=3, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"bidirectional is not an option of cell='xlstm'"):
        make_encoder("xlstm", 3, 8, bidirectional=True, rngs=nnx.Rngs(0))


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"model.mode: must be one of \['auto', 'sequential', "
                                          r"'parallel', 'newton', 'quasi_newton'\], got 'chunkwise'"):
        load_config({"model": {"cell": "minlstm", "mode": "chunkwise"}})
    with pytest.raises(ConfigError, match=r"model.hidden_size/model.num_heads: hidden_size must be "
                                          r"divisible by MLSTMSpec.num_heads=4, got hidden_size=10"):
        load_config({"model": {"cell": "mlstm", "hidden_size": 10, "num_heads": 4}})
    with pytest.raises(ConfigError, match=r"model.ratio"):
        load_config({"model": {"cell": "xlstm", "ratio": "x"}})
    with pytest.raises(ConfigError, match=r"model.cell: must be one of"):
        load_config({"model": {"cell": "xlstm2"}})


# One cell in the default suite; the others, each a few seconds of compiling, in the slow tier.
@pytest.mark.parametrize("cell", ["mlstm", *(pytest.param(c, marks=pytest.mark.slow)
                                             for c in ["slstm", "minlstm", "mingru", "xlstm"])])
def test_char_lm_config_trains_a_few_steps(cell, tmp_path, text_file):
    cfg = load_config({
        "name": cell, "task": "char_lm", "out_dir": str(tmp_path),
        "model": {"cell": cell, "hidden_size": 8, "embed_dim": 8, "num_layers": 1,
                  "num_heads": 1 if cell in ("minlstm", "mingru") else 2},
        "optim": {"learning_rate": 0.01},
        "train": {"steps": 4, "batch_size": 4, "eval_every": 4, "checkpoint_every": 4,
                  "log_every": 2, "progress": False},
        "data": {"source": str(text_file), "seq_len": 12, "eval_batches": 1, "eval_batch_size": 4},
    })
    summary = fit(cfg, quiet=True)
    assert np.isfinite(summary["final"]["valid/bpc"])
    assert summary["param_count"] > 0 and summary["steps"] == 4
