"""The README's code runs as written: the core API example and the config example."""

import re
from pathlib import Path

import numpy as np
import yaml

from jaxlstm.train.config import load_config

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_core_api_example_runs_and_the_composed_gates_equal_cell_step():
    code = next(b for b in _blocks("python") if "J.forget_gate" in b)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    J = scope["J"]
    # the example's own claim: composing the gate functions gives the fused step
    spec = J.CellSpec()
    params0 = J.init_lstm(scope["jax"].random.key(0), input_size=3, hidden_size=8, spec=spec)
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
    assert scope["hs"].shape[-1] == 16  # the bidirectional stack concatenates both directions


def test_config_example_is_a_valid_config():
    block = next(b for b in _blocks("yaml") if "task: char_lm" in b)
    cfg = load_config(yaml.safe_load(block))
    assert cfg.model.hidden_size == 256 and cfg.train.steps == 600
