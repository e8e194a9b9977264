"""Config loading: validation errors name the key; overrides; the resolved config."""

import pytest

from jaxlstm.train import ConfigError, load_config


def test_defaults_overrides_and_task_data(tiny_lm):
    cfg = load_config(tiny_lm, ["model.hidden_size=32", "data.seq_len=8", "optim.clip_norm=null"])
    assert cfg.model.hidden_size == 32 and cfg.data.seq_len == 8 and cfg.optim.clip_norm is None
    assert cfg.train.batch_size == 8 and cfg.model.num_layers == 1  # file, then default


def test_resolved_config_reproduces_itself(tiny_lm, tmp_path):
    cfg = load_config(tiny_lm, ["model.variant=cifg", "model.peepholes=true"])
    saved = tmp_path / "resolved.yaml"
    saved.write_text(cfg.to_yaml())
    assert load_config(saved).to_dict() == cfg.to_dict()


@pytest.mark.parametrize("override,message", [
    ("model.hidden_sise=3", r"config key model.hidden_sise: not an option of cell='lstm'; its options "
                            r"are \['variant', .*'forget_bias'\], and every cell takes \['cell', "
                            r"'hidden_size', .*'mode'\]"),
    ("model.chunk_sise=4", r"config key model.chunk_sise: not an option of cell='lstm'"),
    ("model.proj_size=4", None),
    ("model.hidden_size=abc", r"config key model.hidden_size .*Value 'abc' (of type 'str' )?could not be converted to Integer"),
    ("model.variant=lstm2", r"config key model.variant: must be one of \['vanilla', .*'shared_preact'\], got 'lstm2'"),
    ("model.cell=tcn", r"config key model.cell: must be one of \['lstm', 'gru', 'rnn', 'mingru', 'minlstm', 'mlstm', 'slstm', 'paragru', 'paralstm', 'xlstm'\], got 'tcn'"),
    ("model.dropout=1.5", r"config key model.dropout: must lie in \[0, 1\), got 1.5"),
    ("optim.name=lion", r"config key optim.name: must be one of \['adam', 'adamw', 'sgd', 'rmsprop'\], got 'lion'"),
    ("train.steps=0", r"config key train.steps: must be > 0, got 0"),
    ("task=nope", r"config key task: must be one of \[.*'char_lm'.*\], got 'nope'"),
    ("data.sequence_len=3", r"config key data.sequence_len .*Key 'sequence_len' not in 'CharLMData'"),
    ("data.valid_fraction=2.0", r"config key data.valid_fraction: must lie in \(0, 1\), got 2.0"),
    ("model.peepholes=true", None),
    ("noequals", r"override 'noequals' must have the form key=value"),
])
def test_invalid_values_name_the_key(tiny_lm, override, message):
    if message is None:
        load_config(tiny_lm, [override])  # valid
        return
    with pytest.raises(ConfigError, match=message):
        load_config(tiny_lm, [override])


def test_peephole_combination_error(tiny_lm):
    with pytest.raises(ConfigError, match="model.variant/model.peepholes"):
        load_config(tiny_lm, ["model.variant=peephole_full", "model.peepholes=true"])


def test_malformed_and_missing_files(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {hidden_size: 3\n  oops")
    with pytest.raises(ConfigError, match=f"config file {bad} is not valid YAML"):
        load_config(bad)
    lst = tmp_path / "list.yaml"
    lst.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must hold a mapping of keys, got list"):
        load_config(lst)
    with pytest.raises(FileNotFoundError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")


def test_every_shipped_config_is_valid():
    from pathlib import Path

    configs = sorted(Path(__file__).parents[2].joinpath("configs").glob("*.yaml"))
    assert configs, "no configs found"
    for path in configs:
        load_config(path)
