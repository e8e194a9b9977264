"""`Feed`: the training batches of a run, positioned at any step so that resuming is exact.

`fit_model` takes its training data in one of three forms:

  * a callable `data(step) -> batch` (e.g. `jaxlstm.data.Batches`, or the config tasks'
    batch of step s): the batch of a step is a function of the step, nothing to save;
  * an iterator with `get_state()` / `set_state(state)` (Grain's `DatasetIterator`,
    e.g. `iter(grain.MapDataset.source(...).shuffle(seed).batch(32).repeat())`, or the
    iterable of one: `iter()` is taken once): its state is saved with every checkpoint
    and set back on resume;
  * any other iterable of batches (a list, a generator function's result, a NumPy
    loader): iterated from its start; a resumed run takes a fresh `iter()` and skips
    the batches already trained on, so it is exact when the iterable yields the same
    batches each time it is iterated. A re-iterable one (`iter(data) is not data`) is
    iterated again when it ends (one pass = one epoch); a one-shot iterator ends the run.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Iterator, Optional

import numpy as np


class DataExhausted(Exception):
    """The training data ran out before the last step (a one-shot iterator)."""


def _resumable(x) -> bool:
    return callable(getattr(x, "get_state", None)) and callable(getattr(x, "set_state", None))


def _jsonable(x):
    if isinstance(x, bytes):
        return {"__bytes__": base64.b64encode(x).decode("ascii")}
    if isinstance(x, (np.integer, np.floating, np.bool_)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"train_data: get_state() returned a {type(x).__name__}, which a checkpoint's "
                    f"JSON cannot hold (expected dicts, lists, numbers, strings or bytes)")


def _encode(state):
    """A JSON-able form of an iterator state (Grain's DataLoader gives bytes; NumPy
    scalars become Python numbers)."""
    return json.loads(json.dumps(state, default=_jsonable))


def _decode(state):
    """The inverse of `_encode` (bytes anywhere in the state come back as bytes)."""
    if isinstance(state, dict):
        if set(state) == {"__bytes__"}:
            return base64.b64decode(state["__bytes__"])
        return {k: _decode(v) for k, v in state.items()}
    if isinstance(state, list):
        return [_decode(v) for v in state]
    return state


class Feed:
    """The batch of each step from `data` (any of the forms in the module docstring).

    `start(step, saved)` positions the feed before `step` (`saved`: what `state()`
    returned when the checkpoint of `step` was written, or None); `next(step)` is the
    batch of `step`; `state()` is a JSON-able position to save with a checkpoint.
    """

    def __init__(self, data: Any):
        self.data = data
        self.kind = "callable" if callable(data) and not hasattr(data, "__next__") else None
        self._it: Optional[Iterator] = None
        if self.kind is None:
            if _resumable(data):
                self.kind, self._it = "resumable", data
            elif hasattr(data, "__iter__"):
                it = iter(data)
                self.kind = "resumable" if _resumable(it) else "iterable"
                if self.kind == "resumable":
                    self._it = it
            else:
                raise TypeError(f"train_data: expected a callable step -> batch, an iterable of "
                                f"batches or an iterator with get_state/set_state, got "
                                f"{type(data).__name__}")
        self._initial = _encode(self._it.get_state()) if self.kind == "resumable" else None

    def start(self, step: int, saved: Any = None) -> None:
        if self.kind == "callable":
            return
        if self.kind == "resumable":
            if step and saved is None:
                raise ValueError(f"train_data: resuming at step {step} needs the iterator state "
                                 f"saved with the checkpoint, and the checkpoint has none (it was "
                                 f"written with another kind of train_data)")
            self._it.set_state(_decode(saved if step else self._initial))
            return
        self._it = iter(self.data)
        for skipped in range(step):
            self._pull(skipped)

    def _pull(self, step: int):
        try:
            return next(self._it)
        except StopIteration:
            if self.kind == "iterable" and iter(self.data) is not self.data:
                self._it = iter(self.data)  # the next epoch
                try:
                    return next(self._it)
                except StopIteration:
                    pass
            raise DataExhausted(f"train_data: ran out of batches at step {step + 1}") from None

    def next(self, step: int):
        return self.data(step) if self.kind == "callable" else self._pull(step)

    def state(self) -> Any:
        return _encode(self._it.get_state()) if self.kind == "resumable" else None
