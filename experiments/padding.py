"""How much of a padded batch is padding, with and without length bucketing (`jaxlstm.data.batches`).

    python experiments/padding.py [--epochs 20] [--quick]

For the training sets of three variable-length tasks, with the tasks' own batch widths
(min_width * 2^k, capped at the longest example where the task pads to one width) and their
configs' batch sizes (configs/tagging.yaml, jsb_chorales.yaml, japanese_vowels.yaml), prints a
Markdown table of

    padding fraction = sum over batches of (B * width - sum of the rows' lengths)
                       / sum over batches of (B * width)

over --epochs epochs of batches (replacement: as many steps), and the number of
distinct batch widths (compiled shapes). Rows: one width for every batch (the longest
example), widths cut per batch but rows drawn at random (no bucketing), and bucketing
with sort pools of several sizes ("epochs") or the length-group draw ("replacement").

Corpora: the tagging task's synthetic sentences (2000, 4..26 tokens), the Bach chorales
(music21's corpus, the polyphonic task's training split, whose widths are not capped; also
shown capped at the longest piece; skipped without music21) and JapaneseVowels (sktime's
copy; skipped without sktime). --quick: tagging only, 2 epochs.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from jaxlstm.data.batches import Batches  # noqa: E402


def tagging_lengths() -> np.ndarray:
    from jaxlstm.data.synthetic_tagging import synthetic_tagging

    return np.array([len(s.tokens) for s in synthetic_tagging(2000, np.random.default_rng(1)).sentences])


def chorale_lengths() -> np.ndarray:
    """Predicted steps (T - 1) of the polyphonic task's default training split."""
    from jaxlstm.data.chorales import load_chorales, split_indices

    rolls = [r for r in load_chorales(None).rolls if len(r) >= 2]
    train = split_indices(len(rolls), valid_fraction=0.2, test_fraction=0.2, seed=0)["train"]
    return np.array([len(rolls[i]) - 1 for i in train])


def vowel_lengths() -> np.ndarray:
    from jaxlstm.data.uea import bundled_ts_path, load_ts_pair

    train, _ = load_ts_pair(*(bundled_ts_path("JapaneseVowels", s) for s in ("train", "test")))
    return np.array([len(x) for x in train.xs])


def padding(lengths: np.ndarray, batch_size: int, epochs: int, **kwargs) -> tuple[float, int]:
    """(padding fraction, distinct widths) of `epochs` epochs of `Batches(..., **kwargs)`."""
    def widths_only(rows, width, rng):
        return {"width": width, "steps": int(rows["length"].sum())}

    batches = Batches({"length": lengths}, batch_size, lengths=lengths, collate=widths_only, **kwargs)
    padded = real = 0
    seen = set()
    for step in range(epochs * len(batches)):
        b = batches(step)
        padded += batch_size * b["width"]
        real += b["steps"]
        seen.add(b["width"])
    return 1.0 - real / padded, len(seen)


def table(name: str, lengths: np.ndarray, min_width: int, capped: bool, batch_size: int, epochs: int):
    longest = int(lengths.max())
    max_width = longest if capped else None
    print(f"\n{name}: N = {len(lengths)}, lengths {lengths.min()}..{longest} (mean "
          f"{lengths.mean():.1f}), batch {batch_size}, widths {min_width} * 2^k"
          + (f" capped at {max_width}" if max_width else ""))
    print("| batches | padding | widths |\n|---|---:|---:|")
    rows = [("one width (the longest example) for every batch",
             dict(order="epochs", min_width=longest, max_width=longest))]
    rows.append(("width cut per batch, rows at random (no bucketing)",
                 dict(order="epochs", min_width=min_width, max_width=max_width)))
    for pool in (4, 16, 64):
        rows.append((f"bucketed epochs, sort pool {pool} batches",
                     dict(order="epochs", bucket=True, pool=pool, min_width=min_width,
                          max_width=max_width)))
    rows.append(("bucketed replacement (one length group per batch)",
                 dict(order="replacement", bucket=True, min_width=min_width, max_width=max_width)))
    for label, kwargs in rows:
        frac, widths = padding(lengths, batch_size, epochs, **kwargs)
        print(f"| {label} | {100 * frac:.1f} % | {widths} |")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    epochs = 2 if args.quick else args.epochs
    table("tagging (synthetic sentences)", tagging_lengths(), 16, True, 32, epochs)
    if args.quick:
        return
    for name, load, min_width, capped, batch_size in (
            ("Bach chorales (polyphonic)", chorale_lengths, 64, False, 16),
            ("Bach chorales, widths capped at the longest piece", chorale_lengths, 64, True, 16),
            ("JapaneseVowels (ts_classification)", vowel_lengths, 8, True, 32)):
        try:
            lengths = load()
        except (ImportError, ValueError, FileNotFoundError) as e:
            print(f"\n{name}: skipped ({e})")
            continue
        table(name, lengths, min_width, capped, batch_size, epochs)


if __name__ == "__main__":
    main()
