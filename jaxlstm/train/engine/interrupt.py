"""Ctrl-C and pre-emption during training: stop at the end of the current step.

Python delivers SIGINT as a `KeyboardInterrupt` wherever the interpreter happens
to be, including inside callbacks whose exceptions are printed and dropped (such
as JAX's garbage-collection callback), so a plain Ctrl-C can be lost, and it can
land halfway through a checkpoint write. SIGTERM -- what SLURM, Kubernetes and
cloud schedulers send before they kill a job -- would end the process at once.
`StepInterrupt` replaces both handlers while a run trains: the first signal only
records its number in `signum`, which the loop checks between steps; it then saves
a checkpoint and raises `RunInterrupted`. A second signal raises `RunInterrupted`
at once.
"""

from __future__ import annotations

import signal
import threading
from typing import Optional

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by a signal; `exit_code` is the shell's 128 + signal number
    (130 for SIGINT, 143 for SIGTERM)."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)
        self.exit_code = 128 + self.signum


class StepInterrupt:
    """The SIGINT/SIGTERM handler of a training run: `install()` it, check `requested`
    (or `signum`, the first signal's number), `restore()` it.

    Outside the main thread (where signals cannot be handled) it installs nothing.
    """

    def __init__(self):
        self.signum: Optional[int] = None
        self._previous: dict = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @classmethod
    def install(cls) -> "StepInterrupt":
        interrupt = cls()
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                interrupt._previous[sig] = signal.signal(sig, interrupt._handle)
        return interrupt

    def restore(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, signal.SIG_DFL if previous is None else previous)
        self._previous = {}

    def _handle(self, signum, frame):
        if self.requested:
            raise RunInterrupted(signum)
        self.signum = signum
