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

from jaxlstm.train.engine.config_checks import ConfigError
from jaxlstm.train.engine.settings import TrainConfig
from jaxlstm.train.lab.config import Config, ModelConfig, OptimConfig
from jaxlstm.train.lab.tasks import TASKS, get_task

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


def _spec_lines(spec_type: type, indent: str) -> list[str]:
    """One line per field of a cell's spec: `name: default  # type; the docstring's words`."""
    notes = _attribute_notes(spec_type)
    lines = []
    for f in dataclasses.fields(spec_type):
        text = f"{indent}{f.name}: {_yaml_value(f.default)}"
        type_name = f.type if isinstance(f.type, str) else f.type.__name__
        note = type_name + (f"; {notes[f.name]}" if f.name in notes else "")
        lines.append(f"{text:<40s} # {note}")
    return lines


def _attribute_notes(cls: type) -> dict[str, str]:
    """{field: its first sentence} from the "Attributes:" part of `cls`'s docstring."""
    doc = inspect.getdoc(cls) or ""
    found = re.findall(r"^\s*(\w+): (.+)$", doc.split("Attributes:")[-1], flags=re.M)
    return {name: text.strip().rstrip(".") for name, text in found} if "Attributes:" in doc else {}


def _cell_lines(cell: str) -> list[str]:
    """The model section's cell-specific part: `cell`'s own keys, active, then every other
    cell's, commented out, with the modes each takes."""
    from jaxlstm.nn.encoder import cell_modes, cell_spec_type, cells

    spec_type = cell_spec_type(cell)
    lines = [f"  # the keys of cell: {cell} ({spec_type.__name__}); modes {list(cell_modes(cell))}"]
    lines += _spec_lines(spec_type, "  ")
    for other in cells():
        if other == cell:
            continue
        other_type = cell_spec_type(other)
        lines.append(f"  # with cell: {other}, its keys ({other_type.__name__}); modes "
                     f"{list(cell_modes(other))}" + ("" if dataclasses.fields(other_type) else ": none"))
        lines += ["  # " + line.lstrip() for line in _spec_lines(other_type, "")]
    return lines


def config_schema(task: str, cell: str = "lstm") -> str:
    """The YAML text of `task`'s default config with `model.cell: cell`, every key
    commented with its type; the model section lists every cell's own keys.

    Raises:
      ConfigError: `task` is not a registered task, or `cell` not a cell (the message
        lists them).
    """
    from jaxlstm.nn.encoder import cells

    if cell not in cells():
        raise ConfigError(f"cell must be one of {list(cells())}, got {cell!r}")
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
        section = _section_lines(cls, "  ")
        if cls is ModelConfig:
            section = [line for line in section if not line.lstrip().startswith("options:")]
            section[0] = f"{'  cell: ' + cell:<40s} # str; one of {list(cells())}"
            section += _cell_lines(cell)
        lines += section
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
