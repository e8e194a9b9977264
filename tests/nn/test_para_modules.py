"""NNX modules and configs of ParaLSTM/ParaGRU: the stack equals the core layers in every
mode; `model.cell: paralstm|paragru` with `model.mode: newton` trains."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jaxlstm as J
from jaxlstm.nn.modern import ModernRNN
from jaxlstm.train.lab.config import ConfigError, load_config
from jaxlstm.train.lab.config_run import fit


@pytest.mark.parametrize("family,layer", [("paralstm", J.paralstm), ("paragru", J.paragru)])
def test_newton_stack_equals_core_scan(family, layer):
    spec = J.FAMILIES[family].spec_type()
    enc = ModernRNN(family, 3, 4, spec=spec, bidirectional=True, mode="newton",
                    rngs=nnx.Rngs(0))
    xs = jax.random.normal(jax.random.key(1), (2, 7, 3))
    lengths = jnp.asarray([7, 4])
    _, hs = enc(xs, lengths=lengths)
    fw, bw = enc.forward_cells[0].params, enc.backward_cells[0].params

    @jax.vmap
    def by_hand(x, n):
        _, h_fw = layer(fw, x, spec=spec, lengths=n, mode="scan")
        _, h_bw = layer(bw, x, spec=spec, lengths=n, reverse=True, mode="scan")
        return jnp.concatenate([h_fw, h_bw], -1)

    np.testing.assert_allclose(hs, by_hand(xs, lengths), atol=1e-5)


def test_config_modes():
    assert load_config({"model": {"cell": "paralstm", "mode": "newton"}}).model.mode == "newton"
    with pytest.raises(ConfigError, match=r"model.mode"):
        load_config({"model": {"cell": "paragru", "mode": "parallel"}})


@pytest.mark.parametrize("cell", ["paragru", pytest.param("paralstm", marks=pytest.mark.slow)])
def test_char_lm_trains_with_newton(cell, tmp_path, text_file):
    cfg = load_config({
        "name": cell, "task": "char_lm", "out_dir": str(tmp_path),
        "model": {"cell": cell, "hidden_size": 8, "embed_dim": 8, "mode": "newton"},
        "optim": {"learning_rate": 0.01},
        "train": {"steps": 3, "batch_size": 4, "eval_every": 3, "checkpoint_every": 3,
                  "log_every": 1, "progress": False},
        "data": {"source": str(text_file), "seq_len": 12, "eval_batches": 1, "eval_batch_size": 4},
    })
    summary = fit(cfg, quiet=True)
    assert np.isfinite(summary["final"]["valid/bpc"]) and summary["steps"] == 3
