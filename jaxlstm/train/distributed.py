"""Multi-host runs: `jax.distributed.initialize` before JAX touches a device.

Every host runs the same command; with `train.distributed: true` (or `jaxlstm train
--distributed`) each process connects to the coordinator (process 0), after which
`jax.devices()` lists every host's devices and `train.mesh` spans them. The three
settings come from the arguments or else from the environment variables
JAX_COORDINATOR_ADDRESS ("host:port" of process 0), JAX_NUM_PROCESSES and
JAX_PROCESS_ID; any left unset are auto-detected by JAX on clusters it knows
(SLURM, Open MPI, Cloud TPU).
"""

from __future__ import annotations

import os
from typing import Optional

import jax

from jaxlstm.train.config import ConfigError

ENV = {"coordinator_address": "JAX_COORDINATOR_ADDRESS", "num_processes": "JAX_NUM_PROCESSES",
       "process_id": "JAX_PROCESS_ID"}


def _from_env(name: str, value, cast):
    if value is not None:
        return value
    raw = os.environ.get(ENV[name])
    if raw is None or raw == "":
        return None
    try:
        return cast(raw)
    except ValueError:
        raise ConfigError(f"environment variable {ENV[name]}: must be an int, got {raw!r}") from None


def initialize(coordinator_address: Optional[str] = None, num_processes: Optional[int] = None,
               process_id: Optional[int] = None, *, heartbeat_timeout_seconds: int = 100) -> None:
    """Call `jax.distributed.initialize` once (a second call does nothing).

    Arguments left None are read from JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and
    JAX_PROCESS_ID, and else left for JAX to detect. A process that sends no heartbeat
    for `heartbeat_timeout_seconds` counts as dead and the others stop.
    """
    if jax.distributed.is_initialized():
        return
    kwargs = {"coordinator_address": _from_env("coordinator_address", coordinator_address, str),
              "num_processes": _from_env("num_processes", num_processes, int),
              "process_id": _from_env("process_id", process_id, int)}
    n, i = kwargs["num_processes"], kwargs["process_id"]
    if n is not None and n < 1:
        raise ConfigError(f"--num-processes / {ENV['num_processes']}: must be >= 1, got {n}")
    if i is not None and n is not None and not 0 <= i < n:
        raise ConfigError(f"--process-id / {ENV['process_id']}: must lie in [0, {n}), got {i}")
    if heartbeat_timeout_seconds < 1:
        raise ConfigError(f"--heartbeat-timeout: must be >= 1 second, got {heartbeat_timeout_seconds}")
    jax.distributed.initialize(**{k: v for k, v in kwargs.items() if v is not None},
                               heartbeat_timeout_seconds=heartbeat_timeout_seconds)


def is_main_process() -> bool:
    """True on the process that writes the run folder's metrics, plots and summary."""
    return jax.process_index() == 0
