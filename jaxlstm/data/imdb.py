"""IMDB movie reviews (Maas et al. 2011) in the standard `aclImdb` folder layout.

    root/train/pos/*.txt  root/train/neg/*.txt  root/test/pos/*.txt  root/test/neg/*.txt

Labels: 1 = pos, 0 = neg. Other folders (`train/unsup`, the vocabulary files)
are ignored. File names are `<id>_<rating>.txt`; reviews are read neg first,
then pos, each in increasing id order, so loading is deterministic. The
vocabulary is built from the training split only. `write_toy_imdb` writes a
small synthetic corpus in the same layout for tests and demos.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from jaxlstm.data.rng import as_generator, check_positive_int
from jaxlstm.data.textfile import read_utf8
from jaxlstm.data.vocab import Vocab

SPLITS = ("train", "test")
CLASSES = ("neg", "pos")  # label 0, label 1

_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def tokenize(text: str) -> list[str]:
    """Lowercase, replace `<br />` by a space, and keep runs of letters/digits.

    Apostrophes inside a word are kept ("don't", "director's"); everything else
    (punctuation, underscores, leading/trailing apostrophes) separates tokens.
    The typographic apostrophe U+2019 is treated as "'".
    """
    text = _BREAK.sub(" ", text.lower()).replace("\u2019", "'")
    return _TOKEN.findall(text)


class ImdbSplit(NamedTuple):
    """Raw reviews of one split.

    texts: tuple of N review strings.
    labels: (N,) int32, 1 = pos, 0 = neg.
    ratings: (N,) int32 star rating from the file name, -1 if the name has none.
    """

    texts: tuple
    labels: np.ndarray
    ratings: np.ndarray


class EncodedReviews(NamedTuple):
    """Reviews as padded ids: ids (N, max_len) int32 (pad 0), lengths (N,) int32, labels (N,) int32."""

    ids: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray


@dataclass(frozen=True)
class ImdbDataset:
    """Encoded train and test splits and the training-split vocabulary."""

    train: EncodedReviews
    test: EncodedReviews
    vocab: Vocab


def _review_key(path: Path) -> tuple:
    """Sort key: numeric id of `<id>_<rating>.txt`, then the name."""
    head = path.stem.split("_", 1)[0]
    return (int(head) if head.isdigit() else float("inf"), path.name)


def _rating(path: Path) -> int:
    parts = path.stem.split("_")
    return int(parts[1]) if len(parts) == 2 and parts[1].isdigit() else -1


def _class_files(root: Path, split: str, cls: str) -> list[Path]:
    folder = root / split / cls
    if not folder.is_dir():
        raise FileNotFoundError(
            f"IMDB folder {str(root)!r} is missing sub-folder '{split}/{cls}' "
            f"(expected the aclImdb layout root/{{train,test}}/{{pos,neg}}/*.txt)"
        )
    files = sorted(folder.glob("*.txt"), key=_review_key)
    if not files:
        raise ValueError(f"IMDB sub-folder {str(folder)!r} contains no *.txt files")
    return files


def load_imdb_split(root, split: str = "train") -> ImdbSplit:
    """Read one split ("train" or "test") of the aclImdb folder at `root`."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    root = Path(os.fspath(root))
    if not root.is_dir():
        raise FileNotFoundError(f"IMDB root folder not found: {str(root)!r}")
    texts, labels, ratings = [], [], []
    for label, cls in enumerate(CLASSES):
        for path in _class_files(root, split, cls):
            texts.append(read_utf8(path, allow_empty=True))
            labels.append(label)
            ratings.append(_rating(path))
    return ImdbSplit(tuple(texts), np.array(labels, np.int32), np.array(ratings, np.int32))


def encode_reviews(
    split: ImdbSplit, vocab: Vocab, max_len: int, *, truncate: str = "post"
) -> EncodedReviews:
    """Tokenize and encode: ids (N, max_len) int32 padded with 0, truncated per `truncate`."""
    max_len = check_positive_int("max_len", max_len)
    ids, lengths = vocab.encode_batch([tokenize(t) for t in split.texts], max_len, truncate=truncate)
    return EncodedReviews(ids, lengths, split.labels.copy())


def load_imdb(
    root,
    max_len: int = 400,
    *,
    max_size: int | None = 20000,
    min_freq: int = 1,
    truncate: str = "post",
) -> ImdbDataset:
    """Load, build the vocabulary on train (size cap `max_size` incl. specials), encode both splits.

    `truncate="post"` keeps the first `max_len` tokens of long reviews, "pre" the last.
    """
    train_raw, test_raw = load_imdb_split(root, "train"), load_imdb_split(root, "test")
    train_tokens = (tokenize(t) for t in train_raw.texts)
    vocab = Vocab.build(train_tokens, max_size=max_size, min_freq=min_freq)
    return ImdbDataset(
        encode_reviews(train_raw, vocab, max_len, truncate=truncate),
        encode_reviews(test_raw, vocab, max_len, truncate=truncate),
        vocab,
    )


POSITIVE_WORDS = ("great", "wonderful", "excellent", "brilliant", "loved", "superb",
                  "moving", "delightful", "masterpiece", "fantastic", "charming", "funny")
NEGATIVE_WORDS = ("awful", "terrible", "boring", "dull", "worst", "waste",
                  "horrible", "mess", "pointless", "disappointing", "stupid", "bland")
_NEUTRAL = ("the", "movie", "film", "plot", "acting", "story", "was", "and", "this", "it's",
            "character", "scene", "director's", "ending", "music", "i", "watched", "with",
            "my", "friends", "a", "of", "cast", "script", "really", "quite", "on", "sunday",
            "didn't", "expect", "that", "camera", "work", "dialogue", "felt")


def toy_review(label: int, rng) -> str:
    """One synthetic review: 2-4 sentences of neutral words, each with one sentiment word
    (from the review's own class with probability 0.85, else from the other class)."""
    if label not in (0, 1):
        raise ValueError(f"label must be 0 (neg) or 1 (pos), got {label!r}")
    rng = as_generator(rng)
    own, other = (POSITIVE_WORDS, NEGATIVE_WORDS) if label == 1 else (NEGATIVE_WORDS, POSITIVE_WORDS)
    sentences = []
    for _ in range(int(rng.integers(2, 5))):
        words = [str(w) for w in rng.choice(_NEUTRAL, size=int(rng.integers(5, 12)))]
        pool = own if rng.random() < 0.85 else other
        words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(pool)))
        sentence = " ".join(words)
        sentences.append(sentence[0].upper() + sentence[1:] + rng.choice([".", "!", "..."]))
    return "<br /><br />".join(" ".join(sentences[i : i + 2]) for i in range(0, len(sentences), 2))


def write_toy_imdb(root, n_per_class: int, rng) -> Path:
    """Write a synthetic aclImdb-layout corpus: n_per_class reviews per class and split.

    Files are `root/{train,test}/{pos,neg}/<id>_<rating>.txt` with ratings 7-10
    (pos) or 1-4 (neg). Sentiment is learnable from the sentiment words. Returns root.
    """
    n_per_class = check_positive_int("n_per_class", n_per_class)
    rng = as_generator(rng)
    root = Path(os.fspath(root))
    for split in SPLITS:
        for label, cls in enumerate(CLASSES):
            folder = root / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n_per_class):
                rating = int(rng.integers(7, 11)) if label == 1 else int(rng.integers(1, 5))
                (folder / f"{i}_{rating}.txt").write_text(toy_review(label, rng), encoding="utf-8")
    return root
