"""The device mesh of a run (`train.mesh`) and where arrays live on it.

`train.mesh: "data=4,model=2"` names the axes of a `jax.sharding.Mesh` over the first
4·2 devices (`"data=-1"`: all devices). Batches (and a stateful task's carried
state) are split along their leading batch axis over `data`; parameters and
optimizer state are replicated, or with `train.shard_params` the gate axis of the
recurrent weights -- the last, G·H, axis of every `w_x`, `w_h` and `b` -- is split
over `model`. The step stays one `jax.jit`: XLA's sharding propagation (GSPMD) adds
the collectives (the gradient sum over `data`, the gather of gate blocks over
`model`), so the same config runs on one CPU, 8 simulated CPU devices or a
multi-GPU/TPU host.

Arrays are placed with `jax.make_array_from_callback`, which every process of a
multi-host run calls with the same host data and which fills only that process's
devices.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import jax
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from jaxlstm.train.engine.config_checks import ConfigError

AXES = ("data", "model")
GATE_AXIS_PARAMS = ("w_x", "w_h", "b")  # LSTMParams/GRUParams/RNNParams leaves with a G·H last axis


def parse_mesh(text: str) -> dict[str, int]:
    """`"data=4,model=2"` -> {"data": 4, "model": 2}; a size of -1 means "the remaining devices".

    Raises ConfigError naming `train.mesh` for an unknown axis, a repeated axis, a size
    that is not a positive int (or -1), or more than one -1.
    """
    axes: dict[str, int] = {}
    for part in str(text).split(","):
        name, sep, size = part.strip().partition("=")
        name = name.strip()
        if not sep or name not in AXES or name in axes:
            raise ConfigError(f"config key train.mesh: must look like 'data=8' or 'data=4,model=2' "
                              f"(axes {list(AXES)}, each once), got {text!r}")
        try:
            axes[name] = int(size)
        except ValueError:
            raise ConfigError(f"config key train.mesh: the size of axis {name!r} must be an int, "
                              f"got {size!r} in {text!r}") from None
        if axes[name] == 0 or axes[name] < -1:
            raise ConfigError(f"config key train.mesh: the size of axis {name!r} must be > 0 or -1 "
                              f"(all remaining devices), got {axes[name]} in {text!r}")
    if list(axes.values()).count(-1) > 1:
        raise ConfigError(f"config key train.mesh: at most one axis may have size -1, got {text!r}")
    return axes


def make_mesh(text: str, devices: Optional[Sequence] = None) -> Mesh:
    """The `Mesh` that `text` (see `parse_mesh`) describes, over the first devices of
    `devices` (default: `jax.devices()`, all processes' devices)."""
    devices = list(jax.devices() if devices is None else devices)
    axes = parse_mesh(text)
    known = math.prod(v for v in axes.values() if v != -1)
    for name, size in axes.items():
        if size == -1:
            if len(devices) % known:
                raise ConfigError(f"config key train.mesh: {text!r}: {len(devices)} devices do not "
                                  f"divide by the other axes' size {known}")
            axes[name] = len(devices) // known
    total = math.prod(axes.values())
    if total > len(devices):
        raise ConfigError(
            f"config key train.mesh: {text!r} needs {total} devices, {len(devices)} are available "
            f"({devices[0].platform}); on a CPU, simulate more with "
            f"XLA_FLAGS=--xla_force_host_platform_device_count={total}")
    grid = np.array(devices[:total], dtype=object).reshape(tuple(axes.values()))
    return Mesh(grid, tuple(axes))


def check_batch_size(mesh: Mesh, batch_size: int, grad_accum_steps: int = 1) -> None:
    """Each of the `grad_accum_steps` micro-batches must split evenly over the `data` axis."""
    data = mesh.shape.get("data", 1)
    if batch_size % (data * grad_accum_steps):
        raise ConfigError(
            f"config keys train.batch_size/train.mesh: batch_size {batch_size} must be divisible by "
            f"the data axis size {data} times train.grad_accum_steps {grad_accum_steps} "
            f"(= {data * grad_accum_steps})")


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def row_sharding(mesh: Mesh, shape: tuple) -> NamedSharding:
    """Leading axis over `data` when it divides evenly (else replicated)."""
    data = mesh.shape.get("data", 1)
    if "data" in mesh.axis_names and len(shape) >= 1 and shape[0] % data == 0:
        return NamedSharding(mesh, P("data"))
    return replicated(mesh)


def param_shardings(mesh: Mesh, state: Any, shard_params: bool) -> Any:
    """A tree of `NamedSharding`s like `state` (the model's nnx.Param state): replicated,
    or the last (gate) axis of `w_x`, `w_h`, `b` over `model` when `shard_params` and
    that axis divides by the `model` axis size."""
    model = mesh.shape.get("model", 1)

    def one(path, leaf):
        names = [getattr(k, "key", getattr(k, "name", None)) for k in path]
        if (shard_params and "model" in mesh.axis_names and any(n in GATE_AXIS_PARAMS for n in names)
                and leaf.shape and leaf.shape[-1] % model == 0):
            return NamedSharding(mesh, P(*([None] * (leaf.ndim - 1)), "model"))
        return replicated(mesh)

    return jax.tree_util.tree_map_with_path(one, state)


def opt_state_shardings(mesh: Mesh, optimizer: optax.GradientTransformation, opt_state: Any,
                        state_shardings: Any) -> Any:
    """Shardings for the optimizer state: parameter-shaped parts (Adam's moments, momentum)
    follow their parameter, everything else (step counts) is replicated."""
    return optax.tree_map_params(optimizer, lambda _, sharding: sharding, opt_state, state_shardings,
                                 transform_non_params=lambda _: replicated(mesh))


def put(tree: Any, shardings: Any) -> Any:
    """Place every leaf of `tree` (host or device arrays, PRNG keys) with its sharding."""

    def one(x, sharding):
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            return jax.random.wrap_key_data(one(jax.random.key_data(x), sharding),
                                            impl=jax.random.key_impl(x))
        host = np.asarray(x)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    return jax.tree.map(one, tree, shardings)


def put_rows(mesh: Mesh, tree: Any) -> Any:
    """Place a batch-like tree (leaves with a leading batch axis) split over `data`."""
    return put(tree, jax.tree.map(lambda x: row_sharding(mesh, np.shape(x)), tree))


def put_replicated(mesh: Mesh, tree: Any) -> Any:
    return put(tree, jax.tree.map(lambda _: replicated(mesh), tree))


def to_host(tree: Any) -> Any:
    """Every array leaf of `tree` as a NumPy array holding its full global value. An array
    spread over other processes' devices is gathered (`process_allgather`, a collective:
    every process must call `to_host` on the same tree)."""
    from jax.experimental import multihost_utils

    def one(x):
        if not isinstance(x, jax.Array) or x.is_fully_addressable or x.is_fully_replicated:
            return np.asarray(x)
        return np.asarray(multihost_utils.process_allgather(x, tiled=True))

    return jax.tree.map(one, tree)
