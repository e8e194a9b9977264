"""Orbax checkpoints of a run: the last N and the best, written atomically.

A checkpoint holds every leaf of (model state, optimizer state) and a small JSON
of loop state (best metric, evaluations without improvement). Orbax writes each
step into a temporary folder and renames it when complete, so a run killed during
a save leaves the previous checkpoints intact.

A checkpoint that fails to restore (truncated or corrupted files) is reported in one
line and the one before it is used. A resuming run also sets the damaged one aside:
`checkpoints/S` is renamed to `checkpoints/S.corrupt-N` (kept for inspection, never
deleted, ignored by Orbax), so the run can write step S again when it gets there.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Callable, Optional

import jax
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers as policies


class CheckpointError(RuntimeError):
    """No readable checkpoint where one is needed; the message names the folder."""


def _one_line(e: BaseException, limit: int = 160) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return f"{type(e).__name__}: {text[:limit]}{'...' if len(text) > limit else ''}"


def _sync(name: str) -> None:
    """A barrier across the processes of a multi-host run (nothing with one process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


class Checkpoints:
    """The checkpoint folder of a run.

    Args:
      directory: where step folders go.
      keep: how many of the latest checkpoints to keep.
      monitor / mode: the metric ("valid/loss") whose best checkpoint is also kept.
    """

    def __init__(self, directory: Path, keep: int, monitor: str, mode: str):
        self.directory = Path(directory).absolute()
        best = policies.BestN(get_metric_fn=lambda m: m[monitor], reverse=(mode == "min"), n=1,
                              keep_checkpoints_without_metrics=False)
        options = ocp.CheckpointManagerOptions(
            preservation_policy=policies.AnyPreservationPolicy([policies.LatestN(keep), best]),
            enable_async_checkpointing=False, create=True, cleanup_tmp_directories=True)
        self.manager = ocp.CheckpointManager(self.directory, options=options)

    def save(self, step: int, state: Any, meta: dict, metrics: Optional[dict] = None) -> bool:
        """Save the pytree `state` and JSON `meta` at `step`; False (and nothing written)
        when a readable checkpoint of `step` exists already. A leftover folder of `step`
        that Orbax does not list is set aside first."""
        if step in self.steps():
            return False
        if (self.directory / str(step)).exists():
            self.set_aside(step)
        leaves = jax.tree.leaves(state)
        self.manager.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(leaves), meta=ocp.args.JsonSave(meta)),
            metrics=metrics, force=True)
        self.manager.wait_until_finished()
        return True

    def steps(self) -> list[int]:
        return sorted(self.manager.all_steps())

    def set_aside(self, step: int) -> Path:
        """Rename the folder of `step` to `S.corrupt-N` (the first free N); returns the new path.
        In a multi-host run process 0 renames it and every process waits for that."""
        n = 1
        while (self.directory / f"{step}.corrupt-{n}").exists():
            n += 1
        target = self.directory / f"{step}.corrupt-{n}"
        _sync(f"jaxlstm-set-aside-{step}-a")
        if jax.process_index() == 0:
            os.rename(self.directory / str(step), target)
        _sync(f"jaxlstm-set-aside-{step}-b")
        self.manager.reload()
        return target

    def restore(self, template: Any, step: Optional[int] = None, *, fallback: bool = True,
                set_aside: bool = False, notify: Optional[Callable[[str], None]] = None):
        """(step, state shaped like `template`, meta) of `step` (default: the latest).

        A checkpoint that cannot be read is reported through `notify` (default
        `warnings.warn`) in one line; with `fallback` the next older readable one is
        used instead, with `set_aside` the damaged one is renamed (see `set_aside`).
        Returns None when no checkpoint could be read.
        """
        notify = notify or (lambda message: warnings.warn(message, stacklevel=3))
        steps = self.steps()[::-1]
        if step is None:
            candidates = steps
        else:
            candidates = [step] + ([s for s in steps if s != step] if fallback else [])
        leaves_template, treedef = jax.tree.flatten(template)
        for i, s in enumerate(candidates):
            try:
                restored = self.manager.restore(s, args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(leaves_template), meta=ocp.args.JsonRestore()))
            except Exception as e:  # a damaged checkpoint: tensorstore, JSON, missing files, ...
                aside = f"; set aside as {self.set_aside(s).name}" if set_aside else ""
                later = candidates[i + 1] if i + 1 < len(candidates) else None
                then = f"using step {later} instead" if later is not None else "no other checkpoint to use"
                notify(f"checkpoint step {s} in {self.directory} could not be read "
                       f"({_one_line(e)}){aside}; {then}")
                continue
            return s, jax.tree.unflatten(treedef, restored["state"]), restored["meta"]
        return None

    def close(self) -> None:
        self.manager.close()
