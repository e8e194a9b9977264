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


def read_metrics(path: Path) -> list[dict]:
    """All records; a torn last line (from a kill mid-write) is dropped."""
    if not Path(path).exists():
        return []
    records = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
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
