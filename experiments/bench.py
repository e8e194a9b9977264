"""Benchmark jaxlstm's public entries against Flax NNX, Equinox, Keras 3 (JAX backend) and
PyTorch on CPU, in both import orders.

    python experiments/bench.py [--quick] [--repeats N] [--libs ...] [--shapes S1,S4]
    python experiments/bench.py --torch-first ...      # import torch before jax and jaxlstm
    python experiments/bench.py --both-orders ...      # both, one after the other

For every shape (B, T, X, H) it times a forward pass and a full training step
(forward + backward of mean(outputs**2), gradients w.r.t. all parameters) of a
float32 LSTM, single layer, plus one 2-layer bidirectional case. The entries timed
are jaxlstm's `jax.vmap(lstm)` (the reference column), `lstm_batch`, the NNX module
`jaxlstm.nn.LSTM`, jaxlstm with the oneDNN kernel switched off (`jaxlstm-xla`), and
the other libraries. They are interleaved round-robin in every repeat and the medians
are reported as a Markdown table with ratios (entry time / `jax.vmap(lstm)` time;
> 1 means jaxlstm's composable call is faster) and the training step's share of the
machine's float32 matmul peak (measured: a 4096³ matmul in XLA). Before timing, every
library's forward output is checked against jaxlstm on a small case with copied
weights (all use the gate order i, f, g, o -- verified from their sources, see
`make_*` below).

`--quick` runs tiny shapes with 2 repeats (a smoke test for CI, < 60 s).
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import statistics
import sys
import time
from unittest import mock

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
TORCH_FIRST = "--torch-first" in sys.argv
if TORCH_FIRST:
    import torch  # noqa: F401,E402  (before jax and jaxlstm: the import order under test)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import jaxlstm as J  # noqa: E402

SHAPES = {
    "S1": (32, 128, 64, 256),
    "S2": (16, 512, 128, 512),
    "S3": (1, 1000, 32, 128),
    "S4": (256, 64, 128, 128),
}
BIDIR = ("S5 2L-bidir", (32, 128, 64, 256))
QUICK_SHAPES = {"Q1": (8, 16, 8, 16)}
QUICK_BIDIR = ("Q3 2L-bidir", (8, 16, 8, 16))

NUM_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


# ----------------------------------------------------------------------------- weights
# The reference weights are jaxlstm's: per layer and direction w_x (X, 4H),
# w_h (H, 4H), b (4H,), blocks i, f, g, o.


def ref_weights(key, x_size, hidden, num_layers=1, bidir=False):
    spec = J.CellSpec()
    layers = J.init_lstm_stack(key, x_size, hidden, num_layers, spec, is_bidirectional=bidir)
    # a non-zero bias so that bias handling is checked too
    def bump(p, k):
        return p._replace(b=p.b + 0.1 * jax.random.normal(k, p.b.shape))
    keys = iter(jax.random.split(jax.random.fold_in(key, 1), 4 * num_layers))
    if bidir:
        return [(bump(f, next(keys)), bump(b, next(keys))) for f, b in layers]
    return [bump(p, next(keys)) for p in layers]


def directions(layers, bidir):
    """[[params per direction] per layer]."""
    return [list(p) if bidir else [p] for p in layers]


# ----------------------------------------------------------------------------- jaxlstm


vmap_lstm = J.vmap_layer(J.lstm)  # jax.vmap(lstm) over xs (B, T, X): the composable call


def jaxlstm_fwd(params, xs, bidir, layer=vmap_lstm, kernel=True):
    """Outputs (B, T, D·H) of the stack of layers over xs (B, T, X); with kernel=False traced
    with JAXLSTM_KERNEL=xla (the XLA scan every platform runs)."""
    with mock.patch.dict(os.environ, {} if kernel else {"JAXLSTM_KERNEL": "xla"}):
        return J.stack(layer, params, xs, is_bidirectional=bidir)[1]


def make_jaxlstm(layers, xs, bidir, layer=vmap_lstm, kernel=True):
    params = layers
    fwd = functools.partial(jaxlstm_fwd, bidir=bidir, layer=layer, kernel=kernel)

    def loss(params, xs):
        return jnp.mean(fwd(params, xs) ** 2)

    f, g = jax.jit(fwd), jax.jit(jax.value_and_grad(loss))
    return (lambda: f(params, xs)), (lambda: g(params, xs)), jax.block_until_ready


def make_jaxlstm_module(layers, xs, bidir):
    """The NNX module `jaxlstm.nn.LSTM` built from the same weights."""
    from flax import nnx

    from jaxlstm.nn import LSTM

    model = LSTM.from_params(layers)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)

    def fwd(params, xs):
        return nnx.merge(graphdef, params, rest)(xs)[1]

    def loss(params, xs):
        return jnp.mean(fwd(params, xs) ** 2)

    f, g = jax.jit(fwd), jax.jit(jax.value_and_grad(loss))
    return (lambda: f(params, xs)), (lambda: g(params, xs)), jax.block_until_ready


# ----------------------------------------------------------------------------- flax nnx


def make_flax(layers, xs, bidir):
    # flax/nnx/nn/recurrent.py OptimizedLSTMCell: y = dense_i(x) + dense_h(h);
    # i, f, g, o = split(y, 4); dense_i (X, 4H) no bias, dense_h (H, 4H) + bias; carry (c, h).
    from flax import nnx

    def cell_from(p):
        cell = nnx.OptimizedLSTMCell(p.w_x.shape[0], p.w_h.shape[0], rngs=nnx.Rngs(0))
        cell.dense_i.kernel.value = p.w_x
        cell.dense_h.kernel.value = p.w_h
        cell.dense_h.bias.value = p.b
        return cell

    mods = []
    for dirs in directions(layers, bidir):
        if bidir:
            mods.append(nnx.Bidirectional(nnx.RNN(cell_from(dirs[0]), rngs=False),
                                          nnx.RNN(cell_from(dirs[1]), rngs=False), rngs=False))
        else:
            mods.append(nnx.RNN(cell_from(dirs[0]), rngs=False))
    model = nnx.List(mods) if hasattr(nnx, "List") else mods
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    hidden = layers[0][0].w_h.shape[0] if bidir else layers[0].w_h.shape[0]
    batch = xs.shape[0]

    def fwd(params, xs):
        m = nnx.merge(graphdef, params, rest)
        z = jnp.zeros((batch, hidden), xs.dtype)
        h = xs
        for layer in m:
            carry = ((z, z), (z, z)) if bidir else (z, z)
            h = layer(h, initial_carry=carry)
        return h

    def loss(params, xs):
        return jnp.mean(fwd(params, xs) ** 2)

    f, g = jax.jit(fwd), jax.jit(jax.value_and_grad(loss))
    return (lambda: f(params, xs)), (lambda: g(params, xs)), jax.block_until_ready


# ----------------------------------------------------------------------------- equinox


def make_equinox(layers, xs, bidir):
    # equinox/nn/_rnn.py LSTMCell: lin = weight_ih @ x + weight_hh @ h + bias;
    # i, f, g, o = split(lin, 4); weight_ih (4H, X), weight_hh (4H, H).
    import equinox as eqx
    from jax import lax

    def cell_from(p):
        cell = eqx.nn.LSTMCell(p.w_x.shape[0], p.w_h.shape[0], key=jax.random.key(0))
        cell = eqx.tree_at(lambda c: (c.weight_ih, c.weight_hh, c.bias), cell,
                           (p.w_x.T, p.w_h.T, p.b))
        return cell

    model = [[cell_from(p) for p in dirs] for dirs in directions(layers, bidir)]

    def run_cell(cell, xs):  # xs (T, X)
        hidden = cell.hidden_size
        init = (jnp.zeros(hidden, xs.dtype), jnp.zeros(hidden, xs.dtype))

        def step(state, x):
            state = cell(x, state)
            return state, state[0]

        return lax.scan(step, init, xs)[1]

    def one(model, xs):
        h = xs
        for dirs in model:
            out = run_cell(dirs[0], h)
            if bidir:
                out = jnp.concatenate([out, run_cell(dirs[1], h[::-1])[::-1]], axis=-1)
            h = out
        return h

    def fwd(model, xs):
        return jax.vmap(one, in_axes=(None, 0))(model, xs)

    def loss(model, xs):
        return jnp.mean(fwd(model, xs) ** 2)

    f = eqx.filter_jit(fwd)
    g = eqx.filter_jit(eqx.filter_value_and_grad(loss))
    return (lambda: f(model, xs)), (lambda: g(model, xs)), jax.block_until_ready


# ----------------------------------------------------------------------------- keras


def make_keras(layers, xs, bidir):
    # keras/src/layers/rnn/lstm.py: kernel (X, 4H), recurrent_kernel (H, 4H),
    # bias (4H,), split into i, f, c, o (c is the candidate g).
    import keras

    hidden = layers[0][0].w_h.shape[0] if bidir else layers[0].w_h.shape[0]
    model = keras.Sequential([keras.Input(shape=xs.shape[1:])])
    for _ in layers:
        lstm = keras.layers.LSTM(hidden, return_sequences=True)
        model.add(keras.layers.Bidirectional(lstm) if bidir else lstm)
    for layer, dirs in zip(model.layers, directions(layers, bidir)):
        cells = [layer.forward_layer, layer.backward_layer] if bidir else [layer]
        for cell, p in zip(cells, dirs):
            cell.set_weights([np.asarray(p.w_x), np.asarray(p.w_h), np.asarray(p.b)])
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]

    def fwd(trainable, xs):
        return model.stateless_call(trainable, non_trainable, xs)[0]

    def loss(trainable, xs):
        return jnp.mean(fwd(trainable, xs) ** 2)

    f, g = jax.jit(fwd), jax.jit(jax.value_and_grad(loss))
    return (lambda: f(trainable, xs)), (lambda: g(trainable, xs)), jax.block_until_ready


# ----------------------------------------------------------------------------- torch


def make_torch(layers, xs, bidir):
    # torch/nn/modules/rnn.py LSTM: weight_ih_l{k} (4H, X), gates i, f, g, o;
    # bias = bias_ih + bias_hh.
    import torch

    torch.set_num_threads(NUM_CORES)
    dirs = directions(layers, bidir)
    p0 = dirs[0][0]
    model = torch.nn.LSTM(p0.w_x.shape[0], p0.w_h.shape[0], num_layers=len(dirs),
                          bidirectional=bidir, batch_first=True)
    with torch.no_grad():
        for k, ds in enumerate(dirs):
            for d, p in enumerate(ds):
                sfx = f"_l{k}" + ("_reverse" if d else "")
                getattr(model, "weight_ih" + sfx).copy_(torch.from_numpy(np.asarray(p.w_x).T.copy()))
                getattr(model, "weight_hh" + sfx).copy_(torch.from_numpy(np.asarray(p.w_h).T.copy()))
                getattr(model, "bias_ih" + sfx).copy_(torch.from_numpy(np.array(p.b)))
                getattr(model, "bias_hh" + sfx).zero_()
    x = torch.from_numpy(np.array(xs))

    def fwd():
        with torch.no_grad():
            return model(x)[0]

    def train():
        model.zero_grad()
        loss = (model(x)[0] ** 2).mean()
        loss.backward()
        return loss

    return fwd, train, (lambda r: r)


MAKERS = {
    "jaxlstm": make_jaxlstm,
    "lstm_batch": functools.partial(make_jaxlstm, layer=J.lstm_batch),
    "nn.LSTM": make_jaxlstm_module,
    "jaxlstm-xla": functools.partial(make_jaxlstm, kernel=False),
    "flax": make_flax,
    "equinox": make_equinox,
    "keras": make_keras,
    "torch": make_torch,
}


def available(libs):
    notes, out = [], []
    for name in libs:
        mod = {"flax": "flax.nnx", "equinox": "equinox", "keras": "keras", "torch": "torch"}.get(name)
        if mod:
            try:
                __import__(mod)
                if name == "keras":
                    import keras
                    if keras.backend.backend() != "jax":
                        raise ImportError(f"keras backend is {keras.backend.backend()}, not jax")
            except Exception as e:  # noqa: BLE001
                notes.append(f"{name} skipped: not importable ({type(e).__name__}: {e})")
                continue
        out.append(name)
    return out, notes


# ----------------------------------------------------------------------------- checks


def check_agreement(libs, tol=1e-4):
    """Forward outputs of every library vs jaxlstm on small cases with copied weights."""
    lines = []
    # B = 8, H = 128: jaxlstm's CPU kernel runs (batch-major entry at T = 7, time-major at T = 9).
    for label, (b, t, x, h), nl, bidir in [("1 layer", (8, 7, 5, 128), 1, False),
                                          ("2-layer bidir", (8, 9, 5, 128), 2, True)]:
        layers = ref_weights(jax.random.key(42), x, h, nl, bidir)
        xs = jax.random.normal(jax.random.key(7), (b, t, x), jnp.float32)
        ref = np.asarray(make_jaxlstm(layers, xs, bidir)[0]())
        for name in libs:
            if name == "jaxlstm":
                continue
            out = np.asarray(MAKERS[name](layers, xs, bidir)[0]())
            err = float(np.max(np.abs(out - ref)))
            status = "ok" if err < tol else "MISMATCH"
            lines.append(f"{label:14s} {name:8s} max|diff| = {err:.2e} {status}")
            if err >= tol:
                raise SystemExit(f"{name} disagrees with jaxlstm ({label}): {err}")
    return lines


def compile_time(bidir_shape):
    """Seconds to trace + lower + compile a 2-layer bidir training step, its first run, a second run."""
    b, t, x, h = bidir_shape
    layers = ref_weights(jax.random.key(3), x, h, 2, True)
    xs = jax.random.normal(jax.random.key(4), (b, t, x), jnp.float32)
    loss = lambda p, xs: jnp.mean(jaxlstm_fwd(p, xs, bidir=True) ** 2)  # noqa: E731
    t0 = time.perf_counter()
    step = jax.jit(jax.value_and_grad(loss)).trace(layers, xs).lower().compile()
    compiled = time.perf_counter() - t0
    runs = []
    for _ in range(2):
        t0 = time.perf_counter()
        jax.block_until_ready(step(layers, xs))
        runs.append(time.perf_counter() - t0)
    return compiled, *runs


# ----------------------------------------------------------------------------- timing


def bench_case(libs, shape, num_layers, bidir, repeats):
    b, t, x, h = shape
    layers = ref_weights(jax.random.key(0), x, h, num_layers, bidir)
    xs = jax.random.normal(jax.random.key(1), (b, t, x), jnp.float32)
    fns = {}
    for name in libs:
        fwd, train, block = MAKERS[name](layers, xs, bidir)
        block(fwd())  # compile + warm up
        block(train())
        block(train())
        fns[name] = (fwd, train, block)
    times = {name: ([], []) for name in libs}
    for _ in range(repeats):
        for name in libs:  # round-robin
            fwd, train, block = fns[name]
            for k, fn in enumerate((fwd, train)):
                t0 = time.perf_counter()
                block(fn())
                times[name][k].append(time.perf_counter() - t0)
    return {name: tuple(1e3 * statistics.median(v) for v in times[name]) for name in libs}


def matmul_peak(n: int = 4096, repeats: int = 5) -> float:
    """FLOP/s of a float32 n×n×n matmul under XLA: the machine's practical matmul peak."""
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    f = jax.jit(lambda a: a @ a)
    jax.block_until_ready(f(a))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(f(a))
        times.append(time.perf_counter() - t0)
    return 2 * n ** 3 / statistics.median(times)


def train_flops(shape, num_layers: int, bidir: bool) -> float:
    """Matmul FLOPs of one training step: the forward pass's [x_t, h_{t-1}]·W per layer and
    direction (2·B·T·(X_in + H)·4H), times 3 for the backward pass (∂h and ∂W)."""
    b, t, x, h = shape
    dirs = 2 if bidir else 1
    total, x_in = 0, x
    for _ in range(num_layers):
        total += dirs * 2 * b * t * (x_in + h) * 4 * h
        x_in = dirs * h
    return 3.0 * total


VECTOR_ISAS = ("amx_tile", "avx512_bf16", "avx512_vnni", "avx512f", "avx2", "fma")


def machine_info():
    """(the CPU's model name with its vector ISA, e.g. "AMD EPYC (ISA: avx2 fma)", the
    library versions). A table is valid only for the ISA it names: oneDNN picks its kernels
    by it (AVX-512 and AMX machines run `brgemm:avx512_core*`, AVX2 ones `avx2`)."""
    cpu, flags = "unknown", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and cpu == "unknown":
                    cpu = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    isa = [name for name in VECTOR_ISAS if name in flags]
    cpu += f" (ISA: {' '.join(isa) if isa else 'unknown'})"
    versions = [f"python {platform.python_version()}", f"jax {jax.__version__}"]
    for mod in ("jaxlib", "flax", "equinox", "keras", "torch", "numpy"):
        try:
            versions.append(f"{mod} {__import__(mod).__version__}")
        except Exception:  # noqa: BLE001
            pass
    return cpu, versions


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny shapes, 2 repeats (CI smoke test)")
    ap.add_argument("--repeats", type=int, default=None, help="timed repeats per case (default 7)")
    ap.add_argument("--libs", default=",".join(MAKERS), help="comma-separated subset of " + ",".join(MAKERS))
    ap.add_argument("--shapes", default=None, help="comma-separated subset of S1,S2,S3,S4,S5")
    ap.add_argument("--torch-first", action="store_true",
                    help="import torch before jax and jaxlstm (read before any import)")
    ap.add_argument("--both-orders", action="store_true",
                    help="run this benchmark twice, torch imported after and then before jaxlstm")
    args = ap.parse_args(argv)
    if args.both_orders:
        import subprocess
        rest = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--both-orders"]
        for extra in ([], ["--torch-first"]):
            subprocess.run([sys.executable, os.path.abspath(__file__), *rest, *extra], check=True)
            print()
        return
    repeats = args.repeats or (2 if args.quick else 7)
    shapes, bidir_case = (QUICK_SHAPES, QUICK_BIDIR) if args.quick else (SHAPES, BIDIR)
    wanted = ["jaxlstm"] + [n for n in args.libs.split(",") if n and n != "jaxlstm"]
    libs, notes = available(wanted)

    cpu, versions = machine_info()
    order = "torch imported BEFORE jaxlstm" if TORCH_FIRST else "torch imported after jaxlstm"
    print(f"# jaxlstm benchmark ({'quick' if args.quick else 'full'}, {repeats} repeats, medians; "
          f"{order})\n")
    print(f"- CPU: {cpu}, {NUM_CORES} cores available (torch.set_num_threads({NUM_CORES}))")
    print(f"- {', '.join(versions)}")
    print(f"- XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}")
    print(f"- jaxlstm kernel: {J.kernel_status()}; the jaxlstm-xla column is the XLA scan")
    peak = matmul_peak(1024 if args.quick else 4096)
    print(f"- float32 matmul peak (4096³ under XLA): {peak / 1e9:.0f} GFLOP/s")
    for n in notes:
        print(f"- {n}")
    print("\n## Agreement with jaxlstm (copied weights, forward outputs)\n")
    for line in check_agreement(libs):
        print(f"    {line}")

    compiled, first, second = compile_time(bidir_case[1])
    print(f"\n## Compile time\n\n2-layer bidirectional training step {bidir_case[1]}: trace + lower + "
          f"compile {compiled:.2f} s; first run {1e3 * first:.0f} ms, second run {1e3 * second:.0f} ms\n")

    cases = [(k, v, 1, False) for k, v in shapes.items()]
    cases.append((bidir_case[0], bidir_case[1], 2, True))
    if args.shapes:
        keep = args.shapes.split(",")
        cases = [c for c in cases if c[0].split()[0] in keep]
    others = [n for n in libs if n != "jaxlstm"]
    head = "| case (B,T,X,H) | jax.vmap(lstm) fwd / train ms (% peak) | " + " | ".join(
        f"{n} fwd / train ms (ratio)" for n in others) + " |"
    rows = []
    for label, shape, nl, bidir in cases:
        res = bench_case(libs, shape, nl, bidir, repeats)
        jf, jt = res["jaxlstm"]
        share = 100 * train_flops(shape, nl, bidir) / (jt / 1e3) / peak
        cells = [f"{res[n][0]:.1f} / {res[n][1]:.1f} ({res[n][0] / jf:.2f}x / {res[n][1] / jt:.2f}x)"
                 for n in others]
        rows.append(f"| {label} {shape} | {jf:.1f} / {jt:.1f} ({share:.0f} %) | "
                    + " | ".join(cells) + " |")
        print(f"  done {label}", file=sys.stderr, flush=True)
    print("## Timings (ratio = entry time / jax.vmap(lstm) time; > 1: jax.vmap(lstm) faster)\n")
    print(head)
    print("|" + "---|" * (2 + len(others)))
    for r in rows:
        print(r)


if __name__ == "__main__":
    main()
