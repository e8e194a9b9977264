"""Token and tag vocabularies: string <-> id maps with fixed special ids.

`Vocab` (words) reserves id 0 for "<pad>" and id 1 for "<unk>"; unknown words
encode to 1. `TagVocab` (labels) has no specials and rejects unknown tags.
Both are frozen and built deterministically (ties broken by string order).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from jaxlstm.data.batching import pad_sequences

PAD = "<pad>"
UNK = "<unk>"
PAD_ID = 0
UNK_ID = 1


@dataclass(frozen=True)
class Vocab:
    """Word vocabulary: `tokens[i]` is the string of id i; tokens[0] = "<pad>", tokens[1] = "<unk>"."""

    tokens: tuple[str, ...]
    _index: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        toks = tuple(self.tokens)
        if toks[:2] != (PAD, UNK):
            raise ValueError(f"tokens must start with ({PAD!r}, {UNK!r}), got {toks[:2]!r}")
        index = {t: i for i, t in enumerate(toks)}
        if len(index) != len(toks):
            dupes = sorted(t for t, c in Counter(toks).items() if c > 1)
            raise ValueError(f"tokens must be unique, got duplicates {dupes[:5]!r}")
        object.__setattr__(self, "tokens", toks)
        object.__setattr__(self, "_index", index)

    @classmethod
    def build(
        cls,
        token_lists: Iterable[Sequence[str]],
        *,
        max_size: int | None = None,
        min_freq: int = 1,
    ) -> "Vocab":
        """Vocabulary of the words in `token_lists` seen at least `min_freq` times.

        Words are ordered by decreasing count, ties alphabetically. `max_size`
        caps the total size *including* "<pad>" and "<unk>" (so it is the row
        count of an embedding table); None means no cap.
        """
        if min_freq < 1:
            raise ValueError(f"min_freq must be >= 1, got {min_freq}")
        if max_size is not None and max_size < 2:
            raise ValueError(f"max_size must be >= 2 (room for {PAD!r} and {UNK!r}), got {max_size}")
        counts = Counter(t for toks in token_lists for t in toks)
        for special in (PAD, UNK):
            counts.pop(special, None)
        frequent = (w for w, c in counts.items() if c >= min_freq)
        words = sorted(frequent, key=lambda w: (-counts[w], w))
        if max_size is not None:
            words = words[: max_size - 2]
        return cls((PAD, UNK, *words))

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self._index

    def id(self, token: str) -> int:
        """Id of `token`, or UNK_ID (1) if it is not in the vocabulary."""
        return self._index.get(token, UNK_ID)

    def encode(self, tokens: Sequence[str]) -> np.ndarray:
        """(len(tokens),) int32 ids; unknown words map to UNK_ID."""
        return np.fromiter((self.id(t) for t in tokens), dtype=np.int32, count=len(tokens))

    def decode(self, ids) -> list[str]:
        """Words of `ids` (a 1-D int sequence); ValueError for ids out of range."""
        out = []
        for i in np.asarray(ids).reshape(-1).tolist():
            if not 0 <= i < len(self.tokens):
                raise ValueError(f"id {i} out of range for a vocabulary of size {len(self.tokens)}")
            out.append(self.tokens[i])
        return out

    def encode_batch(
        self,
        token_lists: Sequence[Sequence[str]],
        max_len: int | None = None,
        *,
        truncate: str = "post",
    ) -> tuple[np.ndarray, np.ndarray]:
        """Encode and pad with PAD_ID: ids (N, L) int32, lengths (N,) int32 (see `pad_sequences`)."""
        ids = [self.encode(t) for t in token_lists]
        return pad_sequences(ids, max_len, PAD_ID, truncate=truncate)


@dataclass(frozen=True)
class TagVocab:
    """Label vocabulary: `tags[i]` is the label of id i. No padding or unknown entry."""

    tags: tuple[str, ...]
    _index: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        tags = tuple(self.tags)
        if not tags:
            raise ValueError("tags must not be empty")
        index = {t: i for i, t in enumerate(tags)}
        if len(index) != len(tags):
            raise ValueError(f"tags must be unique, got {tags!r}")
        object.__setattr__(self, "tags", tags)
        object.__setattr__(self, "_index", index)

    @classmethod
    def build(cls, tag_lists: Iterable[Sequence[str]], *, first: str | None = "O") -> "TagVocab":
        """Sorted set of the tags in `tag_lists`, with `first` (default "O") at id 0 if present."""
        seen = sorted({t for tags in tag_lists for t in tags})
        if first is not None and first in seen:
            seen.remove(first)
            seen.insert(0, first)
        return cls(tuple(seen))

    def __len__(self) -> int:
        return len(self.tags)

    def id(self, tag: str) -> int:
        """Id of `tag`; ValueError naming the tag and the known tags if it is unknown."""
        try:
            return self._index[tag]
        except KeyError:
            raise ValueError(f"unknown tag {tag!r}; known tags: {list(self.tags)}") from None

    def encode(self, tags: Sequence[str]) -> np.ndarray:
        """(len(tags),) int32 ids."""
        return np.fromiter((self.id(t) for t in tags), dtype=np.int32, count=len(tags))

    def decode(self, ids) -> list[str]:
        """Tags of `ids` (a 1-D int sequence)."""
        out = []
        for i in np.asarray(ids).reshape(-1).tolist():
            if not 0 <= i < len(self.tags):
                raise ValueError(f"tag id {i} out of range for {len(self.tags)} tags")
            out.append(self.tags[i])
        return out

    def encode_batch(
        self, tag_lists: Sequence[Sequence[str]], max_len: int | None = None, pad: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Encode and pad: ids (N, L) int32 (padding value `pad`) and lengths (N,) int32."""
        return pad_sequences([self.encode(t) for t in tag_lists], max_len, pad)
