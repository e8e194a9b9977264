"""Shared helpers of the long-time-lag experiments (`greff_variants.py`, `forget_bias.py`):
their common command line, and training one config at several override points and seeds
with `jaxlstm.train.lab.config_run.fit`.

A run whose folder already holds a `summary.json` of the same config is read back
instead of retrained, so an interrupted experiment continues where it stopped (a
finished run of a different config there is an error).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from jaxlstm.train.lab.config import load_config  # noqa: E402
from jaxlstm.train.lab.config_run import fit  # noqa: E402
from jaxlstm.train.engine.metrics import read_metrics  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
# --quick: a seconds-long smoke test of configs/adding.yaml (T = 10, tiny sizes, 4 steps).
QUICK = ["data.min_length=10", "data.eval_size=16", "model.hidden_size=4", "train.steps=4",
         "train.batch_size=4", "train.eval_every=2", "train.checkpoint_every=4"]


def argument_parser(doc: str, out: str) -> argparse.ArgumentParser:
    """The scripts' common options: --seeds, --steps, --out (default `out`), --quick and
    key=value overrides; the description is the first paragraph of `doc`."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=None, help="override the step budget")
    parser.add_argument("--out", type=Path, default=Path(out))
    parser.add_argument("--quick", action="store_true", help="seconds-long smoke test")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides")
    return parser


def run_overrides(parser: argparse.ArgumentParser, args: argparse.Namespace,
                  budget: list[str]) -> tuple[list[str], int]:
    """(config overrides, seeds) of the parsed `args`: QUICK and 1 seed with --quick, else
    `budget` and --seeds (a parser error if < 1); then --steps and the key=value overrides."""
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1, got {args.seeds}")
    overrides = list(QUICK if args.quick else budget)
    if args.steps is not None:
        overrides += [f"train.steps={args.steps}", f"train.checkpoint_every={args.steps}"]
    return overrides + args.overrides, 1 if args.quick else args.seeds


def train_points(config: str, points: dict[str, list[str]], seeds: int, out_dir: Path,
                 overrides: list[str]) -> list[dict]:
    """Train `configs/<config>.yaml` with `overrides` + each point's overrides, for seeds
    0..seeds-1, into out_dir/<label>-seed<k>.

    points: {label: [key=value, ...]}. Returns one dict per run: label, seed, point
    ({key: value} of the point's overrides), summary (summary.json) and records
    (metrics.jsonl), as `write_sweep_report` takes them.
    """
    runs = []
    for label, point in points.items():
        for seed in range(seeds):
            name = f"{label}-seed{seed}"
            cfg = load_config(CONFIGS / f"{config}.yaml", [*overrides, *point, f"train.seed={seed}",
                                                            f"out_dir={out_dir}", f"name={name}",
                                                            "train.progress=false"])
            done = cfg.run_dir / "summary.json"
            if done.is_file() and load_config(cfg.run_dir / "config.yaml").to_dict() != cfg.to_dict():
                raise SystemExit(f"{cfg.run_dir} holds a finished run of another config; "
                                 f"choose another --out")
            t0 = time.perf_counter()
            summary = json.loads(done.read_text()) if done.is_file() else fit(cfg, quiet=True)
            print(f"{name}: best {summary['monitor']} = {summary['best']:.4g} at step "
                  f"{summary['best_step']} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)
            values = dict(o.split("=", 1) for o in point)
            runs.append({"label": label, "seed": seed, "point": values, "summary": summary,
                         "records": read_metrics(cfg.run_dir / "metrics.jsonl")})
    return runs
