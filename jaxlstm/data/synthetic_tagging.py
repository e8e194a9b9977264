"""A synthetic NER-like tagging task whose entity types are decided by context.

Sentences mix filler words with 1-3 entity mentions. Every mention is 1-3
"name" tokens drawn from one shared pool, so a name token on its own says
nothing about the type; the context does:

    PER:  a title before the names  ("mr ada boris"  -> O B-PER I-PER)
    LOC:  a preposition before them ("in celia"      -> O B-LOC)
    ORG:  a suffix *after* them     ("dario corp"    -> B-ORG I-ORG)

The ORG suffix is part of the entity and comes after the names, so tagging the
first name of an ORG needs right context (a backward or bidirectional RNN);
the B/I structure is what a CRF layer captures. Tags are BIO (IOB2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jaxlstm.data.rng import as_generator, check_positive_int
from jaxlstm.data.tagged import TaggedSentence, encode_tagged
from jaxlstm.data.vocab import PAD, UNK, TagVocab, Vocab

NAMES = ("ada", "boris", "celia", "dario", "elena", "farid", "greta", "hugo", "ines", "jonas",
         "kira", "lukas", "mira", "nils", "olga", "pavel", "quinn", "rosa", "sven", "tara")
FILLERS = ("the", "a", "report", "said", "that", "on", "monday", "was", "visited", "by",
           "new", "talks", "with", "and", "after", "meeting", "today", "will", "open", "office",
           "announced", "plans", "for", "its", "team", "again")
PER_TITLES = ("mr", "ms", "dr")
LOC_PREPOSITIONS = ("in", "from", "near")
ORG_SUFFIXES = ("corp", "inc", "group")
ENTITY_TYPES = ("PER", "LOC", "ORG")
TAGS = ("O", "B-LOC", "B-ORG", "B-PER", "I-LOC", "I-ORG", "I-PER")


@dataclass(frozen=True)
class SyntheticTagging:
    """The generated task.

    token_ids: (N, L) int32 (0 = <pad>), L = the longest sentence.
    tag_ids: (N, L) int32 BIO tag ids into tag_vocab (padding 0 = "O"; mask with lengths).
    lengths: (N,) int32.
    token_vocab / tag_vocab: fixed vocabularies (independent of the sample).
    sentences: the N TaggedSentence strings.
    """

    token_ids: np.ndarray
    tag_ids: np.ndarray
    lengths: np.ndarray
    token_vocab: Vocab
    tag_vocab: TagVocab
    sentences: tuple


def tagging_vocabs() -> tuple[Vocab, TagVocab]:
    """The fixed token vocabulary (<pad>, <unk>, then all words sorted) and tag vocabulary."""
    words = sorted(set(NAMES + FILLERS + PER_TITLES + LOC_PREPOSITIONS + ORG_SUFFIXES))
    return Vocab((PAD, UNK, *words)), TagVocab(TAGS)


def _pick(rng: np.random.Generator, pool, k: int = 1) -> list[str]:
    return [str(pool[i]) for i in rng.integers(0, len(pool), size=k)]


def _mention(rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """One entity mention with its context word: (tokens, tags)."""
    kind = ENTITY_TYPES[int(rng.integers(0, 3))]
    names = _pick(rng, NAMES, int(rng.integers(1, 4)))
    if kind == "ORG":
        toks = names + _pick(rng, ORG_SUFFIXES)
        return toks, ["B-ORG"] + ["I-ORG"] * (len(toks) - 1)
    cue = _pick(rng, PER_TITLES if kind == "PER" else LOC_PREPOSITIONS)
    return cue + names, ["O", f"B-{kind}"] + [f"I-{kind}"] * (len(names) - 1)


def tagging_sentence(rng) -> TaggedSentence:
    """One sentence: filler runs of 1-4 words around 1-3 mentions."""
    rng = as_generator(rng)
    tokens = _pick(rng, FILLERS, int(rng.integers(1, 5)))
    tags = ["O"] * len(tokens)
    for _ in range(int(rng.integers(1, 4))):
        mtoks, mtags = _mention(rng)
        filler = _pick(rng, FILLERS, int(rng.integers(1, 5)))
        tokens += mtoks + filler
        tags += mtags + ["O"] * len(filler)
    return TaggedSentence(tuple(tokens), tuple(tags))


def synthetic_tagging(n: int, rng) -> SyntheticTagging:
    """Generate `n` sentences of the task and their padded encodings."""
    n = check_positive_int("n", n)
    rng = as_generator(rng)
    sentences = tuple(tagging_sentence(rng) for _ in range(n))
    token_vocab, tag_vocab = tagging_vocabs()
    arrays = encode_tagged(sentences, token_vocab, tag_vocab)
    return SyntheticTagging(
        arrays.token_ids, arrays.tag_ids, arrays.lengths, token_vocab, tag_vocab, sentences
    )
