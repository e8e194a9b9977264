"""The oneDNN kernel is built by the install and loaded on Linux x86_64 (needs no torch, so
a missing torch cannot hide a missing kernel)."""

import platform

import pytest

from jaxlstm.core.backends import onednn


@pytest.mark.skipif(not (platform.system() == "Linux" and platform.machine() == "x86_64"),
                    reason="the kernel is built on Linux x86_64 only")
def test_kernel_is_built_and_loaded():
    assert onednn.kernel_status() == onednn.IN_USE, onednn.kernel_status()
