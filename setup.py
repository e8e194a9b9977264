"""Builds jaxlstm's oneDNN LSTM kernel (jaxlstm/kernels/onednn_lstm.cc, see
jaxlstm/core/onednn.py); everything else about the package is in pyproject.toml.

The kernel compiles against the XLA FFI headers that jaxlib ships and oneDNN's wheels
(`onednn-devel-cpu-gomp` headers, `onednn-cpu-gomp` library), all build requirements.
Where they or a C++ compiler are missing (a platform without the oneDNN wheels), the
kernel is skipped and jaxlstm runs its XLA scan everywhere.
"""

import importlib.metadata
import os

from setuptools import Extension, setup


def _folder_of(distribution: str, relative_path: str):
    """The folder under which an installed distribution holds `relative_path` (e.g.
    "oneapi/dnnl/dnnl.hpp" -> its include folder), or None."""
    try:
        files = importlib.metadata.distribution(distribution).files or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in files:
        path = os.path.normpath(str(f.locate()))
        if path.endswith(os.sep + os.path.normpath(relative_path)):
            return path[: -len(os.path.normpath(relative_path)) - 1]
    return None


def kernel_extensions():
    try:
        import jaxlib
    except ImportError:
        return []
    include = _folder_of("onednn-devel-cpu-gomp", "oneapi/dnnl/dnnl.hpp")
    lib = _folder_of("onednn-cpu-gomp", "libdnnl.so")
    if include is None or lib is None:
        return []
    return [Extension(
        "jaxlstm.kernels._onednn_lstm", ["jaxlstm/kernels/onednn_lstm.cc"],
        include_dirs=[include, os.path.join(os.path.dirname(jaxlib.__file__), "include")],
        library_dirs=[lib], libraries=["dnnl"], language="c++",
        extra_compile_args=["-std=c++17", "-O2"], optional=True)]


setup(ext_modules=kernel_extensions())
