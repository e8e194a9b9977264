"""Tagged sentences (tokens + tags) and their padded integer encoding."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from jaxlstm.data.vocab import TagVocab, Vocab


class TaggedSentence(NamedTuple):
    """One sentence: tokens and tags, two tuples of equal length."""

    tokens: tuple
    tags: tuple


class TaggedArrays(NamedTuple):
    """Padded tagged sentences.

    token_ids: (N, L) int32, padded with 0 (<pad>); unknown words are 1 (<unk>).
    tag_ids: (N, L) int32, padded with `pad_tag` (0 by default; mask with lengths).
    lengths: (N,) int32.
    """

    token_ids: np.ndarray
    tag_ids: np.ndarray
    lengths: np.ndarray


def build_vocabs(
    sentences: Sequence[TaggedSentence],
    *,
    max_size: int | None = None,
    min_freq: int = 1,
    lower: bool = False,
) -> tuple[Vocab, TagVocab]:
    """Token vocabulary (<pad>=0, <unk>=1) and tag vocabulary ("O" first) of `sentences`."""
    tokens = ([t.lower() for t in s.tokens] if lower else s.tokens for s in sentences)
    token_vocab = Vocab.build(tokens, max_size=max_size, min_freq=min_freq)
    return token_vocab, TagVocab.build(s.tags for s in sentences)


def encode_tagged(
    sentences: Sequence[TaggedSentence],
    token_vocab: Vocab,
    tag_vocab: TagVocab,
    max_len: int | None = None,
    *,
    lower: bool = False,
    pad_tag: int = 0,
) -> TaggedArrays:
    """Encode and pad sentences: token_ids (N, L), tag_ids (N, L), lengths (N,), all int32.

    L = `max_len` (longer sentences are truncated) or the longest sentence.
    """
    token_lists = [[t.lower() for t in s.tokens] if lower else list(s.tokens) for s in sentences]
    token_ids, lengths = token_vocab.encode_batch(token_lists, max_len)
    tag_ids, _ = tag_vocab.encode_batch([s.tags for s in sentences], token_ids.shape[1], pad_tag)
    return TaggedArrays(token_ids, tag_ids, lengths)
