"""Data-parallel and sharded training on 8 simulated CPU devices.

The checks that need 8 devices run in one subprocess with
XLA_FLAGS=--xla_force_host_platform_device_count=8 (the main pytest process keeps
its single device) that prints JSON; the reference is the same step or run on one
device, unsharded.
"""

import json
import os
import subprocess
import sys
import textwrap

import jax
import pytest

from jaxlstm.train import ConfigError, TaskTrainer, load_config
from jaxlstm.train.engine.mesh import make_mesh, parse_mesh

pytestmark = pytest.mark.slow  # minutes on 2 cores: the slow tier (.ci/run)

SCRIPT = textwrap.dedent(r"""
    import json, sys, time
    t0 = time.perf_counter()
    import jax, numpy as np
    from jaxlstm.train import ConfigError, TaskTrainer, fit, load_config, load_run

    config, out = sys.argv[1], sys.argv[2]
    base = [f"out_dir={out}", "train.batch_size=8"]
    result = {"devices": jax.device_count()}

    def leaves(tree):
        return [np.asarray(x) for x in jax.tree.leaves(tree)]

    small_eval = {"char_lm": ["data.eval_batches=1", "data.eval_batch_size=8"],
                  "stream_lm": ["data.eval_lanes=8"]}

    def one_step(extra, task="char_lm"):
        trainer = TaskTrainer(load_config(config, base + [f"task={task}"] + small_eval[task] + extra))
        train_step, _ = trainer.compiled_steps()
        state, _, _, carry, loss, metrics = train_step(
            trainer.params, trainer.model_state, trainer.opt_state, trainer.batch(3), trainer.key(3),
            trainer.carry)
        return trainer, float(loss), leaves(state), leaves(carry)

    for task in ("char_lm", "stream_lm"):
        _, loss0, params0, carry0 = one_step([], task)
        meshes = (("data8", ["train.mesh=data=8"]),
                  ("data4_model2", ["train.mesh=data=4,model=2", "train.shard_params=true"]))
        for name, extra in meshes[1:] if task == "stream_lm" else meshes:
            trainer, loss, params, carry = one_step(extra, task)
            w_x = trainer.params["encoder"]["forward_cells"][0]["w_x"][...]
            result[f"{task}/{name}"] = {
                "loss_diff": abs(loss - loss0),
                "param_diff": max(float(np.abs(a - b).max()) for a, b in zip(params, params0)),
                "carry_diff": max([float(np.abs(a - b).max()) for a, b in zip(carry, carry0)] or [0.0]),
                "w_x_spec": list(w_x.sharding.spec), "loss": loss}
            result["time/" + task + name] = time.perf_counter() - t0

    try:
        TaskTrainer(load_config(config, base + ["train.mesh=data=8", "train.batch_size=12"]))
    except ConfigError as e:
        result["batch_error"] = str(e)

    sharded = small_eval["char_lm"] + ["train.mesh=data=4,model=2", "train.shard_params=true",
                                       "train.steps=4", "train.checkpoint_every=2", "train.eval_every=2"]
    fit(load_config(config, base + sharded + ["name=full"]), quiet=True)
    fit(load_config(config, base + sharded + ["name=part", "train.steps=2"]), quiet=True)
    fit(load_config(config, base + sharded + ["name=part"]), resume=True, quiet=True)
    full, part = load_run(f"{out}/full", which="latest")[1], load_run(f"{out}/part", which="latest")[1]
    result["resume_max_diff"] = max(float(np.abs(a - b).max()) for a, b in
                                    zip(leaves(full.checkpoint_trees()), leaves(part.checkpoint_trees())))
    result["resume_leaves"] = len(leaves(full.checkpoint_trees()))
    w_x = part.params["encoder"]["forward_cells"][0]["w_x"][...]
    result["restored_w_x_spec"] = list(w_x.sharding.spec)
    result["restored_w_x_devices"] = len(w_x.sharding.device_set)
    result["time/total"] = time.perf_counter() - t0
    print("RESULT " + json.dumps(result))
""")


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sharded")
    corpus = tmp / "corpus.txt"
    corpus.write_text(("the cat sat on the mat. the dog sat on the log.\n\n" * 30 +
                       "a cat and a dog sat on a mat and a log.\n\n" * 20), encoding="utf-8")
    config = tmp / "tiny.yaml"
    config.write_text(f"""
name: tiny
model: {{hidden_size: 16, embed_dim: 8}}
optim: {{learning_rate: 0.01}}
train: {{steps: 20, batch_size: 8, log_every: 2, progress: false}}
data: {{source: {corpus}, seq_len: 16}}
""")
    # Without the persistent compilation cache that conftest.py turns on: XLA:CPU programs with
    # collectives, loaded from it, sometimes deadlock on 8 simulated devices (2 of 8 runs under
    # load; a 40 s rendezvous abort, seen in CI), while freshly compiled ones never did (27 runs).
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COMPILATION_CACHE")}
    env.update(XLA_FLAGS=(os.environ.get("XLA_FLAGS", "")
                          + " --xla_force_host_platform_device_count=8"),
               JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(config), str(tmp / "runs")],
                          capture_output=True, text=True, env=env, timeout=300)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


@pytest.mark.parametrize("task, mesh", [("char_lm", "data8"), ("char_lm", "data4_model2"),
                                        ("stream_lm", "data4_model2")])
def test_sharded_step_equals_unsharded_step(sharded, task, mesh):
    assert sharded["devices"] == 8
    r = sharded[f"{task}/{mesh}"]
    assert r["loss"] > 0.5  # a real loss (log vocab ~ 2.8 nats at init)
    assert r["loss_diff"] < 1e-5
    assert r["param_diff"] < 1e-5
    assert r["carry_diff"] < 1e-5
    # The gate axis (last) of w_x is split over "model" only when asked.
    assert r["w_x_spec"] == ([None, "model"] if mesh == "data4_model2" else [])


def test_sharded_run_resumes_to_the_uninterrupted_result(sharded):
    assert sharded["resume_leaves"] > 0
    assert sharded["resume_max_diff"] == 0.0
    assert sharded["restored_w_x_spec"] == [None, "model"]
    assert sharded["restored_w_x_devices"] == 8


def test_batch_size_must_divide_over_the_data_axis(sharded):
    assert "train.batch_size/train.mesh" in sharded["batch_error"]
    assert "batch_size 12 must be divisible by the data axis size 8" in sharded["batch_error"]


def test_parse_mesh():
    assert parse_mesh("data=8") == {"data": 8}
    assert parse_mesh("data=4, model=2") == {"data": 4, "model": 2}
    assert parse_mesh("model=-1") == {"model": -1}
    for bad, match in [("batch=8", "must look like"), ("data=4,data=2", "must look like"),
                       ("data=two", "must be an int"), ("data=0", "must be > 0 or -1"),
                       ("data=-1,model=-1", "at most one axis")]:
        with pytest.raises(ConfigError, match=f"train.mesh.*{match}"):
            parse_mesh(bad)


def test_mesh_on_one_device(tiny_lm):
    mesh = make_mesh("data=-1")
    assert dict(mesh.shape) == {"data": jax.device_count()}
    with pytest.raises(ConfigError, match=r"train.mesh: 'data=64' needs 64 devices, 1 are available"):
        make_mesh("data=64", jax.devices()[:1])
    # The override syntax parses with OmegaConf's dotlist.
    cfg = load_config(tiny_lm, ["train.mesh=data=1"])
    assert cfg.train.mesh == "data=1"
    trainer = TaskTrainer(cfg)
    assert trainer.mesh is not None and len(jax.tree.leaves(trainer.params)) > 0


def test_distributed_flag_calls_jax_distributed_initialize(tiny_lm, monkeypatch):
    """The arguments `jax.distributed.initialize` gets (two real processes run in
    tests/reliability/test_multiprocess.py)."""
    from jaxlstm import cli
    from jaxlstm.train.engine import distributed
    from jaxlstm.train.lab import config_run as loop

    calls, fitted = [], []
    monkeypatch.setattr(jax.distributed, "is_initialized", lambda: bool(calls))
    monkeypatch.setattr(jax.distributed, "initialize", lambda **kw: calls.append(kw))
    monkeypatch.setattr(loop, "fit", lambda cfg, **kw: fitted.append(cfg) or {
        "final": {}, "baseline": {}, "monitor": "m", "best": 0.0, "best_step": 1,
        "param_count": 1, "wall_time_s": 0.0})
    code = cli.main(["train", str(tiny_lm), "--distributed", "--coordinator-address", "10.0.0.1:1234",
                     "--num-processes", "2", "--process-id", "1", "--quiet"])
    assert code == 0
    assert calls == [{"coordinator_address": "10.0.0.1:1234", "num_processes": 2, "process_id": 1,
                      "heartbeat_timeout_seconds": 100}]
    assert fitted[0].train.distributed is True
    distributed.initialize()  # a second call does nothing
    assert len(calls) == 1

    # From the environment, with train.distributed=true in the config.
    calls.clear()
    monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "host0:9999")
    monkeypatch.setenv("JAX_NUM_PROCESSES", "4")
    monkeypatch.setenv("JAX_PROCESS_ID", "3")
    assert cli.main(["train", str(tiny_lm), "train.distributed=true", "--quiet"]) == 0
    assert calls == [{"coordinator_address": "host0:9999", "num_processes": 4, "process_id": 3,
                      "heartbeat_timeout_seconds": 100}]

    calls.clear()
    monkeypatch.setenv("JAX_PROCESS_ID", "4")
    with pytest.raises(ConfigError, match=r"--process-id / JAX_PROCESS_ID: must lie in \[0, 4\), got 4"):
        distributed.initialize()
    monkeypatch.setenv("JAX_NUM_PROCESSES", "two")
    with pytest.raises(ConfigError, match="JAX_NUM_PROCESSES: must be an int, got 'two'"):
        distributed.initialize()
    assert calls == []
