"""`experiments/padding.py --quick` keeps working: its table shows bucketing padding less."""

import importlib
import re
from pathlib import Path

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


def test_quick_padding_table(capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(EXPERIMENTS))
    importlib.import_module("padding").main(["--quick"])
    rows = dict(re.findall(r"^\| (.+?) \| ([\d.]+) % \|", capsys.readouterr().out, flags=re.M))
    assert len(rows) == 6
    unbucketed = float(rows["width cut per batch, rows at random (no bucketing)"])
    assert float(rows["bucketed epochs, sort pool 16 batches"]) < unbucketed
    assert float(rows["bucketed replacement (one length group per batch)"]) < unbucketed
