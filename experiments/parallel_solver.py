"""Parallel-in-time solvers (issue 26): four reproductions and a benchmark, as Markdown tables.

    python experiments/parallel_solver.py iters     [--quick]  # 1. ParaRNN: Newton iterations
    python experiments/parallel_solver.py deer      [--quick]  # 2. DEER / quasi-DEER vs scan
    python experiments/parallel_solver.py lyapunov  [--quick]  # 3. iterations vs Lyapunov exp.
    python experiments/parallel_solver.py train     [--quick]  # 4. same loss curve; parity
    python experiments/parallel_solver.py bench     [--quick]  # the benchmark grid
    python experiments/parallel_solver.py all --quick

Every table starts with the machine (CPU model, ISA, cores, JAX backend). Iterations are
`SolveInfo.iterations` from each family's public function (`return_info=True`), float32,
default tolerance (100 ulps). Times are medians of jitted calls, batch 1 unless stated.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import optax

import jaxlstm as J

CELLS = {  # name -> (init(key, X, H), layer, sequential mode)
    "paralstm": (J.init_paralstm, J.paralstm, "scan"),
    "paragru": (J.init_paragru, J.paragru, "scan"),
    "lstm": (J.init_lstm, J.lstm, "scan"),
    "gru": (J.init_gru, J.gru, "scan"),
    "slstm": (J.init_slstm, J.slstm, "recurrent"),
    "minlstm": (J.init_minlstm, J.minlstm, "sequential"),
}


def machine() -> str:
    model, flags = platform.processor() or "unknown CPU", set()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return (f"Machine: {model}, {isa}, {os.cpu_count()} cores, JAX {jax.__version__} on "
            f"{jax.default_backend()} ({jax.devices()[0].device_kind})")


def table(title, header, rows):
    print(f"\n### {title}\n\n{machine()}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")
    sys.stdout.flush()


def timed(fn, *args, repeats=3):
    jax.block_until_ready(fn(*args))  # compile
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def info_of(cell, params, xs, mode, **kw):
    _, layer, _ = CELLS[cell]
    _, _, info = jax.jit(lambda p, x: layer(p, x, mode=mode, return_info=True, **kw))(params, xs)
    return info


# ---- tasks -----------------------------------------------------------------------------

def parity_batch(key, batch, length):
    """Bits in {-1, 1}; target: the running parity (1 where the count of +1 so far is odd)."""
    bits = jax.random.bernoulli(key, 0.5, (batch, length))
    return (2.0 * bits - 1.0)[..., None], jnp.cumsum(bits, axis=1) % 2


def make_model(cell, key, hidden):
    init, layer, _ = CELLS[cell]
    k1, k2 = jax.random.split(key)
    readout = jax.random.normal(k2, (hidden, 2)) / np.sqrt(hidden)
    return {"cell": init(k1, 1, hidden), "w": readout, "b": jnp.zeros(2)}


def loss_fn(cell, mode, **kw):
    _, layer, _ = CELLS[cell]

    def loss(model, xs, ys):
        hs = jax.vmap(lambda x: layer(model["cell"], x, mode=mode, **kw)[1])(xs)
        logits = hs @ model["w"] + model["b"]
        return optax.softmax_cross_entropy_with_integer_labels(logits, ys).mean(), logits
    return loss


def train(cell, mode, *, steps, hidden, length, batch=16, lr=1e-2, seed=0, **kw):
    """Adam on running parity; returns (losses, final model, accuracy on fresh data)."""
    model = make_model(cell, jax.random.key(seed), hidden)
    opt = optax.adam(lr)
    state = opt.init(model)
    loss = loss_fn(cell, mode, **kw)

    @jax.jit
    def step(model, state, key):
        xs, ys = parity_batch(key, batch, length)
        (value, _), grads = jax.value_and_grad(loss, has_aux=True)(model, xs, ys)
        updates, state = opt.update(grads, state, model)
        return optax.apply_updates(model, updates), state, value

    losses = []
    for i in range(steps):
        model, state, value = step(model, state, jax.random.key(1000 + i))
        losses.append(float(value))
    xs, ys = parity_batch(jax.random.key(7), 64, length)
    _, logits = jax.jit(loss_fn(cell, CELLS[cell][2]))(model, xs, ys)
    return losses, model, float(jnp.mean(jnp.argmax(logits, -1) == ys))


# ---- 1. ParaRNN iterations ---------------------------------------------------------------

def run_iters(quick):
    lengths = [128] if quick else [256, 1024, 4096, 8192]
    hidden, steps = (8, 3) if quick else (32, 100)
    rows = []
    for cell in ("paralstm", "paragru"):
        init_model = make_model(cell, jax.random.key(0), hidden)
        _, trained, acc = train(cell, CELLS[cell][2], steps=steps, hidden=hidden, length=64)
        for when, model in (("init", init_model), (f"after {steps} Adam steps", trained)):
            for length in lengths:
                xs, _ = parity_batch(jax.random.key(3), 1, length)
                for mode in ("newton", "quasi_newton"):
                    info = info_of(cell, model["cell"], xs[0], mode)
                    rows.append([cell, when, length, mode, int(info.iterations),
                                 f"{float(info.residual):.1e}", bool(info.converged)])
    table("1. ParaRNN: Newton iterations to float32 tolerance (source: about 3)",
          ["cell", "weights", "T", "mode", "iterations", "residual", "converged"], rows)


# ---- 2. DEER / quasi-DEER and the benchmark -------------------------------------------------

def bench_rows(cells, lengths, hiddens, *, train_step=True, repeats=3):
    """Yields one row per (cell, H, T), so a table prints as it goes."""
    for cell in cells:
        init, layer, sequential = CELLS[cell]
        for hidden in hiddens:
            params = init(jax.random.key(0), hidden, hidden)
            for length in lengths:
                xs = jax.random.normal(jax.random.key(1), (length, hidden)) * 0.5
                row = [cell, length, hidden]
                base = {}
                for mode in (sequential, "newton", "quasi_newton"):
                    fwd = jax.jit(lambda p, x, m=mode: layer(p, x, mode=m)[1])
                    grad = jax.jit(jax.grad(lambda p, x, m=mode: jnp.sum(layer(p, x, mode=m)[1] ** 2)))
                    t_f = timed(fwd, params, xs, repeats=repeats)
                    t_g = timed(grad, params, xs, repeats=repeats) if train_step else float("nan")
                    if mode == sequential:
                        base = {"f": t_f, "g": t_g}
                        row += [f"{1e3 * t_f:.2f}", f"{1e3 * t_g:.2f}"]
                        continue
                    info = info_of(cell, params, xs, mode)
                    iters = f"{int(info.iterations)}" + ("" if bool(info.converged) else " (fell back)")
                    row += [iters, f"{1e3 * t_f:.2f}", f"{base['f'] / t_f:.2f}",
                            f"{1e3 * t_g:.2f}", f"{base['g'] / t_g:.2f}"]
                yield row


BENCH_HEADER = ["cell", "T", "H", "scan fwd ms", "scan train ms",
                "newton iters", "newton fwd ms", "fwd speed-up", "newton train ms", "train speed-up",
                "quasi iters", "quasi fwd ms", "fwd speed-up", "quasi train ms", "train speed-up"]


def run_deer(quick):
    lengths, hiddens = ([128], [8]) if quick else ([256, 1024, 4096], [8, 32])
    table("2. DEER / quasi-DEER vs the sequential scan (unmodified LSTM and GRU, dense jacfwd "
          "Jacobians; speed-up = scan time / solver time)", BENCH_HEADER,
          bench_rows(["lstm", "gru"], lengths, hiddens))


def run_bench(quick, full):
    if quick:
        cells, lengths, hiddens = ["paralstm", "paragru"], [256], [32]
    elif full:
        cells = ["paralstm", "paragru", "lstm", "gru"]
        lengths, hiddens = [256, 1024, 4096, 16384], [32, 64, 128, 256]
    else:  # what fits this 2-core CPU in a few minutes
        cells, lengths, hiddens = ["paralstm", "paragru"], [256, 1024, 4096, 16384], [32, 128]
    table("Benchmark: sequential vs newton vs quasi_newton, forward and training step",
          BENCH_HEADER, bench_rows(cells, lengths, hiddens, repeats=2 if quick else 3))


# ---- 3. Predictability: iterations vs the largest Lyapunov exponent -----------------------

def lyapunov_exponent(params, xs):
    """(1/T) Σ log ‖J_t v_{t-1}‖ along the sequential trajectory, v renormalised each step."""
    flat0, unravel = jax.flatten_util.ravel_pytree(J.zero_state(params))

    def flat_step(z, x):
        return jax.flatten_util.ravel_pytree(J.cell_step(params, unravel(z), x)[0])[0]

    def body(carry, x):
        z, v = carry
        jac = jax.jacfwd(flat_step)(z, x)
        w = jac @ v
        norm = jnp.linalg.norm(w)
        return (flat_step(z, x), w / norm), jnp.log(norm)

    v0 = jnp.ones_like(flat0) / np.sqrt(flat0.size)
    _, logs = jax.lax.scan(body, (flat0, v0), xs)
    return float(jnp.mean(logs[len(logs) // 4:]))  # skip the transient


def run_lyapunov(quick):
    hidden, length = (4, 64) if quick else (16, 1024)
    scales = [0.5, 8.0] if quick else [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0]
    max_iters = 40 if quick else 100
    base = J.init_lstm(jax.random.key(0), 1, hidden)
    xs = jax.random.normal(jax.random.key(1), (length, 1))
    rows = []
    for scale in scales:
        params = base._replace(w_h=base.w_h * scale)
        lam = lyapunov_exponent(params, xs)
        row = [scale, f"{lam:+.3f}"]
        for mode, damping in (("newton", 0.0), ("newton", 0.5), ("quasi_newton", 0.0)):
            info = info_of("lstm", params, xs, mode, max_iters=max_iters, damping=damping,
                           fallback=False)
            ok = bool(info.converged)
            row += [f"{int(info.iterations)}" + ("" if ok else f" (not converged, res {float(info.residual):.0e})")]
        rows.append(row)
    table(f"3. Iterations vs the largest Lyapunov exponent (LSTM H={hidden}, T={length}, w_h "
          f"scaled; max_iters={max_iters}, no fallback)",
          ["w_h scale", "Lyapunov exp.", "newton", "newton, damping 0.5", "quasi_newton"], rows)


# ---- 4. Training: same loss curve; parity beside other cells -------------------------------

def run_train(quick):
    steps, hidden, length = (3, 8, 32) if quick else (60, 16, 64)
    rows = []
    for cell in ("paralstm", "lstm"):
        curves = {m: train(cell, m, steps=steps, hidden=hidden, length=length)[0]
                  for m in (CELLS[cell][2], "newton", "quasi_newton")}
        seq = np.asarray(curves[CELLS[cell][2]])
        for mode in ("newton", "quasi_newton"):
            diff = float(np.max(np.abs(np.asarray(curves[mode]) - seq)))
            rows.append([cell, mode, steps, f"{seq[0]:.4f}", f"{seq[-1]:.4f}",
                         f"{curves[mode][-1]:.4f}", f"{diff:.1e}"])
    table(f"4a. Training on running parity (T={length}, H={hidden}, Adam 1e-2): loss with the "
          "parallel solver vs the sequential scan",
          ["cell", "solver", "steps", "first loss", "last loss (scan)", "last loss (solver)",
           "max abs loss difference"], rows)
    rows = []
    for cell in ("paralstm", "paragru", "lstm", "slstm", "minlstm"):
        losses, _, acc = train(cell, CELLS[cell][2], steps=steps, hidden=hidden, length=length)
        rows.append([cell, steps, f"{losses[-1]:.4f}", f"{acc:.3f}"])
    table(f"4b. Running parity, T={length}, H={hidden}, {steps} Adam steps (sequential modes)",
          ["cell", "steps", "last train loss", "test accuracy"], rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["iters", "deer", "lyapunov", "train", "bench", "all"])
    parser.add_argument("--quick", action="store_true", help="small sizes (CI)")
    parser.add_argument("--full", action="store_true", help="bench: the whole grid")
    args = parser.parse_args(argv)
    todo = ["iters", "deer", "lyapunov", "train", "bench"] if args.what == "all" else [args.what]
    for what in todo:
        if what == "bench":
            run_bench(args.quick, args.full)
        else:
            globals()[f"run_{what}"](args.quick)


if __name__ == "__main__":
    main()
