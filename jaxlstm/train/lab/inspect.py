"""`inspect_run`: gate activations and cell state of a trained LSTM on one input.

The seeds explain the LSTM by what its gates do: the forget gate keeping or clearing
the cell state, the input gate admitting new information. This runs the trained
encoder's layers on one sequence with `return_gates` and plots the traces.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import jax.numpy as jnp
import numpy as np

from jaxlstm.train.lab.config_run import load_run
from jaxlstm.train.engine.plots import plot_gates


def gate_inputs(trainer, text: Optional[str]):
    """(xs (T, X), per-step labels) for the run's first layer: embedded text for a language
    model, else the first held-out example."""
    model, task = trainer.model, trainer.task
    embed = getattr(model, "embed", None)
    if text is not None:
        vocab = getattr(task, "vocab", None)
        if vocab is None or embed is None:
            raise ValueError(f"--text needs a character-level run; task {task.name!r} takes no text")
        ids = vocab.encode(text)
        return embed(jnp.asarray(ids)), list(text), len(ids)
    batch = task.eval_batches()[0]
    name = next(k for k in ("inputs", "xs", "tokens") if k in batch)
    x = jnp.asarray(batch[name][0])
    length = int(batch["lengths"][0]) if "lengths" in batch else x.shape[0]
    labels = None
    if embed is not None:
        vocab = getattr(task, "vocab", None)
        labels = list(vocab.decode(np.asarray(x))) if hasattr(vocab, "chars") else None
        x = embed(x)
    return x, labels, length


def inspect_run(run_dir, *, text: Optional[str] = None, layer: int = 0, out=None,
                notify: Optional[Callable[[str], None]] = None) -> Path:
    """Write a PNG of the gates of `layer` on `text` (or a held-out example); returns its path.
    `notify` gets a line when the best checkpoint is damaged and an older one is used."""
    if text is not None and not text:
        raise ValueError("--text: must contain at least one character, got ''")
    cfg, trainer = load_run(run_dir, notify=notify)
    if cfg.model.cell != "lstm":
        raise ValueError(f"inspect shows LSTM gates; run {run_dir} uses model.cell={cfg.model.cell!r}")
    encoder = trainer.model.encoder
    if not 0 <= layer < encoder.num_layers:
        raise ValueError(f"--layer must lie in [0, {encoder.num_layers - 1}], got {layer}")
    xs, labels, length = gate_inputs(trainer, text)
    traces = encoder.gate_traces(xs, length)
    trace = jax_tree_slice(traces[layer], length)
    out = Path(out) if out else Path(run_dir) / "gates.png"
    title = f"{cfg.name}: layer {layer} gates" + (f" on {text[:40]!r}" if text else "")
    return plot_gates(trace, out, labels[:length] if labels else None, title=title)


def jax_tree_slice(trace, length: int):
    return type(trace)(*[np.asarray(v)[:length] for v in trace])
