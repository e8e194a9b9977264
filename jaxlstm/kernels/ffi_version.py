"""The XLA FFI API version a jaxlib's headers declare, and whether a kernel built against
one version can run in a process whose jaxlib has another.

XLA's FFI C API (xla/ffi/api/c_api.h) versions its ABI as (major, minor): a major change
breaks the ABI, a minor one adds to it. A handler compiled against (M, m) runs in XLA
(M', m') when M == M' and m <= m'. setup.py records the version the kernel was compiled
against (`BUILD_INFO`, written beside the kernel); `jaxlstm.core.backends.onednn` checks it
against the jaxlib it runs with before loading the kernel. No imports beyond the standard
library: setup.py loads this file by path, before jaxlstm can be imported.
"""

from __future__ import annotations

import json
import os
import re
from typing import Optional

BUILD_INFO = "_onednn_lstm.build.json"


def header_version(jaxlib_dir: str) -> Optional[tuple[int, int]]:
    """(XLA_FFI_API_MAJOR, XLA_FFI_API_MINOR) from jaxlib's include/xla/ffi/api/c_api.h,
    or None when the header is missing or does not define them."""
    path = os.path.join(jaxlib_dir, "include", "xla", "ffi", "api", "c_api.h")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None
    found = [re.search(rf"^#define XLA_FFI_API_{part}\s+(\d+)", text, re.M) for part in ("MAJOR", "MINOR")]
    if not all(found):
        return None
    return int(found[0].group(1)), int(found[1].group(1))


def write_build_info(kernel_dir: str, jaxlib_version: str, jaxlib_dir: str) -> None:
    """Record beside the kernel the jaxlib and FFI API version it is compiled against."""
    info = {"jaxlib": jaxlib_version, "xla_ffi_api": header_version(jaxlib_dir)}
    with open(os.path.join(kernel_dir, BUILD_INFO), "w", encoding="utf-8") as f:
        json.dump(info, f)


def read_build_info(kernel_dir: str) -> Optional[dict]:
    try:
        with open(os.path.join(kernel_dir, BUILD_INFO), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def incompatibility(built: Optional[dict], runtime_api: Optional[tuple[int, int]], runtime_jaxlib: str) -> str:
    """"" when a kernel of build info `built` can run with a jaxlib (`runtime_jaxlib`) whose
    FFI API version is `runtime_api`; otherwise why not, in one sentence. Unknown versions
    (no build info, no header) are not held against the kernel."""
    if not built or not built.get("xla_ffi_api") or runtime_api is None:
        return ""
    (major, minor), (run_major, run_minor) = built["xla_ffi_api"], runtime_api
    if major == run_major and minor <= run_minor:
        return ""
    return (f"the kernel was built against jaxlib {built.get('jaxlib')} (XLA FFI API {major}.{minor}) and "
            f"this is jaxlib {runtime_jaxlib} (XLA FFI API {run_major}.{run_minor}); rebuild it against "
            f"the installed jaxlib with `pip install --no-build-isolation --force-reinstall --no-deps jaxlstm` "
            f"(or `pip install --no-build-isolation -e .` in a checkout)")
