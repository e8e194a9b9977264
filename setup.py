"""Builds jaxlstm's oneDNN LSTM kernel (jaxlstm/kernels/onednn_lstm.cc, see
jaxlstm/core/backends/onednn.py); everything else about the package is in pyproject.toml.

The kernel compiles against the XLA FFI headers that jaxlib ships and oneDNN's wheels
(`onednn-devel-cpu-gomp` headers, `onednn-cpu-gomp` library), all build requirements.
Where they or a C++ compiler are missing (a platform without the oneDNN wheels), the
kernel is skipped and jaxlstm runs its XLA scan everywhere.

The build then bundles, next to the kernel, one copy of oneDNN and of the compiler's
OpenMP runtime under names of their own (libdnnl-jaxlstm.so.3, libgomp-jaxlstm.so.1,
renamed with patchelf, found through RPATH $ORIGIN). The kernel loads them privately
(RTLD_LOCAL | RTLD_DEEPBIND), so its OpenMP runtime and its settings are its own
whether or not PyTorch's libgomp.so.1 was loaded first, and nothing of oneDNN is
needed at run time. It also records the XLA FFI API version of the jaxlib it compiled
against (jaxlstm/kernels/ffi_version.py): a jaxlib installed later with an incompatible
one makes jaxlstm run the XLA scan and say why, instead of loading the kernel.
`pip install --no-build-isolation` builds against the jaxlib already installed.
"""

import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

_spec = importlib.util.spec_from_file_location("ffi_version", os.path.join("jaxlstm", "kernels", "ffi_version.py"))
ffi_version = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ffi_version)

BUNDLED_DNNL = "libdnnl-jaxlstm.so.3"
BUNDLED_GOMP = "libgomp-jaxlstm.so.1"


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


def _patchelf() -> str:
    for folder in (os.path.dirname(sys.executable), sysconfig.get_path("scripts")):
        candidate = os.path.join(folder, "patchelf")
        if os.path.exists(candidate):
            return candidate
    found = shutil.which("patchelf")
    if found is None:
        raise RuntimeError("patchelf (a build requirement) was not found")
    return found


def _libgomp(compiler: str) -> str:
    """The OpenMP runtime of the C++ compiler that builds the kernel."""
    path = subprocess.run([compiler, "-print-file-name=libgomp.so.1"], capture_output=True,
                          text=True, check=True).stdout.strip()
    if not os.path.isabs(path) or not os.path.exists(path):
        raise RuntimeError(f"{compiler} does not know where libgomp.so.1 is ({path!r})")
    return os.path.realpath(path)


class BuildKernel(build_ext):
    """build_ext, then the private oneDNN and OpenMP copies beside the kernel (see above).
    An optional extension whose bundling fails is removed, so the XLA scan runs instead."""

    def run(self):
        super().run()
        for ext in self.extensions:
            built = self.get_ext_fullpath(ext.name)
            if not os.path.exists(built):
                continue
            try:
                self._bundle(built, ext)
                import jaxlib

                ffi_version.write_build_info(os.path.dirname(built), jaxlib.__version__,
                                             os.path.dirname(jaxlib.__file__))
            except (OSError, RuntimeError, subprocess.CalledProcessError) as e:
                print(f"warning: jaxlstm's oneDNN kernel is not used: bundling its libraries "
                      f"failed ({e})", file=sys.stderr)
                os.remove(built)

    def _bundle(self, built: str, ext: Extension) -> None:
        patchelf, folder = _patchelf(), os.path.dirname(built)
        dnnl = os.path.join(folder, BUNDLED_DNNL)
        gomp = os.path.join(folder, BUNDLED_GOMP)
        shutil.copyfile(os.path.join(ext.library_dirs[0], "libdnnl.so.3"), dnnl)
        compiler = (self.compiler.compiler_cxx or ["c++"])[0]
        shutil.copyfile(_libgomp(compiler), gomp)
        run = lambda *args: subprocess.run([patchelf, *args], check=True)  # noqa: E731
        run("--set-soname", BUNDLED_GOMP, gomp)
        run("--set-soname", BUNDLED_DNNL, dnnl)
        run("--replace-needed", "libgomp.so.1", BUNDLED_GOMP, dnnl)
        run("--set-rpath", "$ORIGIN", dnnl)
        run("--replace-needed", "libdnnl.so.3", BUNDLED_DNNL, built)
        run("--set-rpath", "$ORIGIN", built)


setup(ext_modules=kernel_extensions(), cmdclass={"build_ext": BuildKernel})
