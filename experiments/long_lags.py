"""Shared helper of the long-time-lag experiments (`greff_variants.py`, `forget_bias.py`):
train one config at several override points and seeds with `jaxlstm.train.loop.fit`.

A run whose folder already holds a `summary.json` of the same config is read back
instead of retrained, so an interrupted experiment continues where it stopped (a
finished run of a different config there is an error).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from jaxlstm.train.config import load_config  # noqa: E402
from jaxlstm.train.loop import fit  # noqa: E402
from jaxlstm.train.metrics import read_metrics  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def train_points(config: str, points: dict[str, list[str]], seeds: int, out_dir: Path,
                 overrides: list[str]) -> list[dict]:
    """Train `configs/<config>.yaml` with `overrides` + each point's overrides, for seeds
    0..seeds-1, into out_dir/<label>-seed<k>.

    points: {label: [key=value, ...]}. Returns one dict per run: label, seed, summary
    (summary.json) and records (metrics.jsonl).
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
            runs.append({"label": label, "seed": seed, "point": point, "summary": summary,
                         "records": read_metrics(cfg.run_dir / "metrics.jsonl")})
    return runs
