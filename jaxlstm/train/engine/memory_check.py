"""Refuse a batch that cannot fit in memory before any of it is allocated.

A batch far larger than the machine (`train.batch_size=2000000000`) must end in one clear
error. Where the kernel overcommits memory, NumPy's allocation of such a batch succeeds and
the process is killed by the out-of-memory killer when the rows are written, with no
message at all; so the need is estimated from one row and checked first.

The estimate is a lower bound (no false refusals): the host batch itself (every process builds
the whole batch) plus, for the rows one process computes at once (`state_rows`: a micro-batch
of this process's share), the hidden state every layer keeps per time step for the backward pass,

    need = batch_size * row_bytes + state_rows * T * hidden_size * num_layers * directions * 4 bytes.
"""

from __future__ import annotations

from typing import Optional

import jax
import numpy as np


def available_bytes() -> Optional[int]:
    """Memory this process can still take: the smaller of the kernel's MemAvailable and the
    cgroup's limit minus its use; None where neither can be read (not Linux)."""
    found = []
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except OSError:
        pass
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
        if limit != "max":
            with open("/sys/fs/cgroup/memory.current") as f:
                found.append(int(limit) - int(f.read().strip()))
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def batch_bytes_lower_bound(row: dict, batch_size: int, state_floats_per_step: int,
                            state_rows: Optional[int] = None) -> int:
    """Bytes that a training step on `batch_size` rows like `row` (a batch of one row:
    name -> array with a leading axis of 1) needs at the least. `state_floats_per_step`:
    float32 values a row stores per time step for the backward pass; `state_rows`: the rows
    whose states are held at once (default `batch_size`)."""
    leaves = [np.asarray(x) for x in jax.tree.leaves(row)]
    row_bytes = sum(x.nbytes for x in leaves)
    steps = max((x.shape[1] for x in leaves if x.ndim >= 2), default=1)
    state_rows = batch_size if state_rows is None else state_rows
    return batch_size * row_bytes + state_rows * steps * state_floats_per_step * 4


def check_batch_fits(row: dict, batch_size: int, state_floats_per_step: int,
                     available: Optional[int] = None, state_rows: Optional[int] = None) -> None:
    """MemoryError naming train.batch_size when the lower bound of one batch's memory
    (`batch_bytes_lower_bound`) exceeds the memory available (`available`, default
    `available_bytes()`)."""
    available = available_bytes() if available is None else available
    if available is None:
        return
    need = batch_bytes_lower_bound(row, batch_size, state_floats_per_step, state_rows)
    if need > available:
        raise MemoryError(f"config key train.batch_size: one batch of {batch_size} rows needs at "
                          f"least {need / 2**30:.1f} GiB (the rows and the states kept for the "
                          f"backward pass), this machine has {available / 2**30:.1f} GiB available")
