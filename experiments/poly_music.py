"""The four polyphonic music benchmarks (JSB Chorales, Nottingham, MuseData, Piano-midi;
Boulanger-Lewandowski et al. 2012) with their published splits: one run per benchmark and
cell of configs/poly_<benchmark>.yaml, scored by the test frame NLL at the best
validation evaluation (early stopping).

    python experiments/poly_music.py --data-dir DIR [--benchmarks jsb nottingham ...]
        [--cells lstm gru rnn ...] [--out DIR] [key=value ...]

DIR holds JSB_Chorales.mat, Nottingham.mat, MuseData.mat and Piano_midi.mat (see
jaxlstm.data.poly_music). A cell name is a `model.cell`; "slstm" and "mlstm" also get
model.num_heads=4. key=value overrides go to every run (e.g. train.steps=500). Writes into
--out one run folder per (benchmark, cell), named <benchmark>_<cell>, and results.md: per
run, the test and valid NLL at the best validation evaluation, its step, the parameter
count and the wall time. A finished run (its summary.json present) is read back, not rerun.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from jaxlstm.train.lab.config import load_config  # noqa: E402
from jaxlstm.train.lab.config_run import fit  # noqa: E402
from jaxlstm.train.engine.metrics import read_metrics  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
FILES = {"jsb": "JSB_Chorales.mat", "nottingham": "Nottingham.mat", "musedata": "MuseData.mat",
         "pianomidi": "Piano_midi.mat"}
HEADS = {"slstm": ["model.num_heads=4"], "mlstm": ["model.num_heads=4"]}


def at_best_valid(records: list[dict]) -> dict:
    """The validation record with the lowest `nll` (the first of ties); it holds `test_nll`."""
    valid = [r for r in records if r.get("split") == "valid"]
    if not valid:
        raise ValueError("records: need at least one record with split 'valid', got none")
    return min(valid, key=lambda r: r["nll"])


def run(benchmark: str, cell: str, data_dir: Path, out: Path, overrides: list[str]) -> dict:
    """{benchmark, cell, test_nll, valid_nll, best_step, steps, params, wall_s} of one run."""
    name = f"{benchmark}_{cell}"
    run_dir = out / name
    if not (run_dir / "summary.json").is_file():
        cfg = load_config(CONFIGS / f"poly_{benchmark}.yaml", [
            f"data.path={data_dir / FILES[benchmark]}", f"model.cell={cell}", *HEADS.get(cell, []),
            f"name={name}", f"out_dir={out}", "train.progress=false", *overrides])
        fit(cfg, quiet=True)
    summary = json.loads((run_dir / "summary.json").read_text())
    best = at_best_valid(read_metrics(run_dir / "metrics.jsonl"))
    return {"benchmark": benchmark, "cell": cell, "test_nll": best["test_nll"], "valid_nll": best["nll"],
            "best_step": best["step"], "steps": summary["steps"], "params": summary["param_count"],
            "wall_s": summary["wall_time_s"]}


def table(rows: list[dict]) -> str:
    lines = ["| benchmark | cell | test NLL | valid NLL | best step / steps | params | wall s |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['benchmark']} | {r['cell']} | {r['test_nll']:.2f} | {r['valid_nll']:.2f} | "
              f"{r['best_step']} / {r['steps']} | {r['params']} | {r['wall_s']:.0f} |" for r in rows]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--benchmarks", nargs="+", default=list(FILES), choices=list(FILES))
    parser.add_argument("--cells", nargs="+", default=["lstm", "gru", "rnn"])
    parser.add_argument("--out", type=Path, default=Path("runs/poly_music"))
    argv = sys.argv[1:] if argv is None else list(argv)
    overrides = [a for a in argv if "=" in a and not a.startswith("-")]  # KEY=VALUE, anywhere
    args = parser.parse_args([a for a in argv if a not in overrides])
    rows = []
    for benchmark in args.benchmarks:
        for cell in args.cells:
            rows.append(run(benchmark, cell, args.data_dir, args.out, overrides))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.md").write_text(table(rows))
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
