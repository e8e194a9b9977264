"""Shared fixtures: tiny configs for end-to-end training tests (seconds each on 2 CPU cores)."""

import os
import tempfile

import pytest

# Many tests compile the same programs (each subprocess run of one config, each TaskTrainer):
# XLA's persistent compilation cache, shared by the xdist workers and the subprocesses they
# start, compiles each once. Set before anything imports jax.
USER_ID = getattr(os, "getuid", lambda: 0)()
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                      os.path.join(tempfile.gettempdir(), f"jaxlstm-test-xla-cache-{USER_ID}"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.1")
os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(2**30))  # bytes; least recently used go

# The suite's programs are small and run once or a few times: XLA's backend (LLVM) optimisation
# passes cost more than they save here. Level 0 cut two compile-bound test files from 164 s to
# 120 s on 2 cores (docs/testing.md). The same operations run, rounded differently in the last
# bits between programs (tests compare two programs within tolerances). The library's default
# is untouched; only the benchmarks' smoke tests (agreement, not speed) run under this flag.
if "--xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + " --xla_backend_optimization_level=0").strip()

from hypothesis import settings  # noqa: E402

# The property tests that compile a model per example take max_examples from the profile:
# "default" 10 (they were 4-7; each example compiles, a few seconds on 2 idle cores, so more
# would lengthen the suite), "thorough" 100 (HYPOTHESIS_PROFILE=thorough). Cheap properties
# set their own, larger, counts.
settings.register_profile("default", max_examples=10)
settings.register_profile("thorough", max_examples=100)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

import jaxlstm  # noqa: E402,F401
from tests.ci_requirements import missing_in_ci  # noqa: E402


# Every compiled XLA executable holds a few memory mappings (its JIT code) until JAX's caches
# drop it; a worker that compiles thousands (the conformance matrix) reaches the kernel's
# vm.max_map_count (65530 here) and dies inside XLA: a segfault while compiling or reading
# the compilation cache. Clearing the caches when the count gets high frees them.
MAX_MAPS_BEFORE_CLEARING = 20_000


def _memory_maps() -> int:
    try:
        with open("/proc/self/maps", "rb") as maps:
            return sum(1 for _ in maps)
    except OSError:  # not Linux
        return 0


@pytest.fixture(autouse=True)
def _bounded_memory_maps():
    yield
    if _memory_maps() > MAX_MAPS_BEFORE_CLEARING:
        import gc

        import jax

        jax.clear_caches()
        gc.collect()


def pytest_sessionstart(session):
    """With CI=true, a package the suite needs that does not import is an error, not a skip."""
    missing = missing_in_ci(os.environ)
    if missing:
        pytest.exit(f"CI=true: these packages must import (pip install -e \".[dev]\"), but do not: "
                    f"{'; '.join(missing)}", returncode=1)

TEXT = ("the cat sat on the mat. the dog sat on the log. " * 40 +
        "a cat and a dog sat on a mat and a log. " * 20)


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


@pytest.fixture
def tiny_config(tmp_path):
    """`tiny_config(name, task, train, data)` writes tmp_path/<name>.yaml, a config with a
    16-unit model (embed_dim 8), learning rate 0.01 and runs under tmp_path/runs, and
    returns its path; `train` and `data` are the insides of YAML flow mappings."""
    def write(name: str, task: str, train: str, data: str):
        path = tmp_path / f"{name}.yaml"
        path.write_text(f"""
name: {name}
task: {task}
out_dir: {tmp_path / 'runs'}
model: {{hidden_size: 16, embed_dim: 8}}
optim: {{learning_rate: 0.01}}
train: {{{train}}}
data: {{{data}}}
""")
        return path
    return write


@pytest.fixture
def tiny_lm(tiny_config, text_file):
    """A config file for a tiny character LM on a generated text file."""
    return tiny_config("tiny", "char_lm",
                       "steps: 20, batch_size: 8, eval_every: 10, checkpoint_every: 10, log_every: 5, progress: false",
                       f"source: {text_file}, seq_len: 16, eval_batches: 2, eval_batch_size: 8")
