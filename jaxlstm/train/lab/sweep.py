"""The report of a sweep: a Markdown/CSV table and a plot of the monitored metric."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from jaxlstm.train.engine.metrics import write_json_atomic  # noqa: E402
from jaxlstm.train.engine.provenance import provenance  # noqa: E402


def write_sweep_report(runs: list[dict], sweep_dir: Path, title: str = "") -> str:
    """Write results.csv, results.md, results.json and sweep.png into `sweep_dir`.

    runs: dicts with "label", "seed", "point" ({config key: value} of the grid point) and
    the run's "summary". One table row per grid point: the monitored metric's median, min
    and max over seeds. results.csv has one row per run and one column per grid key.
    """
    sweep_dir = Path(sweep_dir)
    monitor = runs[0]["summary"]["monitor"]
    keys = list(dict.fromkeys(k for r in runs for k in r["point"]))
    by_label: dict[str, list] = {}
    for r in runs:
        by_label.setdefault(r["label"], []).append(r)
    rows = []
    for label, group in by_label.items():
        best = np.array([g["summary"]["best"] for g in group], float)
        final = [g["summary"]["final"] for g in group]
        rows.append({"point": label, **{k: group[0]["point"].get(k) for k in keys},
                     "seeds": len(group), f"best {monitor} median": float(np.median(best)),
                     "min": float(best.min()), "max": float(best.max()),
                     "steps": int(np.median([g["summary"]["steps"] for g in group])),
                     "params": group[0]["summary"]["param_count"],
                     "final": {k: float(np.median([f[k] for f in final if k in f])) for k in final[0]}})
    with open(sweep_dir / "results.csv", "w", newline="") as f:
        writer = csv.writer(f)
        final_keys = list(runs[0]["summary"]["final"])
        writer.writerow(["point", *keys, "seed", "best", "best_step", "steps", *final_keys])
        for r in runs:
            s = r["summary"]
            writer.writerow([r["label"], *(r["point"].get(k, "") for k in keys), r["seed"], s["best"],
                             s["best_step"], s["steps"], *(s["final"].get(k, "") for k in final_keys)])
    header = f"| point | seeds | best {monitor} (median) | min | max | steps | params |"
    lines = [header, "|" + " --- |" * 7]
    for row in rows:
        lines.append(f"| {row['point']} | {row['seeds']} | {row[f'best {monitor} median']:.4g} | "
                     f"{row['min']:.4g} | {row['max']:.4g} | {row['steps']} | {row['params']} |")
    table = "\n".join(lines)
    (sweep_dir / "results.md").write_text(f"# {title}\n\n{table}\n", encoding="utf-8")
    write_json_atomic(sweep_dir / "results.json", {"monitor": monitor, "grid_keys": keys, "rows": rows,
                                                   "provenance": provenance()})

    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(rows) + 2), 3.8))
    data = [[g["summary"]["best"] for g in group] for group in by_label.values()]
    ax.boxplot(data, showmeans=False)
    for k, values in enumerate(data, start=1):
        ax.scatter(np.full(len(values), k), values, s=12, alpha=0.7, zorder=3)
    ax.set_xticks(range(1, len(rows) + 1))
    ax.set_xticklabels(list(by_label), rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(f"best {monitor}"), ax.set_title(title), ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(sweep_dir / "sweep.png", dpi=100)
    plt.close(fig)
    return table
