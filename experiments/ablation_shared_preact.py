"""Seed 001's mistake, measured: an LSTM whose four gates share one pre-activation.

Seed 001 swapped the Elman RNN of its sequence-prediction example for an LSTM and found
the LSTM *worse*. Its step computed a single preact = x W + h U + b and took
f = i = o = sigmoid(preact), C~ = tanh(preact): every gate of a unit opens and closes
together, and the unit has one unit's worth of weights, like the RNN. This script trains
that cell (`model.variant=shared_preact`), the real LSTM (`vanilla`) and the RNN
(`model.cell=rnn`) on the forecasting task (configs/forecast.yaml) over a few seeds and
compares their held-out test RMSE with the naive forecasts.

    python experiments/ablation_shared_preact.py                       # 3 seeds, ~5 min on 2 cores
    python experiments/ablation_shared_preact.py --seeds 5 data.horizon=26

Writes results.md, results.json and ablation.png into --out (default runs/ablation_shared_preact).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from jaxlstm.train.lab.config import load_config  # noqa: E402
from jaxlstm.train.lab.config_run import fit  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "forecast.yaml"
MODELS = {  # label -> overrides
    "lstm (vanilla)": ["model.cell=lstm", "model.variant=vanilla"],
    "lstm (shared_preact)": ["model.cell=lstm", "model.variant=shared_preact"],
    "rnn": ["model.cell=rnn"],
}


def run_ablation(seeds: int = 3, out_dir="runs/ablation_shared_preact", overrides=(), config=CONFIG,
                 quiet: bool = True) -> list[dict]:
    """Train every model of MODELS with seeds 0..seeds-1; write the table and the plot.

    Returns one row per model: test RMSE/MAE (median, min, max over seeds), parameters.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, baseline = [], {}
    for label, model_overrides in MODELS.items():
        summaries = []
        for seed in range(seeds):
            name = f"{label.replace(' ', '').replace('(', '_').replace(')', '')}-seed{seed}"
            cfg = load_config(config, [*overrides, *model_overrides, f"train.seed={seed}",
                                       f"out_dir={out_dir}", f"name={name}"])
            print(f"== {label} seed {seed}", file=sys.stderr)
            summaries.append(fit(cfg, quiet=quiet))
        baseline = summaries[0]["baseline"]
        rmse = np.array([s["final"]["valid/test_rmse"] for s in summaries])
        mae = np.array([s["final"]["valid/test_mae"] for s in summaries])
        rows.append({"model": label, "seeds": seeds, "params": summaries[0]["param_count"],
                     "test_rmse": rmse.tolist(), "test_rmse_median": float(np.median(rmse)),
                     "test_rmse_min": float(rmse.min()), "test_rmse_max": float(rmse.max()),
                     "test_mae_median": float(np.median(mae))})
    _write_table(rows, baseline, out_dir / "results.md")
    _plot(rows, baseline, out_dir / "ablation.png",
          f"seed 001 ablation on {cfg.data.series}, horizon {cfg.data.horizon}: shared gate pre-activation")
    (out_dir / "results.json").write_text(json.dumps({"rows": rows, "baseline": baseline}, indent=2) + "\n")
    return rows


def _baselines(baseline: dict) -> dict:
    """{"last value": (rmse, mae), "seasonal naive": ...} of the test part."""
    names = {"last value": "test_last_value", "seasonal naive": "test_seasonal_naive"}
    return {label: (baseline[f"{key}_rmse"], baseline[f"{key}_mae"])
            for label, key in names.items() if f"{key}_rmse" in baseline}


def _write_table(rows: list[dict], baseline: dict, path: Path) -> None:
    lines = ["| model | params | seeds | test RMSE median | min | max | test MAE median |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['params']} | {r['seeds']} | {r['test_rmse_median']:.4g} | "
                     f"{r['test_rmse_min']:.4g} | {r['test_rmse_max']:.4g} | {r['test_mae_median']:.4g} |")
    for label, (rmse, mae) in _baselines(baseline).items():
        lines.append(f"| {label} (baseline) | 0 | - | {rmse:.4g} | | | {mae:.4g} |")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


def _plot(rows: list[dict], baseline: dict, path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for k, r in enumerate(rows):
        ax.scatter(np.full(len(r["test_rmse"]), k), r["test_rmse"], s=25, zorder=3)
        ax.hlines(r["test_rmse_median"], k - 0.25, k + 0.25, color="black")
    top = 1.25 * max(max(max(r["test_rmse"]) for r in rows), *(b for b, _ in _baselines(baseline).values()))
    top = min(top, 1.6 * max(max(r["test_rmse"]) for r in rows))  # a far-off baseline is named, not drawn
    for (label, (rmse, _)), style in zip(_baselines(baseline).items(), ("--", ":")):
        above = " (above)" if rmse > top else ""
        ax.axhline(rmse, color="gray", ls=style, label=f"{label}: {rmse:.3g}{above}")
    ax.set_ylim(0, top)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([f"{r['model']}\n{r['params']} params" for r in rows], fontsize=8)
    ax.set_ylabel("test RMSE (series units)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8), ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("overrides", nargs="*", help="key=value overrides of configs/forecast.yaml")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", default="runs/ablation_shared_preact")
    args = parser.parse_args(argv)
    run_ablation(args.seeds, args.out, args.overrides)
    return 0


if __name__ == "__main__":
    sys.exit(main())
