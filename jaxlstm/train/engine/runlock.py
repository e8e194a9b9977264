"""`RunLock`: one training run per run folder at a time.

The lock is an exclusive `fcntl.flock` on `RUN_DIR/.lock`, taken before the run
writes anything into the folder and held until it returns. The kernel releases a
flock when its process exits for any reason (kill -9 included), so a lock left by a
killed run never blocks `--resume`; the file itself stays, holding the last holder's
pid, host and start time, which a refused run names in its error.

flock works between processes on one machine and, on Linux, on NFS v4 mounts (where
it is mapped onto NFS byte-range locks); on file systems without locking, `acquire`
raises the OSError. Windows has no flock: there the lock does nothing.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock; runs there are not locked (docs/reliability.md)
    fcntl = None

LOCK_NAME = ".lock"


class RunLocked(RuntimeError):
    """Another process holds the run folder's lock; the message names its pid and host."""


class RunLock:
    """The lock of `run_dir`; `acquire()` creates the folder if needed."""

    def __init__(self, run_dir):
        self.path = Path(run_dir) / LOCK_NAME
        self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "RunLock":
        """Take the lock or raise `RunLocked` naming the holder (never waits)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if fcntl is None:
            return self
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                os.close(fd)
                if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
                raise RunLocked(f"run folder {self.path.parent} is in use by another run "
                                f"({self.holder()}); wait for it to finish, or choose another "
                                f"name (name=...) or out_dir") from None
            try:  # the file we locked must still be the one at the path (not unlinked meanwhile)
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "started": time.strftime("%Y-%m-%d %H:%M:%S %z")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        os.fsync(fd)
        self._fd = fd
        return self

    def still_at_path(self) -> bool:
        """Whether the lock file held is still the one at its path (False once the run
        folder was deleted, moved or replaced); True when not held."""
        if self._fd is None:
            return True
        try:
            return os.fstat(self._fd).st_ino == os.stat(self.path).st_ino
        except FileNotFoundError:
            return False

    def holder(self) -> str:
        """'pid P on host H since T' from the lock file (what its holder wrote)."""
        try:
            record = json.loads(self.path.read_text(encoding="utf-8"))
            return f"pid {record['pid']} on host {record['host']} since {record['started']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "holder unknown: it has not written its pid yet"

    def release(self) -> None:
        if self._fd is not None and fcntl is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
