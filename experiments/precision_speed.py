"""Step time of an LSTM with float32, bfloat16 and float16 matmuls (`compute_dtype`).

    python experiments/precision_speed.py [--quick] [--repeats N]

Times a jitted forward pass and a training step (value_and_grad of mean(h²) w.r.t.
float32 parameters) of a vmapped single-layer `jaxlstm.lstm` for each compute dtype,
interleaved round-robin, and prints the medians and the speed relative to float32,
plus the largest output difference from float32. On CPUs without native bf16/fp16
matmul units the low-precision versions can be slower: this reports what it measures.
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

DTYPES = {"float32": None, "bfloat16": jnp.bfloat16, "float16": jnp.float16}


def make_fns(compute_dtype):
    """(forward, train step) jitted for one compute dtype."""

    def forward(params, xs):
        return jax.vmap(lambda x: J.lstm(params, x, compute_dtype=compute_dtype)[1])(xs)

    def loss(params, xs):
        return jnp.mean(forward(params, xs).astype(jnp.float32) ** 2)

    return jax.jit(forward), jax.jit(jax.value_and_grad(loss))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny shapes, 2 repeats")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    batch, steps, inputs, hidden = (4, 16, 8, 16) if args.quick else (32, 128, 64, 256)
    repeats = 2 if args.quick else args.repeats

    params = J.init_lstm(jax.random.key(0), inputs, hidden)
    xs = jax.random.normal(jax.random.key(1), (batch, steps, inputs))
    fns = {name: make_fns(dtype) for name, dtype in DTYPES.items()}
    outputs = {name: jax.block_until_ready(fwd(params, xs)) for name, (fwd, _) in fns.items()}
    for _, train in fns.values():
        jax.block_until_ready(train(params, xs))
    times = {name: {"forward": [], "train": []} for name in fns}
    for _ in range(repeats):
        for name, (fwd, train) in fns.items():
            for kind, fn in (("forward", fwd), ("train", train)):
                start = time.perf_counter()
                jax.block_until_ready(fn(params, xs))
                times[name][kind].append((time.perf_counter() - start) * 1e3)

    print(f"LSTM B={batch} T={steps} X={inputs} H={hidden}; jax {jax.__version__}, "
          f"{jax.devices()[0].platform}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores; medians of {repeats}")
    print("\n| compute dtype | forward ms | train step ms | train vs float32 | max |h - h_f32| |")
    print("|---|---|---|---|---|")
    result = {}
    for name in fns:
        fwd_ms = statistics.median(times[name]["forward"])
        train_ms = statistics.median(times[name]["train"])
        diff = float(jnp.max(jnp.abs(outputs[name].astype(jnp.float32) - outputs["float32"])))
        result[name] = dict(forward_ms=fwd_ms, train_ms=train_ms, max_abs_diff=diff)
        ratio = statistics.median(times["float32"]["train"]) / train_ms
        print(f"| {name} | {fwd_ms:.1f} | {train_ms:.1f} | {ratio:.2f}x | {diff:.1e} |")
    return result


if __name__ == "__main__":
    main()
