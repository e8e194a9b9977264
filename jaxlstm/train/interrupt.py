"""Ctrl-C during training: stop at the end of the current step.

Python delivers SIGINT as a `KeyboardInterrupt` wherever the interpreter happens
to be, including inside callbacks whose exceptions are printed and dropped (such
as JAX's garbage-collection callback), so a plain Ctrl-C can be lost, and it can
land halfway through a checkpoint write. `StepInterrupt` replaces the handler
while a run trains: the first SIGINT only sets `requested`, which the loop checks
between steps; a second one raises `KeyboardInterrupt` at once.
"""

from __future__ import annotations

import signal
import threading


class StepInterrupt:
    """The SIGINT handler of a training run: `install()` it, check `requested`, `restore()` it.

    Outside the main thread (where signals cannot be handled) it installs nothing.
    """

    def __init__(self):
        self.requested = False
        self._previous = None

    @classmethod
    def install(cls) -> "StepInterrupt":
        interrupt = cls()
        if threading.current_thread() is threading.main_thread():
            interrupt._previous = signal.signal(signal.SIGINT, interrupt._handle)
        return interrupt

    def restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
