"""CoNLL-2003 and CoNLL-U readers, a writer, and padded encoding of tagged sentences.

CoNLL-2003: one token per line, columns separated by spaces or tabs (token POS chunk
NER), a blank line between sentences, `-DOCSTART-` lines skipped. Every token
line must have the same number of columns as the first one.

CoNLL-U (Universal Dependencies): 10 tab-separated fields per word line
(ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC), `#` comment lines,
blank line after each sentence. Multiword-token ranges ("1-2") and empty nodes
("1.1") are skipped; word IDs must run 1, 2, 3, ... within a sentence.

A malformed line raises ValueError naming the file and the 1-based line number.
Entity-level scoring (`entity_f1`) lives in `conlleval`, the synthetic task in
`synthetic_tagging`; both are re-exported here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from jaxlstm.data.conlleval import ChunkScores, entity_f1
from jaxlstm.data.synthetic_tagging import SyntheticTagging, synthetic_tagging
from jaxlstm.data.tagged import TaggedArrays, TaggedSentence, build_vocabs, encode_tagged
from jaxlstm.data.textfile import read_utf8

__all__ = [
    "CONLLU_FIELDS", "ChunkScores", "SyntheticTagging", "TaggedArrays", "TaggedSentence",
    "build_vocabs", "encode_tagged", "entity_f1", "read_conll2003", "read_conllu",
    "synthetic_tagging", "write_conll",
]

CONLLU_FIELDS = ("id", "form", "lemma", "upos", "xpos", "feats", "head", "deprel", "deps", "misc")
_WORD_ID = re.compile(r"^[1-9][0-9]*$")
_RANGE_ID = re.compile(r"^[1-9][0-9]*-[1-9][0-9]*$")
_EMPTY_ID = re.compile(r"^[0-9]+\.[1-9][0-9]*$")
_COLUMN_SEP = re.compile(r"[ \t]+")


def _lines(path: Path) -> list[str]:
    """Lines of the UTF-8 file split at "\n" only (so line numbers match editors), "\r" removed."""
    return [line.rstrip("\r") for line in read_utf8(path).split("\n")]


def _error(path: Path, lineno: int, message: str, line: str) -> ValueError:
    return ValueError(f"{path}:{lineno}: {message}: {line!r}")


def _nonempty(sentences: list, path: Path) -> list:
    if not sentences:
        raise ValueError(f"{path}: no sentences found (only blank, comment or -DOCSTART- lines)")
    return sentences


def _column_index(name: str, index: int, ncols: int, path: Path, lineno: int, line: str) -> int:
    if not -ncols <= index < ncols:
        message = f"{name}={index} is out of range for a line with {ncols} columns"
        raise _error(path, lineno, message, line)
    return index % ncols


def read_conll2003(path, *, tag_column: int = -1, token_column: int = 0) -> list[TaggedSentence]:
    """Sentences of a CoNLL-2003 file; tags from column `tag_column` (default last, the NER tag).

    For CoNLL-2003 NER files the columns are token(0) POS(1) chunk(2) NER(3).
    """
    path = Path(os.fspath(path))
    sentences, tokens, tags, ncols = [], [], [], None
    for lineno, raw in enumerate(_lines(path), start=1):
        cols = [c for c in _COLUMN_SEP.split(raw) if c]
        if not cols:
            if tokens:
                sentences.append(TaggedSentence(tuple(tokens), tuple(tags)))
                tokens, tags = [], []
            continue
        if cols[0] == "-DOCSTART-":
            continue
        if ncols is None:
            ncols = len(cols)
            if ncols < 2:
                message = f"expected at least 2 columns (token and tag), got {ncols}"
                raise _error(path, lineno, message, raw)
            tag_i = _column_index("tag_column", tag_column, ncols, path, lineno, raw)
            tok_i = _column_index("token_column", token_column, ncols, path, lineno, raw)
        elif len(cols) != ncols:
            message = f"expected {ncols} columns like the first token line, got {len(cols)}"
            raise _error(path, lineno, message, raw)
        tokens.append(cols[tok_i])
        tags.append(cols[tag_i])
    if tokens:
        sentences.append(TaggedSentence(tuple(tokens), tuple(tags)))
    return _nonempty(sentences, path)


def _field_index(name: str, value) -> int:
    if isinstance(value, str):
        if value.lower() not in CONLLU_FIELDS:
            raise ValueError(f"{name} must be one of {CONLLU_FIELDS} or an index 0-9, got {value!r}")
        return CONLLU_FIELDS.index(value.lower())
    if not isinstance(value, int) or not 0 <= value < 10:
        raise ValueError(f"{name} must be one of {CONLLU_FIELDS} or an index 0-9, got {value!r}")
    return value


def read_conllu(path, *, tag_field="upos", token_field="form") -> list[TaggedSentence]:
    """Sentences of a CoNLL-U file: tokens from `token_field` (FORM), tags from `tag_field` (UPOS).

    Fields are named as in CONLLU_FIELDS or given by index. Multiword-token lines
    and empty nodes are skipped, so tokens are the syntactic words.
    """
    path = Path(os.fspath(path))
    tag_i, tok_i = _field_index("tag_field", tag_field), _field_index("token_field", token_field)
    sentences, tokens, tags = [], [], []
    for lineno, raw in enumerate(_lines(path), start=1):
        if not raw.strip():
            if tokens:
                sentences.append(TaggedSentence(tuple(tokens), tuple(tags)))
                tokens, tags = [], []
            continue
        if raw.startswith("#"):
            continue
        cols = raw.split("\t")
        if len(cols) != 10:
            raise _error(path, lineno, f"expected 10 tab-separated fields, got {len(cols)}", raw)
        word_id = cols[0]
        if _RANGE_ID.match(word_id) or _EMPTY_ID.match(word_id):
            continue
        if not _WORD_ID.match(word_id):
            message = f"ID must be an integer, a range 'a-b' or a decimal 'a.b', got {word_id!r}"
            raise _error(path, lineno, message, raw)
        if int(word_id) != len(tokens) + 1:
            raise _error(path, lineno, f"expected word ID {len(tokens) + 1}, got {word_id}", raw)
        tokens.append(cols[tok_i])
        tags.append(cols[tag_i])
    if tokens:
        sentences.append(TaggedSentence(tuple(tokens), tuple(tags)))
    return _nonempty(sentences, path)


def write_conll(path, sentences, *, sep: str = " ", docstart: bool = False) -> Path:
    """Write sentences in CoNLL column format: one token per line, blank line after each sentence.

    Each sentence is a TaggedSentence (written as "token tag") or a sequence of
    rows, each row a sequence of column strings (e.g. token POS chunk NER).
    With `docstart`, the file begins with "-DOCSTART- -X- -X- O" and a blank line
    (its column count matches rows of 4 columns). Returns the path.
    """
    path = Path(os.fspath(path))
    lines = ["-DOCSTART- -X- -X- O", ""] if docstart else []
    for i, sentence in enumerate(sentences):
        if isinstance(sentence, TaggedSentence):
            if len(sentence.tokens) != len(sentence.tags):
                raise ValueError(
                    f"sentences[{i}] has {len(sentence.tokens)} tokens but {len(sentence.tags)} tags"
                )
            rows = list(zip(sentence.tokens, sentence.tags))
        else:
            rows = [tuple(r) for r in sentence]
        for j, row in enumerate(rows):
            for cell in row:
                if not cell or any(ch.isspace() for ch in cell):
                    raise ValueError(
                        f"sentences[{i}] row {j}: cell {cell!r} is empty or contains whitespace"
                    )
            lines.append(sep.join(row))
        lines.append("")
    path.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
    return path
