"""The experiment config schema, loaded from YAML with OmegaConf structured configs.

A config file has the sections `model`, `optim`, `train` and `data` plus the top-level
`name`, `task` and `out_dir`. `data` is validated against the chosen task's own
dataclass (`Task.Data`) and the constraints declared on its fields
(`jaxlstm.train.lab.data_options`). Unknown keys, wrong types and invalid values raise
`ConfigError` naming the key (e.g. "model.variant") and the valid choices.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

import jax
from flax import nnx

from jaxlstm.train.engine.config_checks import (ConfigError, check_choice, check_positive,  # noqa: F401
                                                check_seed, check_types)
from jaxlstm.train.engine.settings import TrainConfig
from jaxlstm.train.lab.data_options import check_data


@dataclass
class ModelConfig:
    """The recurrent encoder; `cell` picks the family, whose own options (its spec's fields,
    e.g. variant, peepholes for the LSTM, num_heads, chunk_size for mLSTM) sit beside these
    keys under `model:` (`jaxlstm config TASK` lists each cell's)."""

    cell: str = "lstm"
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0
    proj_size: Optional[int] = None   # LSTM only: the LSTMP projection size
    embed_dim: int = 64
    unroll: int = 1
    remat: int | bool = False         # 0/False none, True every step, k > 1 every k steps (≈√T)
    compute_dtype: str = "float32"    # matmul dtype; params, optimizer, cell state stay float32
    mode: str = "auto"                # the layer's form, one of the cell's modes (e.g. mlstm chunkwise, mingru parallel, gru newton)
    options: Any = None               # the cell's options: its spec, or a dict of its fields (in YAML: keys beside these)

    def __post_init__(self):
        from jaxlstm.nn.encoder import cell_modes, cell_spec_type, cells

        check_types("model", self)
        check_choice("model.cell", self.cell, cells())
        check_choice("model.compute_dtype", self.compute_dtype, ("float32", "bfloat16", "float16"))
        check_positive("model.remat", self.remat, allow_zero=True)
        for name in ("hidden_size", "num_layers", "embed_dim", "unroll", "proj_size"):
            check_positive(f"model.{name}", getattr(self, name))
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"config key model.dropout: must lie in [0, 1), got {self.dropout}")
        check_choice("model.mode", self.mode, cell_modes(self.cell))
        if self.proj_size is not None and self.cell != "lstm":
            raise ConfigError(f"config key model.proj_size: an LSTM option; cell={self.cell!r} "
                              f"has none, got {self.proj_size}")
        object.__setattr__(self, "_spec", build_spec(cell_spec_type(self.cell), self.options))
        self._check_sizes()

    @property
    def spec(self):
        """The cell's spec (e.g. a `CellSpec` for cell="lstm"), built from `options`."""
        return self._spec

    def _check_sizes(self) -> None:
        """The spec against the sizes (e.g. heads dividing hidden_size): the family's init
        traced abstractly, its error given the config keys."""
        from jaxlstm.nn.encoder import make_encoder

        kwargs = {key: value for key, value in self.encoder_kwargs().items() if key != "cell"}
        try:
            jax.eval_shape(lambda: nnx.state(make_encoder(self.cell, 1, rngs=nnx.Rngs(0),
                                                          **kwargs)))
        except (ValueError, TypeError) as e:
            named = [k for k in spec_keys(self.spec) if k in str(e)] or list(spec_keys(self.spec))
            keys = "/".join(f"model.{k}" for k in named) or "model.cell"
            raise ConfigError(f"config keys model.hidden_size/{keys}: {e}") from None

    def encoder_kwargs(self) -> dict:
        """Keyword arguments for `jaxlstm.nn.make_encoder` (and the task models)."""
        kw = dict(cell=self.cell, hidden_size=self.hidden_size, num_layers=self.num_layers,
                  bidirectional=self.bidirectional, dropout=self.dropout, unroll=self.unroll,
                  remat=self.remat, spec=self.spec, mode=self.mode)
        if self.compute_dtype != "float32":
            kw.update(compute_dtype=self.compute_dtype)
        if self.proj_size is not None:
            kw.update(proj_size=self.proj_size)
        return kw

    def to_dict(self) -> dict:
        """The `model:` section as written in a config: these keys and the spec's fields."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "options"}
        return {**out, **{key: getattr(self.spec, key) for key in spec_keys(self.spec)}}


def spec_keys(spec) -> tuple[str, ...]:
    """The field names of a spec dataclass (its config keys under `model:`)."""
    return tuple(f.name for f in dataclasses.fields(spec))


def build_spec(spec_type: type, value):
    """`value` (None, a dict of `spec_type`'s fields, or a `spec_type`) as a `spec_type`;
    an unknown field, a wrong type or an invalid value is a ConfigError naming the key."""
    if isinstance(value, spec_type):
        return value
    if value is not None and not isinstance(value, dict):
        raise ConfigError(f"config key model.options: must be a {spec_type.__name__} or a dict "
                          f"of its fields, got {type(value).__name__}")
    given = dict(value or {})
    known = spec_keys(spec_type)
    for key in given:
        if key not in known:
            raise ConfigError(f"config key model.{key}: not an option of this cell; its options "
                              f"({spec_type.__name__}) are {list(known)}")
    try:
        return spec_type(**given)
    except (TypeError, ValueError) as e:
        message = str(e)
        named = [key for key in known if f"{spec_type.__name__}.{key}" in message
                 or (key in given and re.search(rf"\b{key}\b", message))]
        for key in named:  # "MLSTMSpec.eps must be ..." -> "must be ..."
            message = message.replace(f"{spec_type.__name__}.{key} ", "", 1)
        message = message.replace(spec_type.__name__ + ".", "")
        where = "/".join(f"model.{k}" for k in (named or list(given) or list(known)))
        raise ConfigError(f"config key{'s' if len(named) > 1 else ''} {where}: {message}") from None


@dataclass
class OptimConfig:
    """Optax optimizer, learning-rate schedule and gradient clipping."""

    name: str = "adam"
    learning_rate: float = 1e-3
    schedule: str = "constant"
    warmup_steps: int = 0
    momentum: float = 0.9
    weight_decay: float = 0.0
    clip_norm: Optional[float] = 1.0

    def __post_init__(self):
        check_types("optim", self)
        check_choice("optim.name", self.name, ("adam", "adamw", "sgd", "rmsprop"))
        check_choice("optim.schedule", self.schedule, ("constant", "cosine", "linear"))
        check_positive("optim.learning_rate", self.learning_rate)
        check_positive("optim.warmup_steps", self.warmup_steps, allow_zero=True)
        check_positive("optim.clip_norm", self.clip_norm)
        check_positive("optim.momentum", self.momentum, allow_zero=True)
        check_positive("optim.weight_decay", self.weight_decay, allow_zero=True)


@dataclass
class Config:
    """A whole experiment. `data` holds the task's own options (`Task.Data`)."""

    name: str = "run"
    task: str = "char_lm"
    out_dir: str = "runs"
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: Any = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir) / self.name

    def to_dict(self) -> dict:
        """The config as written in a YAML file (the cell's options flat under `model:`)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {**{k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v
                   for k, v in out.items()}, "model": self.model.to_dict()}

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def _omegaconf_error(e: OmegaConfBaseException, source: str, section: str = "") -> ConfigError:
    key = getattr(e, "full_key", None)
    if key and section:
        key = f"{section}.{key}"
    msg = str(e).split("\n")[0]
    where = f"config key {key}" if key else "config"
    return ConfigError(f"{where} ({source}): {msg}")


def _yaml_error(e: yaml.YAMLError) -> str:
    """One line: what PyYAML found and where (1-based line and column)."""
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    what = " ".join(str(getattr(e, "problem", None) or e).split())
    return f"{what} at line {mark.line + 1}, column {mark.column + 1}" if mark else what


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise ConfigError(f"key {key!r} is given twice (at lines {seen[key] + 1} and "
                                  f"{key_node.start_mark.line + 1}); keep one")
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


SECTION_NAMES = ("model", "optim", "train", "data")

# The model keys of jaxlstm < 0.4, where every cell's options were keys of ModelConfig: a
# saved config (or an old file) sets them for every cell. At these values a cell that lacks
# them ignores them quietly; at any other it ignores them with a warning.
LEGACY_MODEL_KEYS = {"variant": "vanilla", "peepholes": False, "gate_activation": "sigmoid",
                     "candidate_activation": "tanh", "cell_activation": "tanh",
                     "forget_bias": 1.0, "num_heads": 1, "ratio": "1:1"}


def _gather_cell_options(user) -> None:
    """Move the cell's own keys of `user.model` (its spec's fields) into `model.options`, so
    the structured ModelConfig sees only its own keys; a key that is neither is a
    ConfigError naming it and the cell's keys."""
    from jaxlstm.nn.encoder import cell_spec_type, cells

    model = user.get("model")
    if model is None:
        return
    if "options" in model:
        raise ConfigError("config key model.options: give the cell's options as keys of "
                          "model: (e.g. model.num_heads=4), not as model.options")
    cell = model.get("cell", "lstm")
    check_choice("model.cell", cell, cells())
    own = spec_keys(cell_spec_type(cell))
    generic = [f.name for f in dataclasses.fields(ModelConfig) if f.name != "options"]
    owners = {}  # option -> the other cells that take it
    for other in cells():
        for key in spec_keys(cell_spec_type(other)):
            owners.setdefault(key, []).append(other)
    options = {}
    for key in list(model.keys()):
        if key in own:
            options[key] = model.pop(key)
        elif key in owners:  # a file written for another cell, with model.cell overridden
            value = model.pop(key)
            if LEGACY_MODEL_KEYS.get(key, object()) != value:
                warnings.warn(f"config key model.{key}={value!r} is an option of cell "
                              f"{' / '.join(owners[key])}, not of cell={cell!r}: ignored",
                              UserWarning, stacklevel=3)
        elif key not in generic:
            raise ConfigError(f"config key model.{key}: not an option of cell={cell!r}; its "
                              f"options are {list(own)}, and every cell takes {generic}")
    model["options"] = options


def load_config(path_or_dict, overrides: Sequence[str] = ()) -> Config:
    """Load and validate a config from a YAML path (or a dict), with `key=value` overrides.

    Raises:
      ConfigError: naming the key, for unknown keys, wrong types, invalid values,
        malformed YAML or a malformed override.
      FileNotFoundError: the YAML file does not exist.
      IsADirectoryError: the path is a directory.
    """
    from jaxlstm.train.lab.tasks import get_task

    if isinstance(path_or_dict, dict):
        raw, source = OmegaConf.create(path_or_dict), "dict"
    else:
        path = Path(path_or_dict)
        if path.is_dir():
            raise IsADirectoryError(f"config file {path} is a directory; give the YAML file "
                                    f"(e.g. {path / 'config.yaml'})")
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        source = str(path)
        try:
            loaded = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
        except ConfigError as e:
            raise ConfigError(f"config file {path}: {e}") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"config file {path} is not valid YAML: {_yaml_error(e)}") from None
        except UnicodeDecodeError as e:
            raise ConfigError(f"config file {path} is not UTF-8 text (byte {e.start})") from None
        if loaded is None or loaded == {}:
            raise ConfigError(f"config file {path} is empty; it must set at least `task` and "
                              f"its `data` (see configs/quickstart.yaml)")
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping of keys, got {type(loaded).__name__}")
        for section in SECTION_NAMES:
            if section in loaded and loaded[section] is not None and not isinstance(loaded[section], dict):
                raise ConfigError(f"config key {section} ({path}): must be a mapping of keys (e.g. "
                                  f"{section}: {{...}}), got {loaded[section]!r}")
        raw = OmegaConf.create(loaded)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must have the form key=value")
    try:
        user = OmegaConf.merge(raw, OmegaConf.from_dotlist(list(overrides)))
        data = user.pop("data", None) or {}
        _gather_cell_options(user)
        merged = OmegaConf.merge(OmegaConf.structured(Config), user)
        task = get_task(merged.task)
    except OmegaConfBaseException as e:
        raise _omegaconf_error(e, source) from None
    except KeyError as e:
        raise ConfigError(str(e.args[0])) from None
    try:
        cfg = OmegaConf.to_object(merged)
    except OmegaConfBaseException as e:
        raise _omegaconf_error(e, source) from None
    try:  # the task's `data:` section is merged on its own, so its keys get the prefix here
        cfg.data = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(task.Data), data))
    except OmegaConfBaseException as e:
        raise _omegaconf_error(e, source, section="data") from None
    check_data(cfg.data)
    return cfg
