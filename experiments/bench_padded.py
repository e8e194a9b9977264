"""Padded batches: one training step (loss and parameter gradients) of an LSTM layer over
sequences of different lengths, jaxlstm against Flax NNX and PyTorch.

    python experiments/bench_padded.py [--quick] [--repeats N] [--torch-first]

Entries, each on the same batch (B, T, X) with lengths drawn uniformly from [T/2, T]:
  jaxlstm           jax.vmap(lstm(..., lengths=n)): on the CPU the oneDNN kernel over all T
                    steps, masked (jaxlstm.core.layer.padded_layer)
  jaxlstm full      the same batch without lengths (what the padding itself costs)
  flax              nnx.RNN(nnx.OptimizedLSTMCell) with seq_lengths
  torch packed      nn.LSTM on pack_padded_sequence (how PyTorch skips padding)
  torch full        nn.LSTM on the padded batch, lengths ignored
Before timing, jaxlstm's outputs at the valid steps are checked against Flax's with the
same weights. Prints the median step time over `--repeats` runs and each entry's ratio to
jaxlstm's. `--torch-first` imports torch before jaxlstm (the kernel's libraries are private,
docs/architecture.md). `--quick` runs a tiny shape (the CI smoke test).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

SHAPES = {"P1": (64, 128, 128, 256), "P2": (32, 256, 64, 128)}
QUICK = {"tiny": (8, 12, 4, 16)}


def _median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def run(shape, repeats: int) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np
    import torch
    from flax import nnx

    import jaxlstm as J

    B, T, X, H = shape
    rng = np.random.default_rng(0)
    xs_np = rng.normal(size=(B, T, X)).astype(np.float32)
    lengths_np = rng.integers(T // 2, T + 1, B).astype(np.int32)
    xs, lengths = jnp.asarray(xs_np), jnp.asarray(lengths_np)
    valid = (np.arange(T)[None, :] < lengths_np[:, None])[..., None]
    params = J.init_lstm(jax.random.key(0), X, H)

    def jaxlstm_loss(p, xs, n):  # n None: the full length, no lengths
        return jnp.sum(jax.vmap(lambda x, m: J.lstm(p, x, lengths=m)[1])(xs, n) ** 2)

    step = jax.jit(jax.grad(jaxlstm_loss))
    cell = nnx.OptimizedLSTMCell(X, H, rngs=nnx.Rngs(0))
    cell.dense_i.kernel[...] = params.w_x  # both order the gate blocks i, f, g, o
    cell.dense_h.kernel[...] = params.w_h
    cell.dense_h.bias[...] = params.b
    rnn = nnx.RNN(cell, rngs=False)
    zeros = (jnp.zeros((B, H)), jnp.zeros((B, H)))  # (c, h): no RNG draw for the carry
    graphdef, state, rest = nnx.split(rnn, nnx.Param, ...)

    def flax_loss(state, xs, n):
        hs = nnx.merge(graphdef, state, rest)(xs, seq_lengths=n, initial_carry=zeros)
        return jnp.sum(jnp.where(jnp.arange(T)[None, :, None] < n[:, None, None], hs, 0.0) ** 2)

    flax_step = jax.jit(jax.grad(flax_loss))
    ours = np.asarray(jax.vmap(lambda x, m: J.lstm(params, x, lengths=m)[1])(xs, lengths))
    theirs = np.asarray(rnn(xs, seq_lengths=lengths, initial_carry=zeros))
    agree = float(np.max(np.abs(np.where(valid, ours - theirs, 0.0))))

    torch.manual_seed(0)
    module = torch.nn.LSTM(X, H, batch_first=True)
    xt, nt = torch.from_numpy(xs_np), torch.from_numpy(lengths_np.astype(np.int64))

    def torch_step(packed: bool):
        module.zero_grad()
        if packed:
            out, _ = module(torch.nn.utils.rnn.pack_padded_sequence(xt, nt, batch_first=True,
                                                                    enforce_sorted=False))
            out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=T)
        else:
            out, _ = module(xt)
        (out ** 2).sum().backward()

    times = {
        "jaxlstm": _median_ms(lambda: jax.block_until_ready(step(params, xs, lengths)), repeats),
        "jaxlstm full": _median_ms(lambda: jax.block_until_ready(step(params, xs, None)), repeats),
        "flax": _median_ms(lambda: jax.block_until_ready(flax_step(state, xs, lengths)), repeats),
        "torch packed": _median_ms(lambda: torch_step(True), repeats),
        "torch full": _median_ms(lambda: torch_step(False), repeats),
    }
    return {"times": times, "agree": agree, "explain": J.explain(params, xs, lengths=lengths).reason}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a tiny shape, 2 repeats (CI smoke test)")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--torch-first", action="store_true", help="import torch before jaxlstm")
    args = ap.parse_args(argv)
    if args.torch_first:
        import torch  # noqa: F401
    shapes, repeats = (QUICK, 2) if args.quick else (SHAPES, args.repeats)
    results = {}
    for name, shape in shapes.items():
        result = run(shape, repeats)
        results[name] = result
        times = result["times"]
        print(f"{name} B,T,X,H={shape}  lengths in [T/2, T]  (jaxlstm vs flax at valid steps: "
              f"max |diff| {result['agree']:.1e})")
        print(f"  jaxlstm backend: {result['explain']}")
        for entry, ms in times.items():
            print(f"  {entry:13s} {ms:8.1f} ms  {ms / times['jaxlstm']:5.2f}x jaxlstm")
    return results


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
