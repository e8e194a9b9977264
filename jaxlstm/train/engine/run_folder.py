"""`RunFolder`: the one place that decides whether a run may use a folder, and owns it.

`check_run_folder(run_dir, resume)` runs before anything is built or written (a model,
its data, a file): the path must be a folder or absent, a new run's folder must be
absent or empty, and the folder (or, for a new one, the nearest existing parent) and
its `checkpoints/` must be writable. `RunFolder.open()` then takes the run folder's
lock (`runlock.RunLock`, which creates the folder) and checks again under it.

While the run trains, `RunFolder.check_present()` (once per step) finds a folder that was
deleted or replaced under it: the lock file it holds is no longer the one at its path.

A start that fails (out of memory at the first step, a data error, ...) before the run
saved its first checkpoint leaves no folder behind when `open` created it, so the
corrected command can use the same name; `discard_if_unused()` removes it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from jaxlstm.train.engine.runlock import LOCK_NAME, RunLock


class RunExists(FileExistsError):
    """The run folder exists and neither resume nor a new name was asked for."""


class RunFolderError(RuntimeError):
    """The run folder cannot be used (a file, not writable) or was deleted while the run
    wrote it; the message names the path."""


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK | os.X_OK)


def check_run_folder(run_dir, resume: bool) -> None:
    """RunFolderError or RunExists unless a run may write `run_dir` (see the module
    docstring); creates nothing."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise RunFolderError(f"run folder {run_dir} is a file, not a folder; choose another name "
                             f"(name=...) or out_dir, or move the file away")
    if not run_dir.exists():
        parent = run_dir.absolute().parent
        while not parent.exists():
            parent = parent.parent
        if not parent.is_dir():
            raise RunFolderError(f"run folder {run_dir} cannot be created: {parent} is a file, not a folder")
        if not _writable(parent):
            raise RunFolderError(f"run folder {run_dir} cannot be created: {parent} is not writable "
                                 f"(permission denied); choose another out_dir")
        return
    if not resume and any(p.name != LOCK_NAME for p in run_dir.iterdir()):
        raise RunExists(f"run folder {run_dir} already exists; pass --resume (resume=True) to "
                        f"continue it, or choose another name (name=...) or out_dir")
    for path in (run_dir, run_dir / "checkpoints"):
        if path.exists() and not path.is_dir():
            raise RunFolderError(f"{path} is a file, not a folder; move it away")
        if path.exists() and not _writable(path):
            raise RunFolderError(f"{path} is not writable (permission denied); the run cannot "
                                 f"save checkpoints or metrics there")


class RunFolder:
    """The run folder `run_dir` of one run: checked, locked, watched, and removed again
    when a failed start created it (see the module docstring)."""

    def __init__(self, run_dir, resume: bool):
        self.path, self.resume = Path(run_dir), resume
        self.lock = RunLock(self.path)
        self.created = False

    def open(self) -> "RunFolder":
        """Check the folder, take its lock and check again under the lock.

        Raises:
          RunExists, RunFolderError: as `check_run_folder`.
          RunLocked: another run holds the lock (the message names its pid and host).
        """
        check_run_folder(self.path, self.resume)
        existed = self.path.exists()
        self.lock.acquire()
        self.created = not existed
        try:
            check_run_folder(self.path, self.resume)  # under the lock: no other run writes now
        except Exception:
            self.close()
            raise
        return self

    def check_present(self, step: int) -> None:
        """RunFolderError when the folder was deleted or replaced since `open` (the lock
        file held is no longer the one at its path)."""
        if not self.lock.still_at_path():
            raise RunFolderError(f"run folder {self.path} was deleted or replaced while this run "
                                 f"was writing it; stopped at step {step} without writing more. "
                                 f"Start the run again (into a new folder, or restore the old one)")

    def discard_if_unused(self) -> bool:
        """After a failed start: remove the folder if `open` created it and it holds no
        checkpoint (nothing that a resume could use); True if removed."""
        checkpoints = self.path / "checkpoints"
        saved = checkpoints.is_dir() and any(p.name.isdigit() for p in checkpoints.iterdir())
        if not self.created or saved or not self.path.is_dir():
            return False
        for p in self.path.iterdir():  # under the lock; the lock file itself goes last
            if p.name != LOCK_NAME:
                shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        self.close()
        try:
            (self.path / LOCK_NAME).unlink()
            self.path.rmdir()
        except OSError:
            pass  # another run took the folder meanwhile: it is its folder now
        return True

    def close(self) -> None:
        self.lock.release()
