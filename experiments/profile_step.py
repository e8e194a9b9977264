"""Where an LSTM training step's time goes, per compiled XLA operation.

    python experiments/profile_step.py [--shape B,T,X,H] [--layers N] [--bidirectional] [--top K]

Builds the float32 training step that `bench.py` times (its `make_jaxlstm`:
`stack(lstm_batch, ...)`, value and gradients of mean(outputs**2) w.r.t. every
parameter), runs it a few times under
`jax.profiler.trace`, reads the trace back with `jax.profiler.ProfileData` and prints
a table: milliseconds per training step and calls per step for each XLA operation
(fusions, dots, copies, the while loops), largest first. Names are those of the
optimized HLO (`jax.jit(f).lower(...).compile().as_text()` shows what each one is).

The profiler adds about a microsecond to every operation it records, so steps made of
many small operations (B = 1) read slower than `bench.py` measures them. Operations
split across the thread pool (large dots) show only their dispatch here; the step's
wall time is printed for reference, with the minor page faults per step (the kernel's
count, `getrusage`): XLA:CPU allocates its large buffers afresh on every call, and a
fault per 4 KiB page touched is time no XLA operation shows (docs/performance.md:
`GLIBC_TUNABLES=glibc.malloc.hugetlb=1` cuts them ~50x).
"""

from __future__ import annotations

import argparse
import collections
import glob
import os
import resource
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from jax.profiler import ProfileData  # noqa: E402

from bench import make_jaxlstm, ref_weights  # noqa: E402


def train_step(shape, num_layers, bidirectional):
    """A no-argument call of bench.py's jaxlstm training step for xs (B, T, X), hidden size H."""
    b, t, x, h = shape
    layers = ref_weights(jax.random.key(0), x, h, num_layers, bidirectional)
    xs = jax.random.normal(jax.random.key(1), (b, t, x), jnp.float32)
    _, train, _ = make_jaxlstm(layers, xs, bidirectional)
    return train


def op_times(step, runs):
    """{op name: (total ns, calls)} over `runs` profiled steps."""
    folder = tempfile.mkdtemp(prefix="jaxlstm-profile-")
    with jax.profiler.trace(folder):
        for _ in range(runs):
            jax.block_until_ready(step())
    path = glob.glob(os.path.join(folder, "**", "*.xplane.pb"), recursive=True)[0]
    totals = collections.defaultdict(lambda: [0, 0])
    for plane in ProfileData.from_file(path).planes:
        for line in plane.lines:
            if line.name == "python":
                continue
            for event in line.events:
                if "ThunkExecutor" in event.name or event.name.startswith("end: "):
                    continue
                totals[event.name][0] += event.duration_ns
                totals[event.name][1] += 1
    return totals


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", default="1,1000,32,128", help="B,T,X,H (default: the benchmark's S3)")
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--bidirectional", action="store_true")
    ap.add_argument("--runs", type=int, default=3, help="profiled steps (after two warm-up steps)")
    ap.add_argument("--top", type=int, default=25, help="rows to print")
    args = ap.parse_args(argv)
    shape = tuple(int(v) for v in args.shape.split(","))
    if len(shape) != 4 or min(shape) <= 0:
        ap.error(f"--shape must be four positive ints B,T,X,H, got {args.shape!r}")

    step = train_step(shape, args.layers, args.bidirectional)
    walls = []
    for run in range(2 + args.runs):
        if run == 2:
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t0 = time.perf_counter()
        jax.block_until_ready(step())
        walls.append(time.perf_counter() - t0)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / args.runs
    totals = op_times(step, args.runs)

    print(f"# training step {shape}, {args.layers} layer(s){', bidirectional' if args.bidirectional else ''}: "
          f"{1e3 * statistics.median(walls[2:]):.2f} ms wall (median of {args.runs}, unprofiled), "
          f"{faults:.0f} page faults per step\n")
    print("| XLA op | ms / step | calls / step |")
    print("|---|---|---|")
    ranked = sorted(totals.items(), key=lambda kv: -kv[1][0])
    for name, (ns, calls) in ranked[:args.top]:
        print(f"| {name} | {ns / args.runs / 1e6:.3f} | {calls / args.runs:g} |")


if __name__ == "__main__":
    main()
