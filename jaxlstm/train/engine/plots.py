"""Matplotlib PNG plots of a run's learning curves and of gate activations."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def baseline_lines(key: str, baseline: Optional[dict]) -> list[tuple[str, float]]:
    """The baselines to draw on the panel of evaluation metric `key`: (name, value) for each
    baseline named `key` or ending in "_<key>" (e.g. "unigram_bpc" on "bpc"), those of the
    test split ("..._test_<key>") only on the "test_<key>" panel."""
    out = []
    for name, value in (baseline or {}).items():
        if name != key and not name.endswith("_" + key):
            continue
        if key.startswith("test_") != ("_test_" in f"_{name}"):
            continue
        out.append((name, float(value)))
    return out


def plot_learning_curves(records: list[dict], path: Path, title: str = "",
                         baseline: Optional[dict] = None) -> Path:
    """Training loss, the gradient norm (when logged) and every evaluation metric against the
    step, one panel each; `baseline` values (a task's trivial predictors) as dashed lines on
    the panels of the metrics they match (`baseline_lines`)."""
    train = [r for r in records if r.get("split") == "train"]
    evals = [r for r in records if r.get("split") == "valid"]
    eval_keys = sorted({k for r in evals for k in r if k not in ("step", "split", "time")})
    grad_norm = [r for r in train if "grad_norm" in r]
    panels = 1 + bool(grad_norm) + len(eval_keys)
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.4), squeeze=False)
    ax = axes[0, 0]
    if train:
        ax.plot([r["step"] for r in train], [r["loss"] for r in train], label="train", lw=1)
    if evals and "loss" in eval_keys:
        ax.plot([r["step"] for r in evals], [r["loss"] for r in evals], "o-", label="valid", ms=3)
    ax.set_xlabel("step"), ax.set_title("loss"), ax.legend(), ax.grid(alpha=0.3)
    rest = list(axes[0, 1:])
    if grad_norm:
        ax = rest.pop(0)
        ax.plot([r["step"] for r in grad_norm], [r["grad_norm"] for r in grad_norm], lw=1)
        ax.set_xlabel("step"), ax.set_title("gradient norm (before clipping)"), ax.grid(alpha=0.3)
    for ax, key in zip(rest, eval_keys):
        ax.plot([r["step"] for r in evals if key in r], [r[key] for r in evals if key in r], "o-", ms=3,
                label="valid")
        for k, (name, value) in enumerate(baseline_lines(key, baseline)):
            ax.axhline(value, ls="--", lw=1, color=f"C{k + 1}", label=name)
        if baseline_lines(key, baseline):
            ax.legend(fontsize=7)
        ax.set_xlabel("step"), ax.set_title(f"valid {key}"), ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_gates(trace, path: Path, labels: Optional[Sequence[str]] = None, title: str = "",
               max_units: int = 64) -> Path:
    """Heatmaps (unit × time) of the input, forget and output gates and the cell state.

    trace: a `GateTrace` with fields (T, H); labels: one tick label per time step.
    """
    fields = [("forget gate f", trace.f, "viridis", (0, 1)), ("input gate i", trace.i, "viridis", (0, 1)),
              ("output gate o", trace.o, "viridis", (0, 1)), ("cell state c", trace.c, "RdBu_r", None)]
    steps = np.asarray(trace.f).shape[0]
    fig, axes = plt.subplots(4, 1, figsize=(max(6, 0.22 * steps + 2), 10), sharex=True)
    for ax, (name, values, cmap, limits) in zip(axes, fields):
        v = np.asarray(values)[:, :max_units].T
        if limits is None:
            m = float(np.abs(v).max()) or 1.0
            limits = (-m, m)
        im = ax.imshow(v, aspect="auto", cmap=cmap, vmin=limits[0], vmax=limits[1], interpolation="nearest")
        ax.set_ylabel("unit"), ax.set_title(name, fontsize=10)
        fig.colorbar(im, ax=ax, fraction=0.02, pad=0.01)
    if labels is not None:
        axes[-1].set_xticks(range(steps))
        axes[-1].set_xticklabels([repr(c)[1:-1] for c in labels], fontsize=7)
    axes[-1].set_xlabel("time step")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
