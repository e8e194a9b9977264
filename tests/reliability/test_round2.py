"""The second round of bad inputs and faults (issue 28, docs/reliability.md cases 27-45):
each gives one clear error naming the argument, or the right result; nothing is lost,
nothing is silently wrong, and no failed start leaves a folder that blocks the next one.
"""

import json
import logging
import shutil
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import jaxlstm as J
from jaxlstm.cli import main
from jaxlstm.nn import LSTM
from jaxlstm.nn.xlstm_blocks import XLSTM
from jaxlstm.train import CheckpointMismatch, ConfigError, fit_model, load_config
from jaxlstm.train.engine.checkpoint import quiet_orbax_background_errors
from jaxlstm.train.lab.generate import sample_text
from jaxlstm.train.engine.metrics import MetricsFileError
from jaxlstm.train.engine.run_folder import RunFolderError
from jaxlstm.train.lab.schema import config_schema
from tests.train.test_fit_model import VALID, batch_of, make_net, mse

QUIET = dict(quiet=True)


def _one_line(capsys, *needles):
    err = capsys.readouterr().err
    ours = [line for line in err.splitlines() if line.startswith("jaxlstm ")]
    assert "Traceback" not in err and len(ours) == 1, err
    for needle in needles:
        assert needle in ours[0], ours[0]
    return ours[0]


# -- 1. another optimizer structure on resume ---------------------------------------------

@pytest.mark.parametrize("before,after,what", [
    (optax.adam(0.01), optax.chain(optax.clip(1.0), optax.adam(0.01)), "opt_state has another tree structure"),
    (optax.sgd(0.01), optax.adam(0.01), "the checkpoint has no opt_state, this one does"),
    (optax.adam(0.01), optax.sgd(0.01), "the checkpoint holds opt_state, this one has none"),
], ids=["adam->chain(clip,adam)", "sgd->adam", "adam->sgd"])
def test_another_optimizer_structure_is_a_mismatch_and_nothing_is_set_aside(tmp_path, before, after, what):
    run = tmp_path / "r"
    fit_model(make_net(), mse, batch_of, optimizer=before, run_dir=run, steps=2, **QUIET)
    with pytest.raises(CheckpointMismatch, match=r"checkpoint step 2 in .* was written for another "
                                                 r"model or optimizer: .*" + what):
        fit_model(make_net(), mse, batch_of, optimizer=after, run_dir=run, steps=4, resume=True, **QUIET)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["2"]  # nothing renamed .corrupt


# -- 2. every fit_model setting is type- and range-checked ----------------------------------

@pytest.mark.parametrize("settings,message", [
    (dict(steps=3.5), r"config key train.steps: must be an int, got 3.5 \(float\)"),
    (dict(steps=True), r"config key train.steps: must be an int, got True \(bool\)"),
    (dict(steps=3, checkpoint_every=1.5), r"config key train.checkpoint_every: must be an int, got 1.5"),
    (dict(steps=3, seed=-1), r"config key train.seed: must be an int in \[0, 2\*\*63 - 1\], got -1"),
    (dict(steps=3, seed=2**70), r"config key train.seed: must be an int in \[0, 2\*\*63 - 1\]"),
    (dict(steps=3, writers="jsonl"), r"config key train.writers: must be a list, each a string, got 'jsonl'"),
    (dict(steps=3, progress="no"), r"config key train.progress: must be a bool"),
])
def test_fit_model_settings_are_checked_by_type_and_range(tmp_path, settings, message):
    with pytest.raises(ConfigError, match=message):
        fit_model(make_net(), mse, batch_of, optimizer=optax.adam(0.01), run_dir=tmp_path / "r", **settings)
    assert not (tmp_path / "r").exists()


# -- 6. the run folder deleted while training ------------------------------------------------

def test_a_run_folder_deleted_while_training_stops_the_run(tmp_path):
    run = tmp_path / "r"

    from jaxlstm.train import Callback

    class Deleter(Callback):
        def on_step_end(self, trainer, record):
            if record["step"] == 2:
                shutil.rmtree(run)

    with pytest.raises(RunFolderError, match=r"run folder .*r was deleted or replaced while this run "
                                             r"was writing it; stopped at step 2"):
        fit_model(make_net(), mse, batch_of, optimizer=optax.adam(0.01), run_dir=run, steps=6,
                  checkpoint_every=1, callbacks=[Deleter()], **QUIET)


def test_a_run_folder_deleted_while_jaxlstm_train_runs_exits_2(tiny_lm, tmp_path, capsys, monkeypatch):
    from jaxlstm.train.engine.trainer import Trainer

    run = tmp_path / "runs" / "tiny"
    batch = Trainer.batch

    def batch_then_delete(self, step):
        if step == 3:
            shutil.rmtree(run)
        return batch(self, step)

    monkeypatch.setattr(Trainer, "batch", batch_then_delete)
    assert main(["train", str(tiny_lm), "--quiet"]) == 2
    _one_line(capsys, "was deleted or replaced while this run was writing it; stopped at step 4")


# -- 7. out of memory at the start -----------------------------------------------------------

@pytest.mark.slow
def test_out_of_memory_is_one_line_and_leaves_no_folder(tiny_lm, tmp_path, capsys):
    run = tmp_path / "runs" / "tiny"
    assert main(["train", str(tiny_lm), "--quiet", "train.batch_size=2000000000"]) == 2
    _one_line(capsys, "out of memory", "train.batch_size")
    assert not run.exists()
    assert main(["train", str(tiny_lm), "--quiet", "train.steps=2"]) == 0  # the corrected command


def test_a_failed_start_of_fit_model_leaves_no_folder(tmp_path):
    def failing(step):
        raise MemoryError("Unable to allocate 238. GiB")

    with pytest.raises(MemoryError):
        fit_model(make_net(), mse, failing, optimizer=optax.adam(0.01), run_dir=tmp_path / "r", steps=2, **QUIET)
    assert not (tmp_path / "r").exists()


# -- 8 and 17. run folders that cannot be used -----------------------------------------------

def test_a_run_folder_that_is_a_file_is_refused_naming_it(tiny_lm, tmp_path, capsys):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "tiny").write_text("not a folder")
    assert main(["train", str(tiny_lm), "--quiet"]) == 2
    _one_line(capsys, "run folder", "tiny is a file, not a folder")
    assert main(["train", str(tiny_lm), "--quiet", f"out_dir={tmp_path / 'runs' / 'tiny' / 'sub'}"]) == 2
    _one_line(capsys, "cannot be created", "is a file, not a folder")
    with pytest.raises(RunFolderError, match=r"run folder .*tiny is a file, not a folder"):
        fit_model(make_net(), mse, batch_of, optimizer=optax.adam(0.01), run_dir=tmp_path / "runs" / "tiny", steps=1)


def test_unwritable_folders_are_refused_before_anything_is_built(tiny_lm, tmp_path, capsys, monkeypatch):
    import os

    import jaxlstm.train.engine.run_folder as run_folder

    denied = set()
    monkeypatch.setattr(run_folder, "_writable", lambda path: os.path.abspath(path) not in denied)
    denied.add(str(tmp_path / "runs"))
    (tmp_path / "runs").mkdir()
    assert main(["train", str(tiny_lm), "--quiet"]) == 2
    _one_line(capsys, "cannot be created", "is not writable (permission denied)")
    denied.clear()
    assert main(["train", str(tiny_lm), "--quiet", "train.steps=2"]) == 0
    denied.add(str(tmp_path / "runs" / "tiny" / "checkpoints"))
    assert main(["train", str(tiny_lm), "--quiet", "--resume", "train.steps=4"]) == 2
    _one_line(capsys, "checkpoints is not writable")


# -- 9. Orbax's background-thread errors ------------------------------------------------------

def test_orbax_background_errors_are_dropped_and_others_kept(monkeypatch):
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: seen.append(str(u.exc_value)))
    quiet_orbax_background_errors()
    quiet_orbax_background_errors()  # idempotent
    closed = types.SimpleNamespace(exc_type=RuntimeError, exc_value=RuntimeError("Event loop is closed"),
                                   exc_traceback=None, err_msg=None, object=None)
    sys.unraisablehook(closed)
    other = types.SimpleNamespace(exc_type=ValueError, exc_value=ValueError("a real one"),
                                  exc_traceback=None, err_msg=None, object=None)
    sys.unraisablehook(other)
    asyncio_log = logging.getLogger("asyncio")
    data_loss = ValueError('DATA_LOSS: Error opening "zarr" driver')
    record = asyncio_log.makeRecord("asyncio", logging.ERROR, __file__, 1, "Task exception was never retrieved",
                                    (), (ValueError, data_loss, None))
    assert not all(f.filter(record) for f in asyncio_log.filters)
    record = asyncio_log.makeRecord("asyncio", logging.ERROR, __file__, 1, "Task exception was never retrieved",
                                    (), (ValueError, ValueError("mine"), None))
    assert all(f.filter(record) for f in asyncio_log.filters)
    assert seen == ["a real one"]


# -- 10. sweep arguments ------------------------------------------------------------------------

@pytest.mark.parametrize("extra,message", [
    (["--seeds", "0"], "--seeds: must be >= 1, got 0"),
    (["--seeds", "-2"], "--seeds: must be >= 1, got -2"),
    (["--grid", "model.hidden_size=8,0"], "grid point hidden_size=0: config key model.hidden_size: must be > 0"),
    (["--grid", "model.hidden_size=8", "--grid", "model.hidden_size=16"], "--grid model.hidden_size: given twice"),
])
def test_sweep_arguments_are_checked_before_anything_trains(tiny_lm, tmp_path, capsys, extra, message):
    assert main(["sweep", str(tiny_lm), "--quiet", "train.steps=2", *extra]) == 2
    _one_line(capsys, message)
    assert not (tmp_path / "runs" / "tiny").exists()  # not even the first grid point trained


# -- 11. narrow float initialisation ---------------------------------------------------------------

@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
def test_init_in_float16_and_bfloat16_is_the_float32_init_rounded(dtype):
    key = jax.random.key(3)
    for init in (J.init_lstm, J.init_gru):
        narrow, wide = init(key, 3, 8, dtype=dtype), init(key, 3, 8)
        assert all(a.dtype == dtype for a in jax.tree.leaves(narrow))
        np.testing.assert_array_equal(np.asarray(narrow.w_h, np.float32),
                                      np.asarray(wide.w_h.astype(dtype), np.float32))
        w = np.asarray(narrow.w_h, np.float64)  # (8, G*8): orthonormal rows, up to the rounding
        assert np.abs(w @ w.T - np.eye(8)).max() < 0.05


# -- 12 and 18. NNX modules --------------------------------------------------------------------------

XL = XLSTM(3, 8, num_heads=2, rngs=nnx.Rngs(0))


@pytest.mark.parametrize("call,exc,message", [
    (lambda: XL(jnp.ones((2, 5, 4))), ValueError, r"xs must have shape \(B, T, in_features=3\), got shape \(2, 5, 4\)"),
    (lambda: XL(jnp.ones((5, 3))), ValueError, r"xs must have shape \(B, T, X\) \(rank 3\), got shape \(5, 3\)"),
    (lambda: XL(jnp.ones((2, 5, 3)), lengths=jnp.array([9, 2])), ValueError, r"lengths must lie in \[0, T=5\]"),
    (lambda: XL(jnp.ones((2, 5, 3), jnp.int32)), TypeError, "xs must be a floating-point array, got dtype int32"),
    (lambda: LSTM(3, 4, dropout="0.1", rngs=nnx.Rngs(0)), ValueError, r"dropout must be a number in \[0, 1\), got '0.1'"),
    (lambda: XLSTM(3, 8, num_heads=2, dropout="0.1", rngs=nnx.Rngs(0)), ValueError, r"dropout must be a number in \[0, 1\)"),
    (lambda: LSTM.from_params([J.init_lstm(jax.random.key(0), 3, 4), J.init_lstm(jax.random.key(1), 5, 4)]),
     ValueError, r"layers\[1\].w_x has shape \(5, 16\): layer 1 takes 5 inputs, but layer 0 puts out 4"),
    (lambda: J.lstm_stack([(J.init_lstm(jax.random.key(0), 3, 4), J.init_lstm(jax.random.key(1), 3, 4))],
                          jnp.ones((5, 3)), is_bidirectional=False),
     TypeError, r"layers\[0\] is a \(forward, backward\) pair .* pass is_bidirectional=True"),
])
def test_module_inputs_are_checked_like_lstms(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


def test_xlstm_valid_calls_still_run_and_mask_padding():
    finals, hs = XL(jnp.ones((2, 5, 3)), lengths=jnp.array([5, 2]))
    assert hs.shape == (2, 5, 8) and np.all(np.asarray(hs[1, 2:]) == 0) and np.any(np.asarray(hs[1, :2]) != 0)


# -- 13. generate / inspect arguments --------------------------------------------------------------

@pytest.mark.parametrize("kwargs,message", [
    (dict(temperature=float("nan")), r"temperature must be a finite number >= 0, got nan"),
    (dict(temperature=float("inf")), r"temperature must be a finite number >= 0, got inf"),
    (dict(length=-5), r"length must be an int >= 0, got -5"),
    (dict(seed=2**70), r"seed must be an int in \[0, 2\*\*63 - 1\]"),
])
def test_sample_text_arguments_are_checked(kwargs, message):
    from jaxlstm.data.text import CharVocab

    args = dict(length=3, temperature=0.8, seed=0) | kwargs
    with pytest.raises(ValueError, match=message):
        sample_text(None, CharVocab.build("ab"), "a", **args)


def test_inspect_with_empty_text_is_one_line(tmp_path, capsys):
    assert main(["inspect", str(tmp_path), "--text", ""]) == 2
    _one_line(capsys, "--text: must contain at least one character")


def test_a_huge_seed_is_one_line(tiny_lm, capsys, tmp_path):
    assert main(["train", str(tiny_lm), "--quiet", f"train.seed={2**70}"]) == 2
    _one_line(capsys, "train.seed")
    assert main(["train", str(tiny_lm), "--quiet", "train.seed=-1"]) == 2
    _one_line(capsys, "config key train.seed: must be an int in [0, 2**63 - 1], got -1")
    assert not (tmp_path / "runs" / "tiny").exists()


@pytest.mark.parametrize("option,value", [("--seed", str(2**70)), ("--seed", "-1"),
                                          ("--temperature", "nan"), ("--length", "-5")])
def test_generate_checks_its_arguments_before_it_reads_the_run(tmp_path, capsys, option, value):
    # tmp_path is no run folder: the argument is refused before the run is looked at
    assert main(["generate", str(tmp_path), "--prompt", "a", option, value]) == 2
    _one_line(capsys, option.lstrip("-") + " must be")

# -- 17. fit_model's functions and callbacks ---------------------------------------------------------

@pytest.mark.parametrize("loss,callbacks,exc,message", [
    (lambda m, b: (m(b["x"]) - b["y"]) ** 2, (), TypeError, r"loss: the loss must be a scalar .* got shape \(8,\)"),
    (lambda m, b: (mse(m, b)[0], {}, 1.0), (), TypeError, r"loss: must return a scalar loss or \(loss, metrics dict\), got a tuple of 3"),
    (lambda m, b: (mse(m, b)[0], {"err": m(b["x"])}), (), TypeError, r"loss: metric 'err' must be a scalar .* got shape \(8,\)"),
    (mse, [lambda t: None], TypeError, r"callbacks\[0\]: expected a jaxlstm.train.Callback instance .* got function"),
])
def test_fit_model_names_a_bad_loss_output_or_callback(tmp_path, loss, callbacks, exc, message):
    with pytest.raises(exc, match=message):
        fit_model(make_net(), loss, batch_of, optimizer=optax.adam(0.01), run_dir=tmp_path / "r", steps=2,
                  callbacks=callbacks, **QUIET)
    assert not (tmp_path / "r").exists()


# -- 19. config files and metrics.jsonl ---------------------------------------------------------------

def test_a_section_that_is_not_a_mapping_and_duplicate_keys_are_named(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("task: adding\nmodel: 3\n")
    with pytest.raises(ConfigError, match=r"config key model \(.*c.yaml\): must be a mapping of keys .* got 3"):
        load_config(path)
    path.write_text("task: adding\ntrain:\n  steps: 3\n  steps: 5\n")
    with pytest.raises(ConfigError, match=r"c.yaml: key 'steps' is given twice \(at lines 3 and 4\)"):
        load_config(path)


def test_config_schema_documents_the_data_section_of_every_task():
    from jaxlstm.train.lab.tasks import TASKS

    for task in TASKS:
        line = next(x for x in config_schema(task).splitlines() if x.startswith("data:"))
        assert "base class of the class hierarchy" not in line, (task, line)


def test_a_damaged_metrics_file_is_named_on_resume(tmp_path):
    run = tmp_path / "r"
    opts = dict(optimizer=optax.adam(0.01), run_dir=run, eval_data=VALID, log_every=1, **QUIET)
    fit_model(make_net(), mse, batch_of, steps=3, **opts)
    path = run / "metrics.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:2] + ["garbage {"] + lines[2:]) + "\n")
    with pytest.raises(MetricsFileError, match=r"metrics.jsonl:3 is not a JSON record \('garbage \{'\)"):
        fit_model(make_net(), mse, batch_of, steps=5, resume=True, **opts)
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(MetricsFileError, match=r"metrics.jsonl is not UTF-8 text \(byte 0\)"):
        fit_model(make_net(), mse, batch_of, steps=5, resume=True, **opts)
    path.write_text("\n".join(lines) + '\n{"step": 9, "spl')  # a torn last line is still fine
    summary = fit_model(make_net(), mse, batch_of, steps=5, resume=True, **opts)
    steps = [json.loads(x)["step"] for x in path.read_text().splitlines() if '"train"' in x]
    assert summary["steps"] == 5 and steps == [1, 2, 3, 4, 5]
