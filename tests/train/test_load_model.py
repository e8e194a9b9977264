"""`load_model(run_dir)` for config runs: the model without its data; old checkpoints still load."""

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest
from flax import nnx

from jaxlstm.cli import main
from jaxlstm.train import TaskTrainer, fit, load_config, load_model, load_run
from jaxlstm.train.lab.tasks import get_task


def test_a_config_runs_model_loads_without_its_data(tiny_lm, text_file, capsys, monkeypatch):
    cfg = load_config(tiny_lm)
    fit(cfg, quiet=True)
    _, trainer = load_run(cfg.run_dir)  # the reference: built with the data
    tokens = jnp.asarray(trainer.task.vocab.encode("the cat sat"))[None]
    expected, _ = trainer.model(tokens, deterministic=True)

    text_file.unlink()  # no data any more; nor may the task be built
    task = get_task("char_lm")
    monkeypatch.setattr(task, "__init__", lambda *a: pytest.fail("load_model built the task (its data)"))
    model = load_model(cfg.run_dir)
    got, _ = model(tokens, deterministic=True)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))
    capsys.readouterr()
    assert main(["generate", str(cfg.run_dir), "--prompt", "the ", "--length", "8", "--temperature", "0"]) == 0
    assert capsys.readouterr().out.startswith("the ")


def test_which_must_be_best_or_latest(tiny_lm):
    cfg = load_config(tiny_lm, ["train.steps=2", "train.checkpoint_every=2"])
    fit(cfg, quiet=True)
    with pytest.raises(ValueError, match=r"which: must be one of \['best', 'latest'\], got 'last'"):
        load_model(cfg.run_dir, which="last")


def test_a_checkpoint_of_jaxlstm_0_1_unnamed_leaves_still_loads(tiny_lm):
    """jaxlstm 0.1 saved one Orbax item "state": the leaves of (params, opt_state, carry)."""
    cfg = load_config(tiny_lm)
    trainer = TaskTrainer(cfg)
    params = jax.tree.map(lambda x: x + 0.25, trainer.params)  # not the initial values
    leaves = jax.tree.leaves((params, trainer.opt_state, trainer.carry))
    manager = ocp.CheckpointManager(cfg.run_dir.absolute() / "checkpoints",
                                    options=ocp.CheckpointManagerOptions(create=True))
    manager.save(7, args=ocp.args.Composite(state=ocp.args.StandardSave(leaves),
                                            meta=ocp.args.JsonSave({"best": None})), force=True)
    manager.wait_until_finished()
    manager.close()
    cfg.run_dir.joinpath("config.yaml").write_text(cfg.to_yaml())

    _, loaded = load_run(cfg.run_dir, which="latest")
    assert loaded.step == 7
    for a, b in zip(jax.tree.leaves(nnx.to_pure_dict(loaded.params)), jax.tree.leaves(nnx.to_pure_dict(params))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
