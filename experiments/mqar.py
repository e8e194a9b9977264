"""Multi-query associative recall (MQAR; Arora et al. 2023, used in Beck et al. 2024, fig. 5):
a sequence of --pairs key-value pairs, then the keys again in a random order; at each query
the model must name the value that followed that key. mLSTM (a d x d associative memory per
head) against the classic LSTM at (about) equal parameter counts.

    python experiments/mqar.py                      # the full run (minutes on 2 cores)
    python experiments/mqar.py --steps 3 --budget 3000    # smoke

Vocabulary: keys 0..K-1, values K..K+V-1 (K = V = --vocab). Loss and accuracy on the
query positions only. The cell reads [x_{t-1}, x_t] (a token shift, standing in for the
causal convolution of the xLSTM mLSTM block): with x_t alone, a layer whose gates and
k, v read only the current token cannot store a key together with its value, and
neither cell gets past ~0.4 (measured; docs/modern_cells.md). Prints a Markdown table of query accuracy on fresh sequences.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seq_models import accuracy, hidden_for, make, param_count, train  # noqa: E402


def batch(rng, batch_size: int, pairs: int, vocab: int):
    """tokens (B, 3·pairs): k1 v1 ... kN vN q1 ... qN; targets: the value at each query."""
    tokens = np.zeros((batch_size, 3 * pairs), np.int64)
    targets = np.zeros_like(tokens)
    mask = np.zeros(tokens.shape)
    for b in range(batch_size):
        keys = rng.choice(vocab, pairs, replace=False)
        values = vocab + rng.integers(0, vocab, pairs)
        tokens[b, 0:2 * pairs:2], tokens[b, 1:2 * pairs:2] = keys, values
        order = rng.permutation(pairs)
        tokens[b, 2 * pairs:] = keys[order]
        targets[b, 2 * pairs:] = values[order]
        mask[b, 2 * pairs:] = 1.0
    return tokens, targets, mask


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cells", default="lstm,mlstm")
    ap.add_argument("--pairs", type=int, default=8)
    ap.add_argument("--vocab", type=int, default=16)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--budget", type=int, default=20000, help="parameters per model")
    ap.add_argument("--mlstm-heads", type=int, default=2)
    ap.add_argument("--no-shift", action="store_true",
                    help="the cell reads x_t only (without it: [x_{t-1}, x_t])")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    size = 2 * args.vocab
    results = []
    for cell in args.cells.split(","):
        heads = args.mlstm_heads if cell == "mlstm" else 1
        shift = not args.no_shift
        hidden = hidden_for(cell, args.budget, size, size, heads, shift)
        params, apply = make(cell, size, hidden, size, num_heads=heads, shift=shift)
        rng = np.random.default_rng(0)
        params, sec = train(apply, params, lambda k: batch(rng, 64, args.pairs, args.vocab),
                            args.steps)
        acc = accuracy(apply, params, *batch(np.random.default_rng(1), 512, args.pairs,
                                             args.vocab))
        row = dict(cell=cell, hidden=hidden, heads=heads,
                   params=param_count(cell, size, hidden, size, heads, shift),
                   ms_per_step=1e3 * sec, accuracy=acc)
        results.append(row)
        print(json.dumps(row), flush=True)
    print(f"\n| cell | H | heads | params | query accuracy ({args.pairs} pairs) | ms/step |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['cell']} | {r['hidden']} | {r['heads']} | {r['params']} | "
              f"{r['accuracy']:.3f} | {r['ms_per_step']:.1f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
