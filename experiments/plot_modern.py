"""Plots of the modern-cell reproductions (docs/modern_cells.md) from their saved results:

    python experiments/plot_modern.py state_tracking   # docs/results/state_tracking.json -> .png
    python experiments/plot_modern.py mqar             # docs/results/mqar*.json -> mqar.png
    python experiments/plot_modern.py charlm runs/modern_charlm_lstm runs/modern_charlm_slstm ...
                                                       # run folders -> docs/results/modern_charlm.png

Nothing is trained here; each plot reads the rows written by `experiments/state_tracking.py
--json`, `experiments/mqar.py --json` or a `jaxlstm train` run folder (metrics.jsonl,
summary.json).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RESULTS = Path(__file__).resolve().parent.parent / "docs" / "results"

# The saved MQAR runs: file stem -> (pairs, vocabulary of keys = of values, token shift).
MQAR_RUNS = {
    "mqar_4pairs": (4, 8, False),
    "mqar": (8, 16, False),
    "mqar_4pairs_shift": (4, 8, True),
    "mqar_8pairs_shift": (8, 16, True),
}
COLORS = {"lstm": "tab:blue", "slstm": "tab:orange", "mlstm": "tab:green",
          "minlstm": "tab:red", "mingru": "tab:purple", "xlstm": "tab:brown"}


def plot_state_tracking(rows: list[dict], out: Path) -> None:
    """Accuracy vs test length, one panel per task, one line per cell; chance = 1/classes."""
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    fig, axes = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 3.6), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for r in (r for r in rows if r["task"] == task):
            lens = sorted(r["accuracy"], key=int)
            ax.plot([int(t) for t in lens], [r["accuracy"][t] for t in lens], "o-",
                    color=COLORS.get(r["cell"]), label=f"{r['cell']} ({r['params']} params)")
        chance = 1 / 2 if task == "parity" else 1 / 3
        ax.axhline(chance, color="gray", ls="--", lw=1, label="chance")
        train_len = min(int(t) for r in rows for t in r["accuracy"])
        ax.axvline(train_len, color="gray", ls=":", lw=1)
        ax.set_xscale("log", base=2)
        ax.set_ylim(0, 1.05)
        ax.set_xlabel(f"test length T (trained on 1..{train_len})")
        ax.set_ylabel("accuracy (last step)")
        ax.set_title(task)
        ax.legend(fontsize=8, loc="center right")
    fig.suptitle("State tracking and length generalisation (H = 32)")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def plot_mqar(runs: dict[str, list[dict]], out: Path) -> None:
    """Grouped bars of query accuracy per saved run; chance = 1/vocabulary of values."""
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    width = 0.38
    for i, (stem, rows) in enumerate(runs.items()):
        pairs, vocab, shift = MQAR_RUNS[stem]
        for j, r in enumerate(rows):
            x = i + (j - (len(rows) - 1) / 2) * width
            ax.bar(x, r["accuracy"], width, color=COLORS.get(r["cell"]),
                   label=r["cell"] if i == 0 else None)
            ax.text(x, r["accuracy"] + 0.02, f"{r['accuracy']:.2f}", ha="center", fontsize=8)
        ax.hlines(1 / vocab, i - 0.45, i + 0.45, color="gray", ls="--", lw=1,
                  label="chance (1/values)" if i == 0 else None)
    ax.set_xticks(range(len(runs)))
    ax.set_xticklabels([f"{MQAR_RUNS[s][0]} pairs\n{'[x_{t-1}, x_t]' if MQAR_RUNS[s][2] else 'x_t'}"
                        for s in runs])
    ax.set_ylim(0, 1.12)
    ax.set_ylabel("query accuracy")
    ax.set_title("MQAR at ~20k parameters: classic LSTM vs mLSTM")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def plot_charlm(run_dirs: list[Path], out: Path) -> None:
    """Validation bits per character vs step of each run folder, labelled by its cell,
    parameter count and wall time; the unigram baseline dashed."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    baseline = None
    for d in run_dirs:
        summary = json.loads((d / "summary.json").read_text())
        records = [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines() if line]
        valid = [r for r in records if r.get("split") == "valid"]
        cell = summary["name"].rsplit("_", 1)[-1]
        ax.plot([r["step"] for r in valid], [r["bpc"] for r in valid], "o-", color=COLORS.get(cell),
                label=f"{cell}: {summary['param_count']:,} params, {summary['wall_time_s']:.0f} s")
        baseline = summary["baseline"]["unigram_bpc"]
    if baseline is not None:
        ax.axhline(baseline, color="gray", ls="--", lw=1, label=f"unigram {baseline:.2f}")
    ax.set_xlabel("training step (batch 32 x 64 characters)")
    ax.set_ylabel("validation bits per character")
    ax.set_title("Char LM on the quick-start corpus at ~98k parameters")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["state_tracking", "mqar", "charlm"])
    ap.add_argument("runs", nargs="*", type=Path, help="charlm: the run folders")
    ap.add_argument("--out", type=Path, default=None, help="the PNG (default under docs/results/)")
    args = ap.parse_args(argv)
    if args.what == "state_tracking":
        plot_state_tracking(json.loads((RESULTS / "state_tracking.json").read_text()),
                            args.out or RESULTS / "state_tracking.png")
    elif args.what == "mqar":
        runs = {s: json.loads((RESULTS / f"{s}.json").read_text()) for s in MQAR_RUNS
                if (RESULTS / f"{s}.json").exists()}
        plot_mqar(runs, args.out or RESULTS / "mqar.png")
    else:
        if not args.runs:
            sys.exit("charlm: give the run folders, e.g. runs/modern_charlm_*")
        plot_charlm(args.runs, args.out or RESULTS / "modern_charlm.png")


if __name__ == "__main__":
    main()
