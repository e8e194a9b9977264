"""Speed of the modern cells: training-step time of each cell against the classic LSTM,
the xlstm package's PyTorch cells on CPU, and the parallel forms against the sequential
ones over T = 128 ... 8192.

    python experiments/bench_modern.py               # the tables in docs/modern_cells.md
    python experiments/bench_modern.py --quick       # smoke: tiny shapes, one repeat

A "training step" is the forward and backward pass of sum(hs²) of one layer over (B, T, X)
(jit-compiled, compile excluded; the median of --repeats runs).
"""

from __future__ import annotations

import argparse
import functools
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxlstm as J

FORMS = {
    "lstm": [("scan", J.lstm, J.CellSpec(), {})],
    "slstm": [("recurrent", J.slstm, None, {})],
    "mlstm": [("recurrent", J.mlstm, None, {"mode": "recurrent"}),
              ("parallel", J.mlstm, None, {"mode": "parallel"}),
              ("chunkwise", J.mlstm, None, {"mode": "chunkwise"})],
    "minlstm": [("sequential", J.minlstm, None, {"mode": "sequential"}),
                ("parallel", J.minlstm, None, {"mode": "parallel"})],
    "mingru": [("sequential", J.mingru, None, {"mode": "sequential"}),
               ("parallel", J.mingru, None, {"mode": "parallel"})],
}
INITS = {"lstm": J.init_lstm, "slstm": J.init_slstm, "mlstm": J.init_mlstm,
         "minlstm": J.init_minlstm, "mingru": J.init_mingru}


def _spec(cell, heads):
    if cell == "lstm":
        return J.CellSpec()
    return {"slstm": J.SLSTMSpec(num_heads=heads), "mlstm": J.MLSTMSpec(num_heads=heads),
            "minlstm": J.MinLSTMSpec(), "mingru": J.MinGRUSpec()}[cell]


def time_train_step(cell, layer, kwargs, B, T, X, H, heads, repeats):
    spec = _spec(cell, heads)
    params = INITS[cell](jax.random.key(0), X, H, spec)
    xs = jax.random.normal(jax.random.key(1), (B, T, X))
    run = functools.partial(layer, spec=spec, **kwargs)

    @jax.jit
    def step(params, xs):
        return jax.grad(lambda p: jnp.sum(jax.vmap(lambda x: run(p, x)[1])(xs) ** 2))(params)

    jax.block_until_ready(step(params, xs))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(step(params, xs))
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


def time_xlstm_package(kind, B, T, H, heads, repeats):
    """The xlstm package's PyTorch sLSTM (vanilla backend) / mLSTM parallel backend on CPU,
    forward + backward of sum(h²); None when the package is not importable."""
    try:
        import torch
        if kind == "slstm":
            from xlstm.blocks.slstm.cell import sLSTMCell, sLSTMCellConfig
        else:
            from xlstm.blocks.mlstm.backends import parallel_stabilized_simple
    except ImportError:
        return None
    torch.manual_seed(0)
    if kind == "slstm":
        cell = sLSTMCell(sLSTMCellConfig(hidden_size=H, num_heads=heads, backend="vanilla",
                                         dtype="float32", output_shape="BSH",
                                         recurrent_weight_init="standard"))
        wx = torch.randn(B, T, 4 * H, requires_grad=True)
        fn = lambda: cell(wx)[0]  # noqa: E731
    else:
        d = H // heads
        q, k, v = (torch.randn(B, heads, T, d, requires_grad=True) for _ in range(3))
        ig, fg = (torch.randn(B, heads, T, 1, requires_grad=True) for _ in range(2))
        fn = lambda: parallel_stabilized_simple(q, k, v, ig, fg)  # noqa: E731
    (fn() ** 2).sum().backward()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        (fn() ** 2).sum().backward()
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--lengths", default="128,512,2048,8192")
    ap.add_argument("--package-max-length", type=int, default=2048,
                    help="time the xlstm package only up to this T (its PyTorch sLSTM took 45 s a "
                         "step at T=2048)")
    args = ap.parse_args(argv)
    B, H, X, heads = args.batch, args.hidden, args.hidden, args.heads
    lengths = [int(n) for n in args.lengths.split(",")]
    if args.quick:
        B, H, X, heads, lengths, args.repeats = 2, 8, 8, 2, [16], 1
    print(f"B={B} X={X} H={H} heads={heads} (sLSTM/mLSTM); ms per training step "
          f"(forward + backward), median of {args.repeats}; jax {jax.__version__}, "
          f"{jax.devices()[0].platform}\n")
    print("| T | " + " | ".join(f"{c} {f}" for c, forms in FORMS.items() for f, *_ in forms)
          + " | xlstm-torch sLSTM | xlstm-torch mLSTM parallel |")
    print("|---" * (1 + sum(len(f) for f in FORMS.values()) + 2) + "|")
    for T in lengths:
        cells = []
        for cell, forms in FORMS.items():
            for name, layer, _, kwargs in forms:
                if cell == "mlstm" and name == "parallel" and T > 2048:
                    cells.append("—")  # T² memory per head and sequence: B·K·T² floats
                    continue
                cells.append(f"{time_train_step(cell, layer, kwargs, B, T, X, H, heads, args.repeats):.1f}")
        torch_cells = []
        for kind in ("slstm", "mlstm"):
            if (kind == "mlstm" and T > 2048) or T > args.package_max_length:
                torch_cells.append("—")
                continue
            ms = time_xlstm_package(kind, B, T, H, heads, args.repeats)
            torch_cells.append("n/a" if ms is None else f"{ms:.1f}")
        print(f"| {T} | " + " | ".join(cells + torch_cells) + " |", flush=True)


if __name__ == "__main__":
    main()
