"""A new cell family is one file: IndRNN (tests/core/toy_family.py), registered from this
test module, runs through the core, a YAML config and `jaxlstm config`, the NNX modules,
`fit` and `fit_model` with no change to jaxlstm/ (and through every transformation in
tests/core/test_conformance.py).

References: a NumPy loop of the equation, finite differences, the Newton solve against
the scan, the core layers stacked by hand against the NNX stack.
"""

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from jax.test_util import check_grads

import jaxlstm as J
from jaxlstm.nn import FamilyCell, FamilyRNN, cells, make_encoder
from jaxlstm.train import fit_model, load_model
from jaxlstm.train.lab.config import ConfigError, load_config
from jaxlstm.train.lab.config_run import fit
from jaxlstm.train.lab.schema import config_schema
from tests.core import toy_family as toy


@pytest.fixture
def indrnn():
    with toy.registered() as family:
        yield family
    assert "indrnn" not in J.FAMILIES


def np_indrnn(params, xs, length=None, reverse=False, activation=np.tanh):
    """h_t = act(x_t W + u ⊙ h_{t-1} + b) over the first `length` steps (reversed when
    `reverse`), zeros after; returns (h_final, hs)."""
    w, u, b = (np.asarray(a, np.float64) for a in params)
    xs = np.asarray(xs, np.float64)
    steps = len(xs) if length is None else length
    order = range(steps - 1, -1, -1) if reverse else range(steps)
    h, hs = np.zeros(u.shape), np.zeros((len(xs), u.shape[0]))
    for t in order:
        h = activation(xs[t] @ w + u * h + b)
        hs[t] = h
    return h, hs


@pytest.mark.parametrize("length,reverse,activation", [
    (None, False, "tanh"), (3, False, "tanh"), (3, True, "sin"), (0, False, "tanh")])
def test_layer_equals_a_numpy_loop(length, reverse, activation):
    params = toy.init(jax.random.key(0), 3, 4)
    xs = jax.random.normal(jax.random.key(1), (5, 3))
    spec = toy.IndRNNSpec(activation)
    final, hs = toy.layer(params, xs, spec=spec, reverse=reverse,
                          lengths=None if length is None else jnp.asarray(length))
    want_final, want_hs = np_indrnn(params, xs, length, reverse, getattr(np, activation))
    np.testing.assert_allclose(final, want_final, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(hs, want_hs, rtol=1e-5, atol=1e-6)


@pytest.mark.slow  # 23 s on 2 cores
def test_newton_solve_equals_the_scan_and_gradients_match_finite_differences():
    with jax.enable_x64(True):
        params = jax.tree.map(lambda a: a.astype(jnp.float64),
                              toy.init(jax.random.key(0), 3, 4))
        xs = jax.random.normal(jax.random.key(1), (6, 3), jnp.float64)

        def loss(params, mode):
            return jnp.sum(jnp.sin(toy.layer(params, xs, mode=mode, lengths=jnp.asarray(5))[1]))

        np.testing.assert_allclose(loss(params, "newton"), loss(params, "scan"), rtol=1e-9)
        grads = [jax.grad(loss)(params, mode) for mode in ("newton", "scan")]
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9), *grads)
        check_grads(lambda p: loss(p, "scan"), (params,), order=2, modes=("fwd", "rev"),
                    atol=1e-5, rtol=1e-5)


def test_bad_calls_get_the_shared_checks():
    params = toy.init(jax.random.key(0), 3, 4)
    with pytest.raises(ValueError, match=r"xs must have shape \(T, input_size=3\)"):
        toy.layer(params, jnp.ones((5, 2)))
    with pytest.raises(ValueError, match=r"params.w_x must have shape \(3, 5\) for IndRNNSpec"):
        toy.layer(params._replace(u=jnp.ones(5)), jnp.ones((5, 3)))
    with pytest.raises(ValueError, match=r"mode must be one of \['scan', 'newton', "
                                         r"'quasi_newton'\], got 'parallel'"):
        toy.layer(params, jnp.ones((5, 3)), mode="parallel")


def test_registering_makes_it_a_cell_everywhere(indrnn):
    assert J.get_family("indrnn") is indrnn
    assert J.family_of_params(toy.init(jax.random.key(0), 3, 4)) is indrnn
    assert "indrnn" in cells()
    assert J.explain(toy.init(jax.random.key(0), 3, 4), jnp.ones((5, 3))).mode == "scan"


def test_config_keys_come_from_its_spec(indrnn, tmp_path):
    path = tmp_path / "toy.yaml"
    path.write_text("task: adding\nmodel: {cell: indrnn, activation: sin, mode: newton, "
                    "hidden_size: 8}\ndata: {min_length: 20}\n")
    cfg = load_config(path)
    assert cfg.model.spec == toy.IndRNNSpec("sin") and cfg.model.mode == "newton"
    assert load_config(cfg.to_dict()).to_dict() == cfg.to_dict()
    assert cfg.to_dict()["model"]["activation"] == "sin"
    with pytest.raises(ConfigError, match=r"config key model.activation: must be one of "
                                          r"\['tanh', 'sin'\], got 'relu'"):
        load_config(path, ["model.activation=relu"])
    with pytest.raises(ConfigError, match=r"config key model.mode: must be one of \['auto', "
                                          r"'scan', 'newton', 'quasi_newton'\], got 'parallel'"):
        load_config(path, ["model.mode=parallel"])
    with pytest.raises(ConfigError, match=r"model.chunk_sise: not an option of cell='indrnn'; "
                                          r"its options are \['activation'\]"):
        load_config(path, ["model.chunk_sise=3"])
    schema = config_schema("adding", "indrnn")
    assert "  cell: indrnn" in schema and "  activation: tanh" in schema
    assert "# with cell: indrnn" in config_schema("adding")
    assert load_config(_schema_file(tmp_path, schema)).model.spec == toy.IndRNNSpec()


def _schema_file(tmp_path, text):
    path = tmp_path / "schema.yaml"
    path.write_text(text)
    return path


def test_nnx_stack_equals_the_core_layers_stacked_by_hand(indrnn):
    enc = make_encoder("indrnn", 3, 4, num_layers=2, bidirectional=True,
                       spec=toy.IndRNNSpec("sin"), rngs=nnx.Rngs(0))
    assert isinstance(enc, FamilyRNN) and enc.out_features == 8
    xs = jax.random.normal(jax.random.key(1), (2, 5, 3))
    lengths = jnp.asarray([5, 3])
    finals, hs = enc(xs, lengths=lengths)
    spec = toy.IndRNNSpec("sin")
    for b in range(2):
        h = xs[b]
        for k in range(2):
            fw = toy.layer(enc.forward_cells[k].params, h, spec=spec, lengths=lengths[b])
            bw = toy.layer(enc.backward_cells[k].params, h, spec=spec, lengths=lengths[b],
                           reverse=True)
            h = jnp.concatenate([fw[1], bw[1]], -1)
            np.testing.assert_allclose(finals[k][0][b], fw[0], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(finals[k][1][b], bw[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(hs[b], h, rtol=1e-5, atol=1e-6)


def test_its_cell_runs_in_flax_nnx_rnn(indrnn):
    cell = FamilyCell("indrnn", 3, 4, rngs=nnx.Rngs(0))
    xs = jax.random.normal(jax.random.key(1), (2, 5, 3))
    hs = nnx.RNN(cell)(xs)
    for b in range(2):
        np.testing.assert_allclose(hs[b], np_indrnn(cell.params, xs[b])[1], rtol=1e-5, atol=1e-6)
    assert FamilyCell.from_params(cell.params).family == "indrnn"


def test_fit_trains_a_config_and_load_model_reads_it_back(indrnn, tmp_path):
    cfg = load_config({"task": "adding", "out_dir": str(tmp_path), "name": "toy",
                       "model": {"cell": "indrnn", "activation": "sin", "hidden_size": 8},
                       "train": {"steps": 4, "batch_size": 4, "eval_every": 2,
                                 "checkpoint_every": 4, "progress": False},
                       "data": {"min_length": 20, "eval_size": 16}})
    summary = fit(cfg, quiet=True)
    assert json.loads((cfg.run_dir / "summary.json").read_text())["steps"] == 4
    assert np.isfinite(summary["final"]["valid/loss"])
    assert load_config(cfg.run_dir / "config.yaml").model.spec == toy.IndRNNSpec("sin")
    model = load_model(cfg.run_dir, which="latest")
    assert isinstance(model.encoder, FamilyRNN) and model.encoder.family == "indrnn"
    assert model.encoder.spec == toy.IndRNNSpec("sin")


def test_fit_model_lowers_the_loss_of_a_model_built_on_it(indrnn, tmp_path):
    """Learn the running mean of the inputs' first feature: the loss must fall by half."""
    class Model(nnx.Module):
        def __init__(self, rngs):
            self.rnn = FamilyRNN("indrnn", 2, 8, rngs=rngs)
            self.out = nnx.Linear(8, 1, rngs=rngs)

        def __call__(self, xs):
            return self.out(self.rnn(xs)[1])[..., 0]

    def batches():
        step = 0
        while True:
            xs = np.random.default_rng(step).normal(size=(16, 10, 2)).astype(np.float32)
            yield {"xs": xs, "y": np.cumsum(xs[..., 0], 1) / np.arange(1, 11)}
            step += 1

    def loss(model, batch):
        return jnp.mean((model(batch["xs"]) - batch["y"]) ** 2)

    model = Model(nnx.Rngs(0))
    before = float(loss(model, next(batches())))
    fit_model(model, loss, batches(), optimizer=optax.adam(0.01), run_dir=tmp_path / "run",
              steps=150, quiet=True)
    assert float(loss(model, next(batches()))) < 0.5 * before
