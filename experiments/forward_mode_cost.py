"""What forward-mode autodiff of the default LSTM layer costs, beside the forward pass and the
training step, for `jax.vmap(lstm)` on the default path and on the reference scan.

    python experiments/forward_mode_cost.py [--repeats N] [--shapes S1,S4] [--quick]

Per shape (B, T, X, H), float32, one layer, medians of `--repeats` timed calls after a
warm-up: the forward pass; `jax.jvp` of the outputs in the parameters and inputs (the
layer's tangent primitive: one matmul over all T·B rows and one scan carrying the state's
tangents); `jax.linearize` then one tangent evaluation; a training step
(`value_and_grad` of mean(outputs²)); and a Hessian-vector product (forward over reverse:
`jvp` of the gradient). Ratios are to the forward pass on the same path. The tangent scan
is elementwise, so `jvp` should cost about one forward pass more (ratio about 2).
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

SHAPES = {"S1": (32, 128, 64, 256), "S3": (1, 1000, 32, 128), "S4": (256, 64, 128, 128)}
QUICK = {"Q1": (8, 16, 8, 16)}


def timed(fn, *args, repeats: int) -> float:
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def entries(backend):
    def outputs(params, xs):
        return jax.vmap(lambda x: J.lstm(params, x, backend=backend)[1])(xs)

    def loss(params, xs):
        return jnp.mean(outputs(params, xs) ** 2)

    def jvp(params, xs, dp, dx):
        return jax.jvp(outputs, (params, xs), (dp, dx))

    def linearized(params, xs, dp, dx):
        _, tangent = jax.linearize(outputs, params, xs)
        return tangent(dp, dx)

    def hvp(params, xs, dp):
        return jax.jvp(lambda p: jax.grad(loss)(p, xs), (params,), (dp,))[1]

    return {"forward": (jax.jit(outputs), "pxs"), "jvp": (jax.jit(jvp), "pxsdd"),
            "linearize": (jax.jit(linearized), "pxsdd"),
            "train": (jax.jit(jax.value_and_grad(loss)), "pxs"), "hvp": (jax.jit(hvp), "pxsd")}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--shapes", default=None, help="comma-separated subset of " + ",".join(SHAPES))
    ap.add_argument("--quick", action="store_true", help="one tiny shape, 2 repeats")
    args = ap.parse_args(argv)
    shapes = QUICK if args.quick else {k: SHAPES[k] for k in (args.shapes or ",".join(SHAPES)).split(",")}
    repeats = 2 if args.quick else args.repeats
    print(f"# Forward-mode cost of jax.vmap(lstm) (float32, medians of {repeats})\n")
    print(f"- CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"jax {jax.__version__}; kernel: {J.kernel_status()}\n")
    names = ["forward", "jvp", "linearize", "train", "hvp"]
    print("| case (B,T,X,H) | path | " + " | ".join(f"{n} ms (x fwd)" for n in names) + " |")
    print("|---|---|" + "---|" * len(names))
    for label, (b, t, x, h) in shapes.items():
        key = jax.random.key(0)
        params = J.init_lstm(key, x, h)
        xs = jax.random.normal(jax.random.key(1), (b, t, x))
        dp = jax.tree.map(jnp.ones_like, params)
        dx = jnp.ones_like(xs)
        for path, backend in (("default", None), ("reference", "reference")):
            row = {}
            for name, (fn, sig) in entries(backend).items():
                call = {"pxs": (params, xs), "pxsdd": (params, xs, dp, dx),
                        "pxsd": (params, xs, dp)}[sig]
                row[name] = timed(fn, *call, repeats=repeats)
            cells = " | ".join(f"{row[n]:.1f} ({row[n] / row['forward']:.2f}x)" for n in names)
            ran = J.explain(params, xs).backend if backend is None else "reference"
            print(f"| {label} ({b}, {t}, {x}, {h}) | {path} ({ran}) | {cells} |", flush=True)


if __name__ == "__main__":
    main()
