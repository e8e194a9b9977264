"""The modern-cell reproductions and benchmark keep working: a few steps of each."""

import importlib.util
import re
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # minutes on 2 cores: the slow tier (.ci/run)

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


def _load(name):
    sys.path.insert(0, str(EXPERIMENTS))
    spec = importlib.util.spec_from_file_location(name, EXPERIMENTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_state_tracking_smoke(capsys):
    _load("state_tracking").main(["--steps", "2", "--test-lens", "4,8", "--cells", "slstm,minlstm",
                                  "--tasks", "parity", "--hidden", "4"])
    rows = re.findall(r"^\| parity \| (\w+) \| 4 \| \d+ \| ([\d.]+) \| ([\d.]+) \|", capsys.readouterr().out, re.M)
    assert [r[0] for r in rows] == ["slstm", "minlstm"]
    assert all(0.0 <= float(a) <= 1.0 for r in rows for a in r[1:])


def test_mqar_smoke_matches_budget(capsys):
    mqar = _load("mqar")
    tokens, targets, mask = mqar.batch(__import__("numpy").random.default_rng(0), 2, 3, 5)
    # queries repeat the keys, and each target is the value that followed its key
    for b in range(2):
        pairs = dict(zip(tokens[b, 0:6:2], tokens[b, 1:6:2]))
        assert [pairs[q] for q in tokens[b, 6:]] == list(targets[b, 6:])
    assert mask[:, :6].sum() == 0 and mask[:, 6:].all()
    mqar.main(["--steps", "2", "--budget", "1500", "--pairs", "2", "--vocab", "4"])
    rows = re.findall(r"^\| (\w+) \| \d+ \| \d+ \| (\d+) \|", capsys.readouterr().out, re.M)
    assert [r[0] for r in rows] == ["lstm", "mlstm"] and all(int(r[1]) <= 1500 for r in rows)


@pytest.mark.filterwarnings("ignore")
def test_bench_modern_quick(capsys):
    _load("bench_modern").main(["--quick"])
    row = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 16 |")]
    assert len(row) == 1
    cells = row[0].strip("| ").split(" | ")[1:]
    assert len(cells) == 11 and all(float(c) > 0 for c in cells[:9])
