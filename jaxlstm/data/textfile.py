"""Reading UTF-8 text files with errors that name the file (and byte offset)."""

from __future__ import annotations

import os
from pathlib import Path


def read_utf8(path, *, allow_empty: bool = False) -> str:
    """Read the whole file at `path` as UTF-8 (a leading byte-order mark is dropped).

    Raises:
      FileNotFoundError: `path` does not exist or is not a regular file.
      ValueError: the file is empty (unless `allow_empty`), or is not valid UTF-8;
        the message names the file and the byte offset of the first bad byte.
    """
    p = Path(os.fspath(path))
    if not p.exists():
        raise FileNotFoundError(f"text file not found: {str(p)!r}")
    if not p.is_file():
        raise FileNotFoundError(f"expected a regular file, got a directory or special file: {str(p)!r}")
    data = p.read_bytes()
    if not data and not allow_empty:
        raise ValueError(f"text file is empty (0 bytes): {str(p)!r}")
    skip = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        return data[skip:].decode("utf-8")
    except UnicodeDecodeError as err:
        start = err.start + skip
        bad = data[start : err.end + skip].hex()
        raise ValueError(
            f"{str(p)!r} is not valid UTF-8: byte offset {start} (0x{bad}): {err.reason}"
        ) from None
