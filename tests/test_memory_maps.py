"""Why tests/conftest.py clears JAX's caches when a worker's memory maps pass a bound:
every live compiled executable holds memory maps (its JIT code), released only when
JAX's caches drop it. Linux caps a process at vm.max_map_count maps (65530 by default);
a worker of the conformance matrix, compiling thousands of programs, died there."""

import gc
import sys

import jax
import jax.numpy as jnp
import pytest

from tests.conftest import _memory_maps


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_compiled_executables_hold_memory_maps_until_the_caches_are_cleared():
    jax.clear_caches()
    gc.collect()
    before = _memory_maps()
    functions = [jax.jit(lambda x, k=k: jnp.sin(x) * k) for k in range(60)]
    for k, f in enumerate(functions):
        f(jnp.ones(k + 1)).block_until_ready()
    grown = _memory_maps()
    assert grown >= before + 60, (before, grown)
    jax.clear_caches()
    gc.collect()
    assert _memory_maps() <= before + (grown - before) // 4, (before, grown, _memory_maps())
