"""Peak memory of an LSTM training step at T = 16,384 with and without rematerialisation.

    python experiments/remat_memory.py [--quick] [--no-timing] [--repeats N]

The step is jitted `value_and_grad` of a per-step regression loss
mean((h_t · w_out - x_{t+1})²) over a batch of B sequences (vmapped `jaxlstm.lstm`),
gradients w.r.t. the LSTM parameters and w_out. For each `remat` setting (none,
every step, every k steps) it reads XLA's compiled memory plan,
`jax.jit(step).lower(...).compile().memory_analysis()`: the bytes of the
arguments, the outputs and the temporaries (every buffer live during the step,
the stored activations included). Their sum is the peak the step needs; the
ratio is none / this setting (> 1: less memory). Unless `--no-timing`, it also
times the step (median of `--repeats` runs after one warm-up).

Default sizes: B=8, X=32, H=128, T=16,384 (√T = 128). `--quick`: T=128, tiny sizes,
no remat vs k=16 only.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import jaxlstm as J  # noqa: E402

FULL = dict(steps=16_384, batch=8, inputs=32, hidden=128, chunks=(16, 128, 1024), chunk=128)
QUICK = dict(steps=128, batch=2, inputs=4, hidden=8, chunks=(16,), chunk=16)


def make_step(remat):
    """The jitted training step (loss, grads) for one remat setting."""

    def loss_fn(trainable, xs):
        params, w_out = trainable
        run = lambda x: J.lstm(params, x, remat=remat)[1]
        hs = jax.vmap(run)(xs)                        # (B, T, H)
        pred = hs[:, :-1] @ w_out                     # (B, T-1, X)
        return jnp.mean((pred - xs[:, 1:]) ** 2)

    return jax.jit(jax.value_and_grad(loss_fn))


def memory_of(step, args) -> dict:
    """Bytes of XLA's memory plan for `step(*args)`: arguments, outputs, temporaries."""
    stats = step.lower(*args).compile().memory_analysis()
    parts = dict(argument=stats.argument_size_in_bytes, output=stats.output_size_in_bytes,
                 temp=stats.temp_size_in_bytes, alias=stats.alias_size_in_bytes)
    parts["bytes"] = parts["argument"] + parts["output"] + parts["temp"] - parts["alias"]
    return parts


def time_of(step, args, repeats: int) -> float:
    """Median wall time of `step(*args)` in ms, after one warm-up call."""
    jax.block_until_ready(step(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(step(*args))
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small T (a smoke test)")
    parser.add_argument("--no-timing", action="store_true", help="memory plan only")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    size = QUICK if args.quick else FULL

    key_p, key_w, key_x = jax.random.split(jax.random.key(0), 3)
    params = J.init_lstm(key_p, size["inputs"], size["hidden"])
    w_out = 0.1 * jax.random.normal(key_w, (size["hidden"], size["inputs"]))
    xs = jax.random.normal(key_x, (size["batch"], size["steps"], size["inputs"]))
    step_args = ((params, w_out), xs)

    settings = [("none", False)] + ([] if args.quick else [("every step", True)])
    settings += [(f"k={k}", k) for k in size["chunks"]]
    rows = []
    for name, remat in settings:
        step = make_step(remat)
        row = dict(remat=name, **memory_of(step, step_args))
        if not args.no_timing:
            row["ms"] = time_of(step, step_args, args.repeats)
        rows.append(row)
    for row in rows:
        row["ratio"] = rows[0]["bytes"] / row["bytes"]

    print(f"LSTM training step, B={size['batch']} T={size['steps']} X={size['inputs']} "
          f"H={size['hidden']} float32; jax {jax.__version__}, {jax.devices()[0].platform}, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print("\n| remat | args MB | outputs MB | temp MB | total MB | vs none | step ms |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        ms = f"{row['ms']:.0f}" if "ms" in row else "-"
        print(f"| {row['remat']} | {row['argument'] / 2**20:.1f} | {row['output'] / 2**20:.1f} | "
              f"{row['temp'] / 2**20:.1f} | {row['bytes'] / 2**20:.1f} | {row['ratio']:.1f}x | {ms} |")
    return rows


if __name__ == "__main__":
    main()
