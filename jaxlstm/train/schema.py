"""The config schema as text: every key of a task's config with its type and default.

`config_schema("char_lm")` is what `jaxlstm config char_lm` prints: a YAML document that
is itself a valid config (all defaults), each key followed by a comment giving its type
and, where the schema's source has one, the comment written beside the field.
"""

from __future__ import annotations

import dataclasses
import inspect
import re

import yaml

from jaxlstm.train.config import Config, ConfigError, ModelConfig, OptimConfig, TrainConfig
from jaxlstm.train.tasks import TASKS, get_task

SECTIONS = (("model", ModelConfig), ("optim", OptimConfig), ("train", TrainConfig))


def _yaml_value(value) -> str:
    """One YAML scalar or flow collection, as it would appear after `key: `."""
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True).strip()
    return text[:-4].rstrip() if text.endswith("\n...") else text


def _field_comments(cls: type) -> dict[str, str]:
    """{field: the comment on its line} from the dataclass's source (empty if unavailable)."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    found = re.findall(r"^\s+(\w+)\s*:[^#\n]*#\s*(.+)$", source, flags=re.M)
    return {name: comment.strip() for name, comment in found}


def _first_line(doc: str | None) -> str:
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def _own_doc(cls: type) -> str:
    """The first docstring written in `cls` or a base (not the signature that
    `dataclass` puts in `__doc__` of a class without one)."""
    for c in cls.__mro__:
        if c is object:
            break
        doc = c.__dict__.get("__doc__")
        if doc and not doc.startswith(c.__name__ + "("):
            return _first_line(doc)
    return ""


def _section_lines(cls: type, indent: str) -> list[str]:
    comments = _field_comments(cls)
    lines = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        text = f"{indent}{f.name}: {_yaml_value(default)}"
        note = f"{f.type}" + (f"; {comments[f.name]}" if f.name in comments else "")
        lines.append(f"{text:<40s} # {note}")
    return lines


def config_schema(task: str) -> str:
    """The YAML text of `task`'s default config, every key commented with its type.

    Raises:
      ConfigError: `task` is not a registered task (the message lists them).
    """
    try:
        task_cls = get_task(task)
    except KeyError as e:
        raise ConfigError(str(e.args[0])) from None
    top = {f.name: f for f in dataclasses.fields(Config)}
    lines = [f"# jaxlstm config of task {task!r}: every key, its type and its default.",
             "# Save as a file and edit, or override keys: jaxlstm train CONFIG model.hidden_size=64",
             f"{'name: ' + _yaml_value(top['name'].default):<40s} # str; the run folder's name",
             f"{'task: ' + task:<40s} # str; one of {sorted(TASKS)}",
             f"{'out_dir: ' + _yaml_value(top['out_dir'].default):<40s} # str; runs go to OUT_DIR/NAME"]
    for name, cls in SECTIONS:
        lines.append(f"{name + ':':<40s} # {_first_line(cls.__doc__)}")
        lines += _section_lines(cls, "  ")
    data = task_cls.Data
    lines.append(f"{'data:':<40s} # {_own_doc(data) or 'the data keys of ' + task}")
    lines += _section_lines(data, "  ")
    return "\n".join(lines) + "\n"


def task_summaries() -> dict[str, str]:
    """{task name: the first paragraph of its class's (or else its module's) docstring,
    cut to 100 characters}."""
    out = {}
    for name in sorted(TASKS):
        cls = TASKS[name]
        doc = cls.__dict__.get("__doc__") or inspect.getmodule(cls).__doc__
        line = _first_line(doc)
        out[name] = line if len(line) <= 100 else line[:99].rstrip() + "…"
    return out
