"""Orbax checkpoints of a run: the last N and the best, written atomically.

A checkpoint of step S is the folder `checkpoints/S` with one Orbax item per named
tree, readable without jaxlstm (`orbax.checkpoint` alone, e.g. with
`ocp.StandardCheckpointer().restore(path / "params")`):

  params       the model's nnx.Param state as a nested dict (`nnx.to_pure_dict`), e.g.
               params/encoder/layers/0/cell/w_x
  model_state  the model's other variables (BatchNorm statistics, `nnx.Rngs` counters
               and keys as uint32 key data, fixed biases), when it has any
  opt_state    the Optax state (its NamedTuples' field names are kept: 0/mu/..., 0/nu/...)
  carry        the carried state of truncated BPTT, when there is one
  meta         JSON: loop state (best metric, evaluations without improvement, wall time,
               the training iterator's position)

Orbax writes each step into a temporary folder and renames it when complete, so a run
killed during a save leaves the previous checkpoints intact.

A checkpoint that fails to restore (truncated or corrupted files) is reported in one
line and the one before it is used. A resuming run also sets the damaged one aside:
`checkpoints/S` is renamed to `checkpoints/S.corrupt-N` (kept for inspection, never
deleted, ignored by Orbax), so the run can write step S again when it gets there.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, Optional

import jax
import numpy as np
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers as policies


class CheckpointError(RuntimeError):
    """No readable checkpoint where one is needed; the message names the folder."""


class CheckpointMismatch(ValueError):
    """A readable checkpoint written for another model or optimizer (other array shapes);
    it is not damaged, so it is neither set aside nor replaced by an older one."""


def _shapes(tree) -> list[tuple]:
    """The sorted (shape, dtype) of every array leaf: what must agree for a restore."""
    return sorted((tuple(x.shape), str(x.dtype)) for x in jax.tree.leaves(tree))


def _key_name(k) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(k, attr):
            return str(getattr(k, attr))
    return str(k)


def _leaf_paths(tree) -> dict[str, tuple]:
    """{"0.mu.w": (shape, dtype)} of every array leaf, named as Orbax names them (NamedTuple
    fields by name, sequence items by index): the tree structure a restore must match."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {".".join(_key_name(k) for k in path): (tuple(x.shape), str(x.dtype)) for path, x in leaves}


_STATUS_CODES = ("DATA_LOSS", "NOT_FOUND", "INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE",
                 "UNKNOWN", "RESOURCE_EXHAUSTED", "PERMISSION_DENIED", "INTERNAL", "ABORTED", "UNAVAILABLE")


def _from_orbax_io(exc) -> bool:
    """An error of TensorStore's or Orbax's background I/O: an absl status message, or a
    traceback through orbax/tensorstore."""
    if exc is None:
        return False
    if str(exc).startswith(_STATUS_CODES):
        return True
    tb = exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if "orbax" in name or "tensorstore" in name:
            return True
        tb = tb.tb_next
    return False


class _OrbaxTaskErrors(logging.Filter):
    """Drops asyncio's "Task exception was never retrieved" for Orbax/TensorStore reads that
    failed after the restore had already failed (and been reported in one line)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not ("never retrieved" in str(record.msg) and _from_orbax_io(exc))


def quiet_orbax_background_errors() -> None:
    """Keep the one-line report of a damaged or missing checkpoint one line: TensorStore's
    threads finish reads after Orbax's event loop closed (`RuntimeError: Event loop is
    closed`, reported through `sys.unraisablehook`) and asyncio logs the exceptions of the
    read tasks nobody awaited any more. Both are dropped; every other unraisable exception
    and log record still goes out. Idempotent."""
    if getattr(sys.unraisablehook, "_jaxlstm", False):
        return
    previous = sys.unraisablehook

    def hook(unraisable):
        exc = unraisable.exc_value
        if isinstance(exc, RuntimeError) and str(exc) == "Event loop is closed":
            return
        previous(unraisable)

    hook._jaxlstm = True
    sys.unraisablehook = hook
    logging.getLogger("asyncio").addFilter(_OrbaxTaskErrors())


def _one_line(e: BaseException, limit: int = 160) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return f"{type(e).__name__}: {text[:limit]}{'...' if len(text) > limit else ''}"


def _is_key(x) -> bool:
    return isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _keys_as_data(tree):
    """PRNG key arrays replaced by their uint32 key data (Orbax stores plain arrays)."""
    return jax.tree.map(lambda x: jax.random.key_data(x) if _is_key(x) else x, tree)


def _keys_like(template, tree):
    """The inverse of `_keys_as_data`, taking each key's implementation from `template`."""
    return jax.tree.map(lambda t, x: jax.random.wrap_key_data(np.asarray(x), impl=jax.random.key_impl(t))
                        if _is_key(t) else x, template, tree)


def _present(tree) -> bool:
    return bool(jax.tree.leaves(tree))


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
        quiet_orbax_background_errors()
        self.directory = Path(directory).absolute()
        best = policies.BestN(get_metric_fn=lambda m: m[monitor], reverse=(mode == "min"), n=1,
                              keep_checkpoints_without_metrics=False)
        options = ocp.CheckpointManagerOptions(
            preservation_policy=policies.AnyPreservationPolicy([policies.LatestN(keep), best]),
            enable_async_checkpointing=False, create=True, cleanup_tmp_directories=True)
        self.manager = ocp.CheckpointManager(self.directory, options=options)

    def save(self, step: int, trees: dict[str, Any], meta: dict, metrics: Optional[dict] = None) -> bool:
        """Save the named pytrees `trees` ({"params": ..., "opt_state": ...}; empty ones
        are skipped) and JSON `meta` at `step`; False (and nothing written) when a
        readable checkpoint of `step` exists already. A leftover folder of `step` that
        Orbax does not list is set aside first."""
        if step in self.steps():
            return False
        if (self.directory / str(step)).exists():
            self.set_aside(step)
        items = {name: ocp.args.StandardSave(_keys_as_data(tree)) for name, tree in trees.items()
                 if _present(tree)}
        self.manager.save(step, args=ocp.args.Composite(**items, meta=ocp.args.JsonSave(meta)),
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

    def restore(self, template: dict[str, Any], step: Optional[int] = None, *, fallback: bool = True,
                set_aside: bool = False, notify: Optional[Callable[[str], None]] = None,
                from_leaves: Optional[Callable[[list], dict]] = None):
        """(step, trees, meta) of `step` (default: the latest): `trees` holds every
        named tree of `template` ({"params": tree, ...}, shaped like the saved ones;
        those missing from the checkpoint because they were empty come back as given).
        `from_leaves` reads a checkpoint of jaxlstm 0.1: it maps that checkpoint's list
        of leaves to named trees (`Trainer.trees_from_leaves`).

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
        for i, s in enumerate(candidates):
            try:
                trees, meta = self._restore(s, template, from_leaves)
            except CheckpointMismatch:
                raise
            except Exception as e:  # a damaged checkpoint: tensorstore, JSON, missing files, ...
                aside = f"; set aside as {self.set_aside(s).name}" if set_aside else ""
                later = candidates[i + 1] if i + 1 < len(candidates) else None
                then = f"using step {later} instead" if later is not None else "no other checkpoint to use"
                notify(f"checkpoint step {s} in {self.directory} could not be read "
                       f"({_one_line(e)}){aside}; {then}")
                continue
            return s, trees, meta
        return None

    def _restore(self, step: int, template: dict[str, Any], from_leaves: Optional[Callable]) -> tuple[dict, dict]:
        saved = {p.name for p in (self.directory / str(step)).iterdir() if p.is_dir()}
        if "state" in saved and "params" not in saved:
            return self._restore_unnamed(step, from_leaves)
        wanted = {name: tree for name, tree in template.items() if _present(tree)}
        written = self._written_items(step)
        if written is not None:  # items absent because they were empty when saved are no damage
            written -= {"meta"}
            for name in template:
                if (name in written) != (name in wanted):
                    self._mismatch(step, name, f"the checkpoint {'holds' if name in written else 'has no'} "
                                   f"{name}, this one {'has none' if name in written else 'does'} "
                                   f"(e.g. SGD, which keeps no state, against Adam)")
        missing = sorted(set(wanted) - saved)
        if missing:
            raise CheckpointError(f"step {step} has no item {missing} (it holds {sorted(saved)})")
        for name, tree in wanted.items():
            self._check_shapes(step, name, _keys_as_data(tree))
        restored = self.manager.restore(step, args=ocp.args.Composite(
            **{name: ocp.args.StandardRestore(_keys_as_data(tree)) for name, tree in wanted.items()},
            meta=ocp.args.JsonRestore()))
        trees = {name: _keys_like(tree, restored[name]) if name in wanted else tree
                 for name, tree in template.items()}
        return trees, restored["meta"]

    def _written_items(self, step: int) -> Optional[set]:
        """The item names Orbax recorded for `step` (None when its metadata cannot be read)."""
        try:
            text = (self.directory / str(step) / "_CHECKPOINT_METADATA").read_text(encoding="utf-8")
            return set(json.loads(text)["item_handlers"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _mismatch(self, step: int, name: str, what: str) -> None:
        raise CheckpointMismatch(
            f"checkpoint step {step} in {self.directory} was written for another model or "
            f"optimizer: {what}. Resume with the model, optimizer and config that wrote it, "
            f"or start a new run folder")

    def _check_shapes(self, step: int, name: str, tree) -> None:
        """CheckpointMismatch when item `name` of `step` holds other array shapes than `tree`
        (a model or optimizer other than the one that wrote it); reading its metadata may
        fail like any damaged file (that is left to the caller)."""
        stored = ocp.StandardCheckpointHandler().metadata(self.directory / str(step) / name)
        have, want = _shapes(stored), _shapes(tree)
        if not have:
            raise CheckpointError(f"the metadata of {name} lists no arrays")  # damaged, not another model
        if have != want:
            extra = [x for x in have if x not in want][:3]
            lacking = [x for x in want if x not in have][:3]
            self._mismatch(step, name, f"its {name} holds {len(have)} arrays, this one {len(want)} "
                                       f"(only in the checkpoint: {extra}; only here: {lacking})")
        stored_paths = _leaf_paths(getattr(stored, "tree", stored))
        paths = _leaf_paths(tree)
        if set(stored_paths) != set(paths):  # same arrays, another structure: chain(clip, adam)
            extra = sorted(set(stored_paths) - set(paths))[:3]
            lacking = sorted(set(paths) - set(stored_paths))[:3]
            self._mismatch(step, name, f"its {name} has another tree structure (only in the "
                                       f"checkpoint: {extra}; only here: {lacking})")

    def _restore_unnamed(self, step: int, from_leaves: Optional[Callable]) -> tuple[dict, dict]:
        """A checkpoint of jaxlstm 0.1 (before named trees): one item "state", a list of
        leaves that `from_leaves(leaves)` turns into named trees."""
        if from_leaves is None:
            raise CheckpointError(f"step {step} is a checkpoint of jaxlstm 0.1 (unnamed leaves); "
                                  f"load it with load_run(run_dir), which knows their order")
        restored = self.manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(), meta=ocp.args.JsonRestore()))
        return from_leaves([np.asarray(x) for x in restored["state"]]), restored["meta"]

    def close(self) -> None:
        self.manager.close()
