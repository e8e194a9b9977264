"""Multi-host runs: `jax.distributed.initialize` before JAX touches a device.

Every host runs the same command; with `train.distributed: true` (or `jaxlstm train
--distributed`) each process connects to the coordinator (process 0), after which
`jax.devices()` lists every host's devices and `train.mesh` spans them. The three
settings come from the arguments or else from the environment variables
JAX_COORDINATOR_ADDRESS ("host:port" of process 0), JAX_NUM_PROCESSES and
JAX_PROCESS_ID; any left unset are auto-detected by JAX on clusters it knows
(SLURM, Open MPI, Cloud TPU). On CPUs the collectives run over Gloo (JAX's default).

When a process dies, the others see a failed collective or barrier at once, or miss
its heartbeat after `heartbeat_timeout_seconds`; `lost_contact` recognises that error,
`report_lost_contact` prints it in one line (exit code 3) and `leave` ends the process
without JAX's shutdown barrier, which would otherwise wait for the dead process and
then abort. docs/reliability.md has the launch commands (two processes on one
machine, several hosts, SLURM).
"""

from __future__ import annotations

import os
from typing import Optional

import jax

from jaxlstm.train.engine.config_checks import ConfigError

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


LOST_PEER_EXIT_CODE = 3


def is_multiprocess() -> bool:
    """True in a run of more than one process (after `initialize`)."""
    return jax.distributed.is_initialized() and jax.process_count() > 1


LOST_CONTACT_SIGNS = ("Gloo", "coordination service", "heartbeat", "Connection reset",
                      "Connection closed", "DEADLINE_EXCEEDED", "Barrier")


def lost_contact(error: BaseException) -> bool:
    """Whether `error` says a collective or barrier with another process failed: a
    `JaxRuntimeError` anywhere in its chain, or one that Orbax re-raised as another
    type with the runtime's message."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, jax.errors.JaxRuntimeError):
            return True
        if any(sign in str(error) for sign in LOST_CONTACT_SIGNS):
            return True
        error = error.__cause__ or error.__context__
    return False


def report_lost_contact(error: BaseException, prefix: str) -> int:
    """Print one line for a multi-process run that lost a peer; returns the exit code 3."""
    import sys

    detail = " ".join(str(error).split())[:240]
    print(f"{prefix}: error: process {jax.process_index()} of {jax.process_count()} lost contact "
          f"with the other processes ({type(error).__name__}: {detail}); the last checkpoint is "
          f"kept: start every process again with --resume", file=sys.stderr)
    return LOST_PEER_EXIT_CODE


def leave(code: int) -> int:
    """Return `code`, except that a multi-process run failing on this process ends the
    process here (`os._exit`): the shutdown barrier JAX runs at exit would wait for the
    other processes and then abort with a fatal log instead of exiting with `code`."""
    if code and is_multiprocess():
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
