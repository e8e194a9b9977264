"""State tracking and length generalisation: parity and the running sum mod 3 of a token
sequence, trained on sequences of up to --train-len tokens, tested on 4x-16x longer ones.

The claim (Beck et al. 2024, table 1; Merrill et al. 2024): cells with a nonlinear
recurrence (the classic LSTM, sLSTM) track the state; cells whose recurrence is linear in
the state with input-only gates (mLSTM, minLSTM) cannot represent parity exactly and fail
beyond the trained lengths.

    python experiments/state_tracking.py                 # the full run (minutes on 2 cores)
    python experiments/state_tracking.py --steps 3 --test-lens 8 --cells lstm,mlstm  # smoke

Every cell has the same width H (--hidden; the claim is about what a recurrence can
represent, not capacity); the table gives each model's parameter count. Prints a Markdown table of the accuracy at the last step of each test length.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seq_models import CELLS, accuracy, make, param_count, train  # noqa: E402


def batch(rng, modulus: int, batch_size: int, max_len: int, fixed_len: int | None = None):
    """Tokens in [0, modulus), targets the running sum mod `modulus` at every step; mask is
    1 on the valid steps (random lengths in [1, max_len]) or only the last (fixed_len)."""
    tokens = rng.integers(0, modulus, (batch_size, fixed_len or max_len))
    targets = np.cumsum(tokens, axis=1) % modulus
    if fixed_len:
        mask = np.zeros(tokens.shape)
        mask[:, -1] = 1.0
    else:
        lengths = rng.integers(1, max_len + 1, batch_size)
        mask = (np.arange(max_len)[None] < lengths[:, None]).astype(float)
    return tokens, targets, mask


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cells", default="lstm,slstm,mlstm,minlstm")
    ap.add_argument("--tasks", default="parity,mod3")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--train-len", type=int, default=16)
    ap.add_argument("--test-lens", default="16,64,256")
    ap.add_argument("--hidden", type=int, default=32, help="H of every cell (equal width)")
    ap.add_argument("--mlstm-heads", type=int, default=4)
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args(argv)
    test_lens = [int(n) for n in args.test_lens.split(",")]
    results = []
    for task in args.tasks.split(","):
        modulus = {"parity": 2, "mod3": 3}[task]
        for cell in args.cells.split(","):
            assert cell in CELLS, cell
            hidden = args.hidden
            heads = args.mlstm_heads if cell == "mlstm" else 1
            params, apply = make(cell, modulus, hidden, modulus, num_heads=heads)
            rng = np.random.default_rng(0)
            params, sec = train(apply, params,
                                lambda k: batch(rng, modulus, 64, args.train_len), args.steps)
            test_rng = np.random.default_rng(1)
            accs = [accuracy(apply, params, *batch(test_rng, modulus, 256, 0, fixed_len=n))
                    for n in test_lens]
            row = dict(task=task, cell=cell, hidden=hidden, params=param_count(
                cell, modulus, hidden, modulus, heads), ms_per_step=1e3 * sec,
                accuracy=dict(zip(test_lens, accs)))
            results.append(row)
            print(json.dumps(row), flush=True)
    print(f"\n| task | cell | H | params | " + " | ".join(f"acc T={n}" for n in test_lens)
          + " | ms/step |")
    print("|---" * (5 + len(test_lens)) + "|")
    for r in results:
        print(f"| {r['task']} | {r['cell']} | {r['hidden']} | {r['params']} | "
              + " | ".join(f"{r['accuracy'][n]:.3f}" for n in test_lens)
              + f" | {r['ms_per_step']:.1f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
