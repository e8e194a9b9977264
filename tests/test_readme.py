"""The README's code runs as written: the two commands, the core and NNX examples, the config."""

import re
import tomllib
from pathlib import Path

import jax
import numpy as np
import yaml

from jaxlstm.train.lab.config import load_config

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def _run_core_example() -> dict:
    code = next(b for b in _blocks("python") if "J.forget_gate" in b)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    return scope


def test_the_readme_is_the_front_door():
    assert len(README.splitlines()) <= 300
    first = _blocks("bash")[0].splitlines()
    install_and_train, install_and_test = first[0], first[1]
    # the two commands: an install that brings the quick start's dependencies, then the
    # quick start config; and the complete install, then the test suite
    assert re.match(r'pip install -e "\.\[train\]" && jaxlstm train configs/quickstart\.yaml', install_and_train)
    assert re.match(r'pip install -e "\.\[dev\]" && python -m pytest', install_and_test)
    assert (ROOT / "configs" / "quickstart.yaml").is_file()
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert "train" in extras and "dev" in extras
    for link in re.findall(r"\]\((docs/[^)#]+)", README):
        assert (ROOT / link).is_file(), f"README links to a missing page: {link}"


def test_core_api_example_runs_and_the_composed_gates_equal_cell_step():
    scope = _run_core_example()
    J = scope["J"]
    # the example's own claim: composing the gate functions gives the fused step
    spec = J.CellSpec()
    params0 = J.init_lstm(jax.random.key(0), input_size=3, hidden_size=8, spec=spec)
    state = J.zero_state(params0)
    x = scope["xs"][0]
    f = J.forget_gate(params0, state, x, spec)
    i = J.input_gate(params0, state, x, spec)
    g = J.candidate(params0, state, x, spec)
    c = f * state.c + i * g
    h = J.output_gate(params0, state, x, spec, c_new=c) * np.tanh(c)
    new_state, _ = J.cell_step(params0, state, x, spec)
    np.testing.assert_allclose(h, new_state.h, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(c, new_state.c, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(scope["h"], new_state.h, rtol=1e-6, atol=1e-6)
    # the jit(grad(...)) example returns gradients shaped like the parameters
    grads, params = scope["grads"], scope["params"]
    assert jax.tree.structure(grads) == jax.tree.structure(params)
    assert all(g.shape == p.shape for g, p in zip(jax.tree.leaves(grads), jax.tree.leaves(params)))
    assert scope["hs"].shape[-1] == 16  # the bidirectional stack concatenates both directions


def test_nnx_example_runs_and_eval_turns_dropout_off():
    scope = _run_core_example()
    code = next(b for b in _blocks("python") if "nnx.RNN" in b)
    exec(compile(code, "README.md", "exec"), scope)
    model, batch, lengths = scope["model"], scope["batch"], scope["lengths"]
    _, again = model(batch, lengths=lengths, state_first=True)
    np.testing.assert_array_equal(scope["hs"], again)  # evaluation mode: no random masks
    assert scope["ys"].shape == (4, 20, 8)


def test_config_example_is_a_valid_config():
    block = next(b for b in _blocks("yaml") if "task: char_lm" in b)
    cfg = load_config(yaml.safe_load(block))
    assert cfg.model.hidden_size == 256 and cfg.train.steps == 600
    assert cfg.train.writers == ["jsonl", "tensorboard"]


def test_the_fit_model_example_trains_and_loads_in_under_25_lines(tmp_path, monkeypatch):
    code = next(b for b in _blocks("python") if "fit_model(" in b)
    assert len(code.strip().splitlines()) <= 25
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    final = scope["summary"]["final"]
    # the claim next to the example: far below predicting the mean (variance of a sum of 20
    # uniform(-1, 1) values = 20/3)
    assert final["valid/loss"] < 0.05 * 20 / 3
    model, batch = scope["model"], scope["batch"](123)
    np.testing.assert_allclose(np.asarray(model(batch["xs"])), batch["total"], atol=0.5)
    assert (tmp_path / "runs" / "summer" / "summary.json").is_file()
