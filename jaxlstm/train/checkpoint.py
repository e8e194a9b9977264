"""Orbax checkpoints of a run: the last N and the best, written atomically.

A checkpoint holds every leaf of (model state, optimizer state) and a small JSON
of loop state (best metric, evaluations without improvement). Orbax writes each
step into a temporary folder and renames it when complete, so a run killed during
a save leaves the previous checkpoints intact; a checkpoint that fails to restore
(truncated or corrupted) is skipped with a warning and the one before it is used.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Optional

import jax
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers as policies


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

    def save(self, step: int, state: Any, meta: dict, metrics: Optional[dict] = None) -> None:
        """Save the pytree `state` and JSON `meta` at `step` (overwriting nothing)."""
        leaves = jax.tree.leaves(state)
        self.manager.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(leaves), meta=ocp.args.JsonSave(meta)),
            metrics=metrics, force=True)
        self.manager.wait_until_finished()

    def steps(self) -> list[int]:
        return sorted(self.manager.all_steps())

    def restore(self, template: Any, step: Optional[int] = None):
        """(step, state shaped like `template`, meta) of `step` or of the latest readable
        checkpoint; None when there is none."""
        candidates = [step] if step is not None else self.steps()[::-1]
        leaves_template, treedef = jax.tree.flatten(template)
        for s in candidates:
            try:
                restored = self.manager.restore(s, args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(leaves_template), meta=ocp.args.JsonRestore()))
                return s, jax.tree.unflatten(treedef, restored["state"]), restored["meta"]
            except Exception as e:  # a damaged checkpoint: fall back to the previous one
                if step is not None:
                    raise
                warnings.warn(f"checkpoint at step {s} in {self.directory} could not be read "
                              f"({type(e).__name__}: {str(e)[:200]}); trying the previous one")
        return None

    def close(self) -> None:
        self.manager.close()
