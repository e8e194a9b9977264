"""Metric writers: where the loop's records go (`train.writers` in the config).

A record is a flat dict `{"step": int, "split": "train" | "valid", name: float, ...}`, one
per logged training step and one per evaluation. Each writer takes records with
`write(record)` and is closed with `close()`:

  jsonl        RUN/metrics.jsonl, one JSON object per line (the default; what `read_metrics`,
               the learning-curve plot and resume read)
  tensorboard  RUN/tensorboard/ event files through tensorboardX (no TensorFlow), a scalar
               per metric tagged "<split>/<name>" (`tensorboard --logdir RUN/tensorboard`)
  wandb        Weights & Biases in offline mode under RUN/wandb (`wandb sync` uploads it);
               needs `pip install wandb`

The tensorboard and wandb writers import their library only when chosen.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Optional, Protocol

from jaxlstm.train.engine.metrics import append_metrics

WRITERS = ("jsonl", "tensorboard", "wandb")


class MetricWriter(Protocol):
    """What the loop calls; any object with these two methods can be a writer."""

    def write(self, record: dict) -> None: ...

    def close(self) -> None: ...


def _scalars(record: dict) -> dict[str, float]:
    """The record's metrics as {"<split>/<name>": float}, finite numbers only."""
    split = record.get("split", "train")
    out = {}
    for name, value in record.items():
        if name in ("step", "split") or isinstance(value, bool):
            continue
        if isinstance(value, (int, float)) and math.isfinite(value):
            out[f"{split}/{name}"] = float(value)
    return out


class JsonlWriter:
    """Appends each record to `path` as one JSON line (flushed and fsynced)."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def write(self, record: dict) -> None:
        append_metrics(self.path, record)

    def close(self) -> None:
        pass


class TensorBoardWriter:
    """TensorBoard event files in `log_dir` via tensorboardX.

    Args:
      log_dir: the folder of the event files.
      purge_step: on resume, the checkpoint's step: TensorBoard hides events after it
        that an interrupted run had written, as `metrics.jsonl` drops its lines.
    """

    def __init__(self, log_dir: Path, purge_step: Optional[int] = None):
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise ImportError("config key train.writers: 'tensorboard' needs the tensorboardX "
                              "package: pip install 'jaxlstm[train]' (or tensorboardX)") from None
        self.writer = SummaryWriter(logdir=str(log_dir), purge_step=purge_step or None)

    def write(self, record: dict) -> None:
        step = int(record["step"])
        for tag, value in _scalars(record).items():
            self.writer.add_scalar(tag, value, global_step=step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class WandbWriter:
    """A Weights & Biases run in offline mode (nothing leaves the machine until
    `wandb sync RUN/wandb/offline-run-*`), its config the run's config."""

    def __init__(self, run_dir: Path, name: str, config: dict):
        try:
            import wandb
        except ImportError:
            raise ImportError("config key train.writers: 'wandb' needs the wandb package: "
                              "pip install wandb") from None
        self.run = wandb.init(project="jaxlstm", name=name, dir=str(run_dir), config=config,
                              mode="offline", reinit=True)

    def write(self, record: dict) -> None:
        self.run.log(_scalars(record), step=int(record["step"]))

    def close(self) -> None:
        self.run.finish()


class Writers:
    """Several writers as one: `write` and `close` go to each in turn."""

    def __init__(self, writers: Iterable[MetricWriter] = ()):
        self.writers = list(writers)

    def write(self, record: dict) -> None:
        for w in self.writers:
            w.write(record)

    def close(self) -> None:
        for w in self.writers:
            w.close()


def make_writers(names: Iterable[str], run_dir: Path, *, name: str = "run",
                 config: Optional[dict] = None, start_step: int = 0) -> Writers:
    """The writers `names` (a subset of `WRITERS`) for the run folder `run_dir`.

    Raises:
      ValueError: an unknown writer name (the message lists the valid ones).
      ImportError: tensorboard or wandb chosen without its package installed.
    """
    run_dir = Path(run_dir)
    out = []
    for writer in names:
        if writer == "jsonl":
            out.append(JsonlWriter(run_dir / "metrics.jsonl"))
        elif writer == "tensorboard":
            out.append(TensorBoardWriter(run_dir / "tensorboard", purge_step=start_step))
        elif writer == "wandb":
            out.append(WandbWriter(run_dir, name, config or {}))
        else:
            raise ValueError(f"config key train.writers: each must be one of {list(WRITERS)}, "
                             f"got {writer!r}")
    return Writers(out)
