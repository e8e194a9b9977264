"""Character-level language-modelling data: vocabulary, corpora, windows, split.

`stdlib_corpus` gives real English prose with no download: the docstrings (or the
full source) of a fixed list of pure-Python standard-library modules, read from
their source files in a fixed order. The text is deterministic for a given
Python version (docstrings change between versions).
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from jaxlstm.data.rng import as_generator, check_positive_int
from jaxlstm.data.textfile import read_utf8

STDLIB_MODULES = (
    "argparse", "textwrap", "difflib", "heapq", "bisect", "fractions", "functools",
    "collections", "string", "random", "statistics", "calendar", "pprint", "contextlib",
    "dataclasses", "enum", "inspect", "json", "logging", "subprocess", "threading",
    "tarfile", "zipfile", "doctest", "typing", "configparser", "optparse", "pickle",
    "queue", "shutil", "tempfile", "timeit", "traceback", "uuid", "socket",
)


@dataclass(frozen=True)
class CharVocab:
    """Character vocabulary: `chars[i]` is the character of id i.

    If `unk` is set it is stored at id 0 and unknown characters encode to 0;
    otherwise encoding an unknown character raises ValueError.
    """

    chars: tuple[str, ...]
    unk: str | None = None
    _index: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        chars = tuple(self.chars)
        for i, c in enumerate(chars):
            if not isinstance(c, str) or len(c) != 1:
                raise ValueError(f"chars[{i}] must be a single character, got {c!r}")
        index = {c: i for i, c in enumerate(chars)}
        if len(index) != len(chars):
            raise ValueError("chars must be unique")
        if self.unk is not None and (not chars or chars[0] != self.unk):
            raise ValueError(f"unk {self.unk!r} must be chars[0], got chars[:1] = {chars[:1]!r}")
        object.__setattr__(self, "chars", chars)
        object.__setattr__(self, "_index", index)

    @classmethod
    def build(cls, text: str, *, unk: str | None = None) -> "CharVocab":
        """Sorted distinct characters of `text`; with `unk` (a character) at id 0."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        chars = sorted(set(text))
        if unk is not None:
            if not isinstance(unk, str) or len(unk) != 1:
                raise ValueError(f"unk must be a single character, got {unk!r}")
            chars = [unk] + [c for c in chars if c != unk]
        return cls(tuple(chars), unk)

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """(len(text),) int32 ids."""
        index, out = self._index, np.empty(len(text), dtype=np.int32)
        for i, c in enumerate(text):
            j = index.get(c)
            if j is None:
                if self.unk is None:
                    raise ValueError(
                        f"character {c!r} at position {i} is not in the vocabulary "
                        f"({len(self.chars)} characters) and no unk character was set"
                    )
                j = 0
            out[i] = j
        return out

    def decode(self, ids) -> str:
        """The string of `ids` (any shape, flattened)."""
        flat = np.asarray(ids).reshape(-1).tolist()
        for i in flat:
            if not 0 <= i < len(self.chars):
                raise ValueError(f"id {i} out of range for a vocabulary of {len(self.chars)} characters")
        return "".join(self.chars[i] for i in flat)


def load_text(path) -> str:
    """The UTF-8 text of `path`; FileNotFoundError if missing, ValueError if empty or not UTF-8."""
    return read_utf8(path)


def _docstrings(node) -> Iterator[str]:
    """Docstrings of `node` and its nested classes/functions, in source order."""
    if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
        doc = ast.get_docstring(node, clean=True)
        if doc:
            yield doc
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            yield from _docstrings(child)


def module_source(name: str) -> str:
    """Source text of standard-library module `name` (read from its .py file, not imported)."""
    spec = importlib.util.find_spec(name)
    origin = getattr(spec, "origin", None)
    if spec is None or not origin or not origin.endswith(".py"):
        raise FileNotFoundError(
            f"no Python source file for standard-library module {name!r} (origin {origin!r}); "
            "this Python installation may ship compiled modules only"
        )
    return read_utf8(origin)


def stdlib_corpus(max_chars: int | None = None, *, kind: str = "docstrings") -> str:
    """English text from the standard library, deterministic for a given Python version.

    kind="docstrings": the docstrings of STDLIB_MODULES (module, class and function
    docstrings in source order), joined by blank lines; a few hundred thousand
    characters. kind="source": the full source files, joined by blank lines.
    The result is cut to `max_chars` characters if it is longer.
    """
    if kind not in ("docstrings", "source"):
        raise ValueError(f"kind must be 'docstrings' or 'source', got {kind!r}")
    if max_chars is not None:
        max_chars = check_positive_int("max_chars", max_chars)
    parts, total = [], 0
    for name in STDLIB_MODULES:
        source = module_source(name)
        texts = list(_docstrings(ast.parse(source))) if kind == "docstrings" else [source]
        for t in texts:
            parts.append(t)
            total += len(t) + 2
        if max_chars is not None and total >= max_chars:
            break
    text = "\n\n".join(parts)
    return text if max_chars is None else text[:max_chars]


def char_lm_batches(ids, seq_len: int, batch_size: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """One batch of random windows for next-character prediction.

    ids: (L,) integer array, the encoded corpus, L >= seq_len + 1.
    Returns inputs (B, T) int32 = ids[s : s+T] and targets (B, T) int32 =
    ids[s+1 : s+T+1] for B = batch_size start offsets s drawn uniformly from
    [0, L - T - 1] by `rng` (Generator or int seed).
    """
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"ids must be 1-D, got shape {ids.shape}")
    seq_len = check_positive_int("seq_len", seq_len)
    batch_size = check_positive_int("batch_size", batch_size)
    if ids.size < seq_len + 1:
        raise ValueError(
            f"ids must have at least seq_len + 1 = {seq_len + 1} elements, got {ids.size}"
        )
    starts = as_generator(rng).integers(0, ids.size - seq_len, size=batch_size)
    window = starts[:, None] + np.arange(seq_len)[None, :]
    return ids[window].astype(np.int32), ids[window + 1].astype(np.int32)


def contiguous_batches(
    ids, seq_len: int, batch_size: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Truncated-BPTT batches: the corpus split into `batch_size` contiguous lanes.

    The first B * M + 1 ids (M = (L - 1) // B) are laid out as B lanes of M
    steps; successive yields are consecutive (B, T) chunks of every lane, so
    row b of one batch continues row b of the previous one (carry the state).
    The final chunk may be shorter than T. Yields (inputs, targets), int32.
    """
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"ids must be 1-D, got shape {ids.shape}")
    seq_len = check_positive_int("seq_len", seq_len)
    batch_size = check_positive_int("batch_size", batch_size)
    steps = (ids.size - 1) // batch_size
    if steps < 1:
        raise ValueError(
            f"ids must have at least batch_size + 1 = {batch_size + 1} elements, got {ids.size}"
        )
    inputs = ids[: batch_size * steps].reshape(batch_size, steps).astype(np.int32)
    targets = ids[1 : batch_size * steps + 1].reshape(batch_size, steps).astype(np.int32)
    for start in range(0, steps, seq_len):
        yield inputs[:, start : start + seq_len], targets[:, start : start + seq_len]


def train_valid_split(data, valid_fraction: float = 0.1):
    """Chronological split of a string or 1-D array.

    Returns (data[:n-k], data[n-k:]) with k = round(valid_fraction * n).
    """
    if not 0.0 < float(valid_fraction) < 1.0:
        raise ValueError(f"valid_fraction must be in (0, 1), got {valid_fraction}")
    n = len(data)
    k = int(round(float(valid_fraction) * n))
    if k < 1 or k >= n:
        raise ValueError(
            f"valid_fraction={valid_fraction} of {n} items leaves an empty part (k={k})"
        )
    return data[: n - k], data[n - k :]
