"""`fit_model`: your own NNX model, data and loss through the same loop as the configs.

References: a run interrupted and resumed against the uninterrupted run (bit for bit),
the BatchNorm running mean against its closed form, dropout in eval mode against the
model called with dropout off by hand, the checkpoint read back with Orbax alone.
"""

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest
from flax import nnx

from jaxlstm.train import Average, Callback, CheckpointMismatch, fit_model, load_model
from jaxlstm.train.engine.feed import Feed

B, X = 8, 3


class Net(nnx.Module):
    """BatchNorm on the inputs, a dropout layer holding its own RNG stream, a linear head."""

    def __init__(self, rngs: nnx.Rngs, width: int = 16):
        self.norm = nnx.BatchNorm(X, momentum=0.9, rngs=rngs)
        self.hidden = nnx.Linear(X, width, rngs=rngs)
        self.drop = nnx.Dropout(0.5, rngs=rngs)
        self.out = nnx.Linear(width, 1, rngs=rngs)

    def __call__(self, x):
        return self.out(self.drop(jax.nn.tanh(self.hidden(self.norm(x)))))[..., 0]


def make_net(seed=0, width=16):
    return Net(nnx.Rngs(params=seed, dropout=seed + 1), width)


W = np.array([1.5, -2.0, 0.5], np.float32)


def batch_of(step: int) -> dict:
    rng = np.random.default_rng([7, step])
    x = rng.normal(2.0, 1.0, (B, X)).astype(np.float32)
    return {"x": x, "y": x @ W}


def mse(model, batch):
    err = model(batch["x"]) - batch["y"]
    return (err ** 2).mean(), {"mae": jnp.abs(err).mean()}


VALID = [batch_of(1000 + i) for i in range(3)]


def _states(run_dir, step):
    path = run_dir / "checkpoints" / str(step)
    return {name: ocp.StandardCheckpointer().restore(path / name)
            for name in ("params", "model_state", "opt_state")}


def _assert_same_tree(a, b):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(la) == len(lb) > 0
    for x, y in zip(la, lb):
        np.testing.assert_array_equal(_plain(x), _plain(y))


def _plain(x):
    if jax.dtypes.issubdtype(getattr(x, "dtype", np.float32), jax.dtypes.prng_key):
        return np.asarray(jax.random.key_data(x))
    return np.asarray(x)


class OneShot:
    """A one-pass iterable that can be built again (as a fresh generator would be)."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return (batch_of(s) for s in range(self.n))


def grain_iterator(n_steps):
    grain = pytest.importorskip("grain")
    xs = np.stack([batch_of(s)["x"] for s in range(n_steps)]).reshape(-1, X)
    ds = grain.MapDataset.source(list(range(len(xs)))).shuffle(seed=3).map(
        lambda i: {"x": xs[i], "y": xs[i] @ W}).batch(B)
    return iter(ds.to_iter_dataset())


DATA = {"callable": lambda: batch_of, "list": lambda: [batch_of(s) for s in range(12)],
        "iterable": lambda: OneShot(12), "grain": lambda: grain_iterator(12)}


@pytest.mark.parametrize("kind", sorted(DATA))
def test_a_resumed_run_equals_the_uninterrupted_one(tmp_path, kind):
    opts = dict(optimizer=optax.adam(0.01), eval_data=VALID, eval_every=3, checkpoint_every=3,
                log_every=1, quiet=True)
    full = fit_model(make_net(), mse, DATA[kind](), run_dir=tmp_path / "full", steps=12, **opts)
    assert full["steps"] == 12 and full["data_ended"] is None
    fit_model(make_net(), mse, DATA[kind](), run_dir=tmp_path / "part", steps=6, **opts)
    model = make_net(seed=5)  # resuming restores everything: the initial values do not matter
    resumed = fit_model(model, mse, DATA[kind](), run_dir=tmp_path / "part", steps=12, resume=True, **opts)
    _assert_same_tree(_states(tmp_path / "full", 12), _states(tmp_path / "part", 12))
    assert resumed["final"] == full["final"]
    # the model passed in holds the trained state when fit_model returns
    _assert_same_tree(nnx.to_pure_dict(nnx.state(model, nnx.Param)), _states(tmp_path / "full", 12)["params"])

    def train_losses(run):
        lines = (tmp_path / run / "metrics.jsonl").read_text().splitlines()
        return [(r["step"], r["loss"]) for r in map(json.loads, lines) if r["split"] == "train"]

    assert train_losses("full") == train_losses("part")
    assert full["final"]["valid/loss"] < 0.6 * _initial_valid_loss()  # it learned (12 steps)


def _initial_valid_loss():
    model = make_net()
    model.eval()
    return float(np.mean([mse(model, b)[0] for b in VALID]))


def test_model_state_is_carried_batchnorm_mean_matches_its_closed_form(tmp_path):
    """A constant batch: after n steps the running mean is (1 - 0.9^n) * batch mean."""
    batch = batch_of(0)
    model = make_net()
    fit_model(model, mse, lambda step: batch, optimizer=optax.sgd(0.01), run_dir=tmp_path / "r",
              steps=5, quiet=True)
    expected = (1 - 0.9 ** 5) * batch["x"].mean(0)
    np.testing.assert_allclose(np.asarray(model.norm.mean[...]), expected, rtol=1e-5)
    assert int(model.drop.rngs.count[...]) == 5  # one dropout draw per step, carried across steps


def test_evaluation_runs_in_eval_mode_without_dropout(tmp_path):
    seen = {}

    class Record(Callback):
        def on_eval_end(self, trainer, metrics):
            seen["metrics"], seen["model"] = metrics, trainer.model

    fit_model(make_net(), mse, batch_of, optimizer=optax.adam(0.01), run_dir=tmp_path / "r", steps=4,
              eval_data=VALID, eval_every=4, callbacks=[Record()], quiet=True)
    model = seen["model"]
    model.eval()  # dropout off, BatchNorm on its running statistics: the reference, by hand
    errs = [np.asarray(model(b["x"]) - b["y"]) for b in VALID]
    np.testing.assert_allclose(seen["metrics"]["valid/loss"], np.mean([(e ** 2).mean() for e in errs]),
                               rtol=1e-5)
    np.testing.assert_allclose(seen["metrics"]["valid/mae"], np.mean([np.abs(e).mean() for e in errs]),
                               rtol=1e-5)


def test_callbacks_see_every_step_and_can_stop_the_run(tmp_path):
    events = []

    class Stopper(Callback):
        def on_train_start(self, trainer):
            events.append(("start", trainer.step))

        def on_step_end(self, trainer, record):
            events.append(("step", record["step"]))
            assert isinstance(record["loss"], float) and "grad_norm" in record
            if record["step"] == 3:
                trainer.stop = True

        def on_checkpoint(self, trainer, step):
            events.append(("checkpoint", step))

        def on_train_end(self, trainer, summary):
            events.append(("end", summary["steps"]))

    run = tmp_path / "r"
    summary = fit_model(make_net(), mse, batch_of, optimizer=optax.adam(0.01), run_dir=run, steps=10,
                        eval_data=VALID, callbacks=[Stopper()], quiet=True)
    assert summary["steps"] == 3 and summary["settings"]["steps"] == 10 and summary["model"] == "Net"
    assert events == [("start", 0), ("step", 1), ("step", 2), ("step", 3), ("checkpoint", 3), ("end", 3)]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["3"]


def test_checkpoints_are_named_trees_readable_with_orbax_alone(tmp_path):
    model = make_net()
    fit_model(model, mse, batch_of, optimizer=optax.adam(0.01), run_dir=tmp_path / "r", steps=2,
              quiet=True)
    saved = _states(tmp_path / "r", 2)
    assert set(saved["params"]) == {"hidden", "norm", "out"}
    np.testing.assert_array_equal(saved["params"]["hidden"]["kernel"], np.asarray(model.hidden.kernel[...]))
    np.testing.assert_array_equal(saved["model_state"]["norm"]["mean"], np.asarray(model.norm.mean[...]))
    assert saved["model_state"]["drop"]["rngs"]["key"].dtype == np.uint32  # key data, not a key object
    adam = saved["opt_state"][0]  # optax's chain: a tuple of named tuples
    assert set(adam) == {"count", "mu", "nu"} and int(adam["count"]) == 2
    assert adam["mu"]["out"]["kernel"]["value"].shape == (16, 1)


def test_load_model_fills_a_model_of_the_same_structure(tmp_path):
    model = make_net()
    fit_model(model, mse, batch_of, optimizer=optax.adam(0.01), run_dir=tmp_path / "r", steps=3,
              eval_data=VALID, quiet=True)
    loaded = load_model(tmp_path / "r", make_net(seed=9), which="latest")
    _assert_same_tree(nnx.state(loaded), nnx.state(model))
    assert loaded.drop.deterministic and loaded.norm.use_running_average  # eval() mode
    with pytest.raises(FileNotFoundError, match="has no model.json.*pass model="):
        load_model(tmp_path / "r")


def test_average_losses_are_pooled_over_tokens_in_evaluation(tmp_path):
    """Two held-out batches with 3 and 1 real tokens: the pooled mean is the total over the
    4 tokens, not the mean of the two batch means."""
    class Scale(nnx.Module):
        def __init__(self, rngs):
            self.w = nnx.Param(jnp.ones(()))

        def __call__(self, x):
            return self.w * x

    def loss(model, batch):
        err = (model(batch["x"]) - 0.0) ** 2 * batch["mask"]
        return Average(err.sum(), batch["mask"].sum())

    valid = [{"x": np.array([[1.0, 2.0], [3.0, 9.0]], np.float32), "mask": np.array([[1, 1], [1, 0]], np.float32)},
             {"x": np.array([[4.0, 5.0]], np.float32), "mask": np.array([[1, 0]], np.float32)}]
    summary = fit_model(Scale(nnx.Rngs(0)), loss, lambda s: valid[0], optimizer=optax.sgd(0.0),
                        run_dir=tmp_path / "r", steps=1, eval_data=valid, quiet=True)
    assert summary["final"]["valid/loss"] == pytest.approx((1 + 4 + 9 + 16) / 4)


def test_a_one_shot_iterator_that_ends_early_ends_the_run_with_a_checkpoint(tmp_path):
    summary = fit_model(make_net(), mse, iter([batch_of(s) for s in range(4)]), optimizer=optax.adam(0.01),
                        run_dir=tmp_path / "r", steps=10, eval_data=VALID, quiet=True)
    assert summary["steps"] == 4 and summary["data_ended"] == "train_data: ran out of batches at step 5"
    assert sorted(p.name for p in (tmp_path / "r" / "checkpoints").iterdir()) == ["4"]


def test_a_re_iterable_is_gone_through_again_one_pass_per_epoch():
    feed = Feed([{"x": np.array([i])} for i in range(3)])
    feed.start(4)
    assert [int(feed.next(s)["x"][0]) for s in range(4, 9)] == [1, 2, 0, 1, 2]


@pytest.mark.parametrize("bad,error,match", [
    (lambda m: 0.0, TypeError, r"loss: expected positional arguments \(model, batch\[, key\]\), got a function of 1"),
    ("mse", TypeError, r"loss: expected a function"),
])
def test_bad_loss_functions_are_named(tmp_path, bad, error, match):
    with pytest.raises(error, match=match):
        fit_model(make_net(), bad, batch_of, optimizer=optax.adam(0.01), run_dir=tmp_path / "r", steps=1)
    assert not (tmp_path / "r").exists()


def test_bad_settings_and_data_are_named(tmp_path):
    run = tmp_path / "r"
    with pytest.raises(TypeError, match=r"fit_model: unknown setting\(s\) \['eval_evry'\]"):
        fit_model(make_net(), mse, batch_of, optimizer=optax.adam(0.01), run_dir=run, steps=1, eval_evry=3)
    with pytest.raises(Exception, match=r"train.steps: must be > 0, got 0"):
        fit_model(make_net(), mse, batch_of, optimizer=optax.adam(0.01), run_dir=run, steps=0)
    with pytest.raises(TypeError, match=r"train_data: expected a callable step -> batch, an iterable .* got int"):
        fit_model(make_net(), mse, 3, optimizer=optax.adam(0.01), run_dir=run, steps=1)
    with pytest.raises(TypeError, match=r"model: expected a flax.nnx.Module, got function"):
        fit_model(make_net, mse, batch_of, optimizer=optax.adam(0.01), run_dir=run, steps=1)
    assert not run.exists()


def test_early_stopping_stops_after_patience_evaluations_without_improvement(tmp_path):
    """With a learning rate of 0 the held-out loss never improves after the first
    evaluation: with patience 2 the run stops at the third evaluation, step 3."""
    summary = fit_model(make_net(), mse, batch_of, optimizer=optax.sgd(0.0), run_dir=tmp_path / "r",
                        steps=10, eval_data=VALID, eval_every=1, early_stopping_patience=2, quiet=True)
    assert summary["stopped_early"] and summary["steps"] == 3 and summary["best_step"] == 1


@pytest.mark.parametrize("mesh", ["data=1", "mesh object"])
def test_a_device_mesh_gives_the_same_run(tmp_path, mesh):
    from jax.sharding import Mesh

    if mesh == "mesh object":
        mesh = Mesh(np.array(jax.devices()[:1]), ("data",))
    opts = dict(optimizer=optax.adam(0.01), steps=3, eval_data=VALID, quiet=True)
    plain = fit_model(make_net(), mse, batch_of, run_dir=tmp_path / "plain", **opts)
    meshed = fit_model(make_net(), mse, batch_of, run_dir=tmp_path / "mesh", mesh=mesh, **opts)
    assert meshed["final"] == pytest.approx(plain["final"], rel=1e-6)


TWO_DEVICES = """
import json, sys
import jax, numpy as np, optax
from flax import nnx
sys.path.insert(0, sys.argv[2])
from jaxlstm.train import fit_model
from tests.train.test_fit_model import VALID, batch_of, make_net, mse
from pathlib import Path
out = {"devices": jax.device_count()}
opts = dict(optimizer=optax.adam(0.01), steps=3, eval_data=VALID, quiet=True)
for name, mesh in [("plain", None), ("data=2", "data=2")]:
    model = make_net()
    summary = fit_model(model, mse, batch_of, run_dir=Path(sys.argv[1]) / name.replace("=", ""),
                        mesh=mesh, **opts)
    leaves = jax.tree.leaves(nnx.state(model, nnx.Param))
    out[name] = {"final": summary["final"], "params": [np.asarray(x).tolist() for x in leaves],
                 "param_devices": sorted({len(x.sharding.device_set) for x in leaves})}
print("RESULT " + json.dumps(out))
"""


def test_a_two_device_data_mesh_gives_the_single_device_run(tmp_path):
    """fit_model with mesh="data=2" on 2 simulated CPU devices (a subprocess with
    XLA_FLAGS=--xla_force_host_platform_device_count=2): the batch of 8 is split over the
    two devices (BatchNorm's statistics and the loss are still over all 8), and the run ends
    where the same run on one device does."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COMPILATION_CACHE")}
    env.update(XLA_FLAGS=(os.environ.get("XLA_FLAGS", "")
                          + " --xla_force_host_platform_device_count=2"),
               JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", TWO_DEVICES, str(tmp_path), str(root)],
                          capture_output=True, text=True, env=env, timeout=300, cwd=root)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    out = json.loads(lines[-1][len("RESULT "):])
    assert out["devices"] == 2
    assert out["plain"]["param_devices"] == [1] and out["data=2"]["param_devices"] == [2]
    plain, meshed = out["plain"], out["data=2"]
    assert meshed["final"].keys() == plain["final"].keys() and plain["final"]
    for key, value in plain["final"].items():
        assert meshed["final"][key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    for a, b in zip(plain["params"], meshed["params"], strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def test_resuming_with_another_model_is_an_error_not_a_damaged_checkpoint(tmp_path):
    run = tmp_path / "r"
    opts = dict(optimizer=optax.adam(0.01), run_dir=run, quiet=True)
    fit_model(make_net(), mse, batch_of, steps=2, **opts)
    with pytest.raises(CheckpointMismatch, match=r"checkpoint step 2 in .* was written for another model or "
                                                 r"optimizer: its params holds 6 arrays, this one 6"):
        fit_model(make_net(width=32), mse, batch_of, steps=4, resume=True, **opts)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["2"]  # nothing set aside
    with pytest.raises(CheckpointMismatch):
        load_model(run, make_net(width=8))
    fit_model(make_net(), mse, batch_of, steps=4, resume=True, **opts)  # the right model resumes


def test_iterator_states_with_numpy_numbers_and_bytes_are_saved_as_json():
    class Positioned:
        def __init__(self):
            self.i = np.int64(0)

        def __iter__(self):
            return self

        def __next__(self):
            self.i += 1
            return batch_of(int(self.i))

        def get_state(self):
            return {"i": self.i, "blob": b"\x00\xff", "seen": np.arange(2)}

        def set_state(self, state):
            restored.append(state)
            self.i = np.int64(state["i"])

    restored = []

    feed = Feed(Positioned())
    feed.start(0)
    feed.next(0), feed.next(1)
    saved = json.loads(json.dumps(feed.state()))  # what a checkpoint's meta holds
    assert saved["i"] == 2 and saved["seen"] == [0, 1]
    again = Feed(Positioned())
    again.start(2, saved)
    np.testing.assert_array_equal(again.next(2)["x"], batch_of(3)["x"])
    # the first Feed restores its iterator's starting state, the second the saved one; bytes survive JSON
    assert [(r["i"], r["blob"]) for r in restored] == [(0, b"\x00\xff"), (2, b"\x00\xff")], restored


def test_a_one_shot_eval_iterator_is_refused(tmp_path):
    with pytest.raises(TypeError, match=r"eval_data: expected a list or another iterable .* got generator"):
        fit_model(make_net(), mse, batch_of, optimizer=optax.adam(0.01), run_dir=tmp_path / "r", steps=1,
                  eval_data=(b for b in VALID))


def test_a_monitor_that_evaluation_does_not_report_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"monitor: 'valid/acc' is not among the evaluation metrics "
                                         r"\['valid/loss', 'valid/mae'\]"):
        fit_model(make_net(), mse, batch_of, optimizer=optax.adam(0.01), run_dir=tmp_path / "r", steps=2,
                  eval_data=VALID, monitor="valid/acc", quiet=True)
    with pytest.raises(ValueError, match="early_stopping_patience: needs evaluation"):
        fit_model(make_net(), mse, batch_of, optimizer=optax.adam(0.01), run_dir=tmp_path / "s", steps=2,
                  early_stopping_patience=2)


def test_a_loss_taking_any_arguments_gets_the_key():
    from jaxlstm.train.engine.trainer import Trainer

    seen = []
    trainer = Trainer(make_net(), lambda *args: seen.append(len(args)) or mse(*args[:2]), batch_of,
                      optimizer=optax.adam(0.01))
    trainer.compiled_steps()[0](*trainer.train_state()[:3], batch_of(0), trainer.key(0), None)
    assert seen == [3]
