"""The experiment lab: YAML configs (`config`, `schema`), the tasks they name (`tasks`),
`fit(cfg)` and `load_run` (`config_run`), `load_model`, sweeps, sampling and inspection,
all on top of `jaxlstm.train.engine`."""
