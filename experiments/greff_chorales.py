"""Greff et al. (2015), "LSTM: A Search Space Odyssey", on one of their own tasks: the eight
LSTM variants on the Bach chorales (configs/jsb_chorales.yaml), each with a small random
search, compared by test frame NLL as in their Figure 3.

    python experiments/greff_chorales.py [--trials 3] [--steps 1000] [--variants V ...]
        [--out DIR] [--quick] [key=value ...]

Variants in Greff's naming: vanilla (peepholes: CellSpec(peepholes=True)), NIG, NFG, NOG,
NIAF, NOAF and CIFG (each with peepholes, as in the paper), NP (no peepholes: CellSpec()).
`--variants ... peephole_full` adds this library's full-peephole cell (not one of Greff's).

Random search: trial k draws, with NumPy seed k, a hidden size log-uniform in [20, 100], an
Adam learning rate log-uniform in [3e-3, 3e-2] and a Gaussian input-noise std uniform in
[0, 0.3]; trial k uses the same draw and train.seed = k for every variant (a paired design).
Each trial trains --steps steps (batch 16, random windows of at most 128 steps of the few
longer pieces) and is scored by the test NLL at its best validation evaluation (every 100
steps; early stopping, as Greff et al.). Writes into --out: results.csv
(one row per trial), results.md (per variant: median, mean and range of the test NLL, the
test NLL of the trial best on validation, and the paired t-test against vanilla) and
greff_chorales.png (box plots like their Figure 3). Finished trials are read back, so an
interrupted study continues. `--quick`: vanilla and NFG, 1 trial, 2 steps, hidden size 8
(a smoke test; pass data.corpus=<folder> to run it on a few score files).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from jaxlstm.train.lab.config import load_config  # noqa: E402
from jaxlstm.train.lab.config_run import fit  # noqa: E402
from jaxlstm.train.engine.metrics import read_metrics  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "jsb_chorales.yaml"
VARIANTS = {
    "vanilla": ["model.variant=vanilla", "model.peepholes=true"],
    **{name.upper(): [f"model.variant={name}", "model.peepholes=true"]
       for name in ("nig", "nfg", "nog", "niaf", "noaf", "cifg")},
    "NP": ["model.variant=vanilla", "model.peepholes=false"],
    "peephole_full": ["model.variant=peephole_full", "model.peepholes=false"],
}
GREFF = ("vanilla", "NIG", "NFG", "NOG", "NIAF", "NOAF", "CIFG", "NP")
SEARCH = {"hidden_size": (20, 100), "learning_rate": (3e-3, 3e-2), "input_noise": (0.0, 0.3)}
QUICK = ["model.hidden_size=8", "train.steps=2", "train.eval_every=1", "train.checkpoint_every=2"]


def sample_trial(k: int) -> dict:
    """Trial k's hyperparameters, drawn with `np.random.default_rng(k)`: hidden size and
    learning rate log-uniform, input noise uniform, in the ranges of `SEARCH`."""
    rng = np.random.default_rng(k)
    log_uniform = lambda lo, hi: math.exp(rng.uniform(math.log(lo), math.log(hi)))  # noqa: E731
    return {"hidden_size": int(round(log_uniform(*SEARCH["hidden_size"]))),
            "learning_rate": float(f"{log_uniform(*SEARCH['learning_rate']):.3g}"),
            "input_noise": float(f"{rng.uniform(*SEARCH['input_noise']):.3g}")}


def at_best_valid(records: list[dict]) -> dict:
    """The validation record with the lowest `nll` (the first of ties): the trial's early-
    stopping point, holding its `test_nll`."""
    valid = [r for r in records if r.get("split") == "valid"]
    return min(valid, key=lambda r: r["nll"])


def run_trial(variant: str, k: int, out: Path, overrides: list[str], quick: bool) -> dict:
    hp = sample_trial(k)
    search = [] if quick else [f"model.hidden_size={hp['hidden_size']}",
                               f"optim.learning_rate={hp['learning_rate']}",
                               f"data.input_noise={hp['input_noise']}"]
    cfg = load_config(CONFIG, [*search, *overrides, *VARIANTS[variant], f"train.seed={k}",
                               f"out_dir={out}", f"name={variant}-trial{k}", "train.progress=false"])
    done = cfg.run_dir / "summary.json"
    if done.is_file() and load_config(cfg.run_dir / "config.yaml").to_dict() != cfg.to_dict():
        raise SystemExit(f"{cfg.run_dir} holds a finished run of another config; choose another --out")
    t0 = time.perf_counter()
    summary = json.loads(done.read_text()) if done.is_file() else fit(cfg, quiet=True)
    best = at_best_valid(read_metrics(cfg.run_dir / "metrics.jsonl"))
    row = {"variant": variant, "trial": k, "hidden_size": cfg.model.hidden_size,
           "learning_rate": cfg.optim.learning_rate, "input_noise": cfg.data.input_noise,
           "steps": summary["steps"], "best_step": best["step"], "valid_nll": best["nll"],
           "test_nll": best["test_nll"], "params": summary["param_count"],
           "wall_s": summary.get("wall_time_s")}
    print(f"{variant} trial {k} (H={row['hidden_size']}, lr={row['learning_rate']}, noise="
          f"{row['input_noise']}): test NLL {row['test_nll']:.3f} at step {row['best_step']} "
          f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    return row


def compare(rows: list[dict]) -> list[dict]:
    """Per variant: trials, median/mean/min/max test NLL, the test NLL of the trial with the
    best validation NLL, and (paired by trial) the mean difference to vanilla with the
    two-sided paired t-test p-value (None for vanilla or under 2 shared trials)."""
    from scipy import stats

    by = {}
    for r in rows:
        by.setdefault(r["variant"], {})[r["trial"]] = r
    base = by.get("vanilla", {})
    out = []
    for variant, trials in by.items():
        test = np.array([t["test_nll"] for t in trials.values()])
        best = min(trials.values(), key=lambda t: t["valid_nll"])
        shared = sorted(set(trials) & set(base)) if variant != "vanilla" else []
        diff = np.array([trials[k]["test_nll"] - base[k]["test_nll"] for k in shared])
        p = None
        if len(shared) >= 2 and np.any(diff != diff[0]):
            p = float(stats.ttest_rel([trials[k]["test_nll"] for k in shared],
                                      [base[k]["test_nll"] for k in shared]).pvalue)
        out.append({"variant": variant, "trials": len(test), "median": float(np.median(test)),
                    "mean": float(test.mean()), "min": float(test.min()), "max": float(test.max()),
                    "best_by_valid": best["test_nll"],
                    "diff_vs_vanilla": float(diff.mean()) if shared else None,
                    "p_value": p})
    return out


def write_report(rows: list[dict], out: Path, title: str) -> str:
    with open(out / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    stats = compare(rows)
    fmt = lambda v, spec: "–" if v is None else format(v, spec)  # noqa: E731
    lines = [f"# {title}", "",
             "| variant | trials | test NLL median | mean | min | max | best trial (by valid) "
             "| mean diff. to vanilla (paired) | p (paired t-test) |",
             "|" + " --- |" * 9]
    for s in stats:
        lines.append(f"| {s['variant']} | {s['trials']} | {s['median']:.3f} | {s['mean']:.3f} | "
                     f"{s['min']:.3f} | {s['max']:.3f} | {s['best_by_valid']:.3f} | "
                     f"{fmt(s['diff_vs_vanilla'], '+.3f')} | {fmt(s['p_value'], '.3g')} |")
    table = "\n".join(lines)
    (out / "results.md").write_text(table + "\n", encoding="utf-8")
    plot(rows, stats, out / "greff_chorales.png", title)
    return table


def plot(rows: list[dict], stats: list[dict], path: Path, title: str) -> None:
    """Box plots of each variant's test NLL over trials (Greff et al. Fig. 3 style: box the
    quartiles, whiskers the whole range, red line the median, red dot the mean; blue and
    thick where the paired t-test against vanilla gives p < 0.05), and the paired
    difference to vanilla per trial."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = [s["variant"] for s in stats]
    data = [[r["test_nll"] for r in rows if r["variant"] == v] for v in variants]
    fig, (ax, ax_diff) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    boxes = ax.boxplot(data, whis=(0, 100), patch_artist=True, medianprops={"color": "red"})
    for box, s in zip(boxes["boxes"], stats):
        significant = s["p_value"] is not None and s["p_value"] < 0.05
        box.set(facecolor="white", edgecolor="tab:blue" if significant else "black",
                linewidth=2.5 if significant else 1.0)
    ax.scatter(range(1, len(data) + 1), [np.mean(d) for d in data], color="red", zorder=3, s=18)
    ax.set_xticks(range(1, len(variants) + 1), variants, rotation=30)
    ax.set_ylabel("test frame NLL (nats), at best valid step")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    base = {r["trial"]: r["test_nll"] for r in rows if r["variant"] == "vanilla"}
    others = [v for v in variants if v != "vanilla"]
    for i, v in enumerate(others):
        diffs = [r["test_nll"] - base[r["trial"]] for r in rows if r["variant"] == v and r["trial"] in base]
        ax_diff.scatter(np.full(len(diffs), i), diffs, s=14, alpha=0.8)
    ax_diff.axhline(0.0, color="gray", lw=1)
    ax_diff.set_xticks(range(len(others)), others, rotation=30)
    ax_diff.set_ylabel("test NLL minus vanilla's, same trial")
    ax_diff.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=3, help="random-search trials per variant")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--variants", nargs="+", default=list(GREFF), choices=list(VARIANTS))
    parser.add_argument("--out", type=Path, default=Path("runs/greff_chorales"))
    parser.add_argument("--quick", action="store_true", help="seconds-long smoke test")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides")
    args = parser.parse_args(argv)
    if args.trials < 1:
        parser.error(f"--trials must be >= 1, got {args.trials}")
    if args.quick:
        variants, trials, overrides = ["vanilla", "NFG"], 1, QUICK + args.overrides
    else:
        variants, trials = args.variants, args.trials
        overrides = [f"train.steps={args.steps}", "train.eval_every=100", "data.max_train_steps=128",
                     f"train.checkpoint_every={args.steps}", *args.overrides]
    args.out.mkdir(parents=True, exist_ok=True)
    rows = [run_trial(v, k, args.out, overrides, args.quick) for k in range(trials) for v in variants]
    table = write_report(rows, args.out, f"LSTM variants on the Bach chorales: {trials} random-search "
                                         f"trials per variant, {rows[0]['steps']} steps each")
    print(table)
    print(f"wrote {args.out / 'results.md'}, results.csv and greff_chorales.png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
