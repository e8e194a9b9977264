"""The kernel runs only with a jaxlib whose XLA FFI API can call it (major equal, minor not older)."""

import pytest

from jaxlstm.core.backends import onednn
from jaxlstm.kernels import ffi_version


def test_the_header_version_is_read_from_the_defines(tmp_path):
    header = tmp_path / "include" / "xla" / "ffi" / "api" / "c_api.h"
    header.parent.mkdir(parents=True)
    header.write_text("// comment\n#define XLA_FFI_API_MAJOR 2\n\n#define XLA_FFI_API_MINOR 17\n")
    assert ffi_version.header_version(str(tmp_path)) == (2, 17)
    header.write_text("#define XLA_FFI_API_MAJOR 2\n")
    assert ffi_version.header_version(str(tmp_path)) is None
    assert ffi_version.header_version(str(tmp_path / "nowhere")) is None


@pytest.mark.parametrize("built,runtime,ok", [
    ([0, 3], (0, 3), True), ([0, 2], (0, 3), True),   # a newer minor still calls older handlers
    ([0, 3], (0, 2), False), ([0, 3], (1, 3), False), ([1, 0], (0, 9), False)])
def test_compatibility_rule(built, runtime, ok):
    why = ffi_version.incompatibility({"jaxlib": "0.8.0", "xla_ffi_api": built}, runtime, "0.9.0")
    assert (why == "") == ok
    if not ok:
        assert f"jaxlib 0.8.0 (XLA FFI API {built[0]}.{built[1]})" in why and "--no-build-isolation" in why


def test_unknown_versions_are_not_held_against_the_kernel():
    assert ffi_version.incompatibility(None, (0, 3), "x") == ""
    assert ffi_version.incompatibility({"jaxlib": "x", "xla_ffi_api": None}, (0, 3), "x") == ""
    assert ffi_version.incompatibility({"jaxlib": "x", "xla_ffi_api": [0, 3]}, None, "x") == ""


def test_an_incompatible_build_is_not_loaded_and_says_why(monkeypatch):
    if not onednn.glob.glob(onednn.os.path.join(onednn._KERNEL_DIR, "_onednn_lstm*.so")):
        pytest.skip("the kernel is not built here")
    monkeypatch.delenv("JAXLSTM_KERNEL", raising=False)
    monkeypatch.setattr(ffi_version, "read_build_info", lambda d: {"jaxlib": "9.9.9", "xla_ffi_api": [99, 0]})
    library, why = onednn._open()
    assert library is None and "built against jaxlib 9.9.9 (XLA FFI API 99.0)" in why
