"""`metrics.jsonl`: one JSON object per logged step or evaluation."""

from __future__ import annotations

import json
import os
from pathlib import Path


def append_metrics(path: Path, record: dict) -> None:
    """Append one record (flushed and fsynced, so a kill loses at most the line in flight)."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


class MetricsFileError(ValueError):
    """metrics.jsonl holds something other than JSON lines; the message names the line."""


def read_metrics(path: Path) -> list[dict]:
    """All records; a torn last line (from a kill mid-write) is dropped.

    Raises:
      MetricsFileError: a line before the last is not a JSON object, or the file is not
        UTF-8 text (naming the file and the line): it was not written by a run.
    """
    path = Path(path)
    if not path.exists():
        return []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise MetricsFileError(f"{path} is not UTF-8 text (byte {e.start}); it was not written by "
                               f"jaxlstm: move it away to resume without it") from None
    records = []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if not isinstance(record, dict):
            if number == len(lines):
                continue  # the line a kill cut short
            raise MetricsFileError(f"{path}:{number} is not a JSON record ({line[:60]!r}); only the "
                                   f"last line may be torn: fix or delete that line")
        records.append(record)
    return records


def truncate_metrics(path: Path, last_step: int) -> None:
    """Drop records after `last_step` (before resuming from that step's checkpoint)."""
    kept = [r for r in read_metrics(path) if r.get("step", 0) <= last_step]
    tmp = Path(str(path) + ".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
    os.replace(tmp, path)


def write_json_atomic(path: Path, obj) -> None:
    """Write JSON to `path` via a temporary file and a rename."""
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
