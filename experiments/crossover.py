"""Where the oneDNN kernel beats the XLA scan: the measurements behind `dispatch.MIN_BATCH`
and `dispatch.MIN_HIDDEN`.

    python experiments/crossover.py [--repeats 7] [--quick]

For a grid of shapes (B, T, X, H) it times the training step of `jax.vmap(lstm)` (value
and gradients of mean(hs²)) with the kernel forced on and forced off (the XLA scan),
interleaved in every repeat so both see the same machine load, and prints the medians
and their ratio (> 1: the kernel is faster). The dispatch sends a batch to the kernel
only where the ratio was above 1 on the machines measured (docs/performance.md).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from unittest import mock

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import jaxlstm as J  # noqa: E402
from jaxlstm.core import dispatch  # noqa: E402

GRID = [(b, t, x, h) for b in (8, 32, 128) for h in (32, 64, 128, 256) for (t, x) in ((64, 32),)]
QUICK_GRID = [(8, 8, 4, 8), (8, 8, 4, 16)]


def step_fn(shape, kernel: bool):
    b, t, x, h = shape
    params = J.init_lstm(jax.random.key(0), x, h)
    xs = jax.random.normal(jax.random.key(1), (b, t, x))
    loss = lambda p, xs: jnp.mean(jax.vmap(lambda x: J.lstm(p, x))(xs)[1] ** 2)  # noqa: E731
    # Trace with the dispatch thresholds lowered (kernel on) or the kernel switched off.
    patches = {"MIN_BATCH": 1, "MIN_HIDDEN": 1} if kernel else {"MIN_BATCH": dispatch.MIN_BATCH}
    env = {} if kernel else {"JAXLSTM_KERNEL": "xla"}
    with mock.patch.multiple(dispatch, **patches), mock.patch.dict(os.environ, env):
        step = jax.jit(jax.value_and_grad(loss)).trace(params, xs).lower().compile()
        uses = "jaxlstm_lstm_forward" in jax.jit(loss).lower(params, xs).as_text()
    assert uses == kernel, (shape, kernel, uses)
    return lambda: jax.block_until_ready(step(params, xs))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="two tiny shapes (CI smoke test)")
    args = ap.parse_args(argv)
    print(f"# kernel vs XLA scan, training step of jax.vmap(lstm), medians of {args.repeats}\n")
    print(f"kernel: {J.kernel_status()}\n")
    print("| B | T | X | H | kernel ms | XLA scan ms | XLA / kernel |")
    print("|---|---|---|---|---|---|---|")
    for shape in (QUICK_GRID if args.quick else GRID):
        fns = {True: step_fn(shape, True), False: step_fn(shape, False)}
        for f in fns.values():
            f()
        times = {True: [], False: []}
        for _ in range(args.repeats):
            for kernel, f in fns.items():
                t0 = time.perf_counter()
                f()
                times[kernel].append(1e3 * (time.perf_counter() - t0))
        k, x = statistics.median(times[True]), statistics.median(times[False])
        print(f"| {' | '.join(map(str, shape))} | {k:.2f} | {x:.2f} | {x / k:.2f} |", flush=True)


if __name__ == "__main__":
    main()
