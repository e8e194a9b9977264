"""Where a result came from: the jaxlstm version, the git commit of its source, the time.

`provenance()` goes into every run's `summary.json` and every sweep's `results.json`, so
a number can be traced to the code that produced it.
"""

from __future__ import annotations

import datetime
import subprocess
from pathlib import Path
from typing import Optional

from jaxlstm.version import __version__

SOURCE_DIR = Path(__file__).resolve().parents[3]  # the folder that holds the jaxlstm package


def git_commit(directory: Path = SOURCE_DIR) -> tuple[Optional[str], Optional[bool]]:
    """(commit hash, whether tracked files differ from it) of the git checkout holding
    `directory`, or (None, None) when jaxlstm's source is not tracked there (an installed
    wheel, even inside another project's repository) or git is missing."""
    def git(*args: str) -> Optional[str]:
        try:
            done = subprocess.run(["git", "-C", str(directory), *args], capture_output=True,
                                  text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    if git("ls-files", "--error-unmatch", "jaxlstm/__init__.py") is None:
        return None, None
    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None, None
    status = git("status", "--porcelain", "--untracked-files=no")
    return commit, None if status is None else bool(status)


def provenance() -> dict:
    """{"jaxlstm": version, "git_commit": hash or None, "git_dirty": bool or None,
    "created_utc": ISO 8601 time, e.g. "2026-01-31T12:00:00Z"}."""
    commit, dirty = git_commit()
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    return {"jaxlstm": __version__, "git_commit": commit, "git_dirty": dirty,
            "created_utc": now.isoformat().replace("+00:00", "Z")}
