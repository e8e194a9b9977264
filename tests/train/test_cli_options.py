"""The command line itself: --version, help on every option, `jaxlstm config TASK`, and
that --help / --version import none of the training stack."""

import argparse
import dataclasses
import re
import subprocess
import sys

import pytest
import yaml

import jaxlstm
from jaxlstm.cli import build_parser, main
from jaxlstm.train import load_config
from jaxlstm.train.lab.tasks import TASKS


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    out = capsys.readouterr().out.strip()
    assert re.fullmatch(r"jaxlstm \d+\.\d+\.\d+\S*", out) and out == f"jaxlstm {jaxlstm.__version__}"


def test_every_option_of_every_command_has_help():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == {"train", "sweep", "eval", "generate", "inspect", "config"}
    missing = []
    for name, command in [("jaxlstm", parser), *sub.choices.items()]:
        assert command.description or name == "jaxlstm", name
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{name} {action.option_strings or action.dest}")
    assert not missing, f"options without help text: {missing}"


def test_help_and_version_do_not_import_the_training_stack():
    code = ("import sys\nfrom jaxlstm.cli import main\n"
            "for argv in (['--help'], ['--version'], ['sweep', '--help']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "heavy = ('flax', 'optax', 'orbax', 'matplotlib', 'tqdm', 'omegaconf', 'jaxlstm.train')\n"
            "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("task", sorted(TASKS))
def test_config_prints_every_key_with_its_default(task, capsys, tmp_path):
    if task == "scripted_scores":
        pytest.skip("a test-only task")
    assert main(["config", task]) == 0
    text = capsys.readouterr().out
    printed = yaml.safe_load(text)
    # every key of the schema is printed with its default: the printed YAML loads as the
    # default config of the task, and nothing is missing or extra
    cfg = load_config(printed)
    default = load_config({"task": task})
    assert cfg.to_dict() == default.to_dict()
    assert set(printed) == {f.name for f in dataclasses.fields(default)}
    for section in ("model", "optim", "train", "data"):
        assert set(printed[section]) == set(default.to_dict()[section])
    # each key line says its type
    assert re.search(r"^  hidden_size: \d+ +# int$", text, flags=re.M)


def test_config_lists_tasks_and_rejects_unknown_ones(capsys):
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert all(re.search(rf"^{name} ", out, flags=re.M) for name in ("char_lm", "adding", "ctc"))
    assert main(["config", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jaxlstm config: error: config key task: must be one of") and "'nope'" in err
