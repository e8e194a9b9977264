"""The Reber grammar, the embedded Reber grammar (ERG) and the continual ERG stream.

Reber grammar (the finite automaton used by Hochreiter & Schmidhuber 1997 and
Gers, Schmidhuber & Cummins 2000), every choice taken with probability 1/2:

    state 0 -B-> 1
    state 1 -T-> 2 | -P-> 3
    state 2 -S-> 2 | -X-> 4
    state 3 -T-> 3 | -V-> 5
    state 4 -X-> 3 | -S-> 6
    state 5 -P-> 4 | -V-> 6
    state 6 -E-> end            e.g. BTXSE, BPVVE, BTSSXXTVVE, BPTVPSE

Embedded Reber grammar: B, then T or P (1/2 each), then a Reber string, then the
*same* T or P again, then E, e.g. BT(BPVVE)TE. Predicting that second-to-last
symbol requires remembering the second symbol across the whole inner string.

Continual ERG (Gers et al. 2000, "Learning to forget"): ERG strings concatenated
into one stream without separators or state resets; after a final E the next
symbol is the B of the next string. The task is next-symbol prediction: the
target at each step is the multi-hot set of *legal* next symbols, which is
deterministic given the prefix because the automaton is deterministic.

Symbols are coded one-hot in the order SYMBOLS = B, T, P, S, X, V, E.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from jaxlstm.data.rng import as_generator, check_positive_int

SYMBOLS = ("B", "T", "P", "S", "X", "V", "E")
SYMBOL_ID = {s: i for i, s in enumerate(SYMBOLS)}

_END = 7
REBER_GRAPH = {
    0: {"B": 1},
    1: {"T": 2, "P": 3},
    2: {"S": 2, "X": 4},
    3: {"T": 3, "V": 5},
    4: {"X": 3, "S": 6},
    5: {"P": 4, "V": 6},
    6: {"E": _END},
    _END: {},
}

# Embedded-grammar states are tuples (phase, inner_state, branch):
#   ("open", 0, "")      expects B
#   ("branch", 0, "")    expects T or P
#   ("inner", s, b)      inside the inner Reber string, at Reber state s; b = T or P
#   ("close", 0, b)      expects the branch symbol b again
#   ("last", 0, b)       expects E
#   ("done", 0, b)       complete string
_START = ("open", 0, "")


def _legal(state, embedded: bool) -> dict:
    """{symbol: next_state} of the automaton at `state`."""
    if not embedded:
        return {s: nxt for s, nxt in REBER_GRAPH[state].items()}
    phase, inner, branch = state
    if phase == "open":
        return {"B": ("branch", 0, "")}
    if phase == "branch":
        return {b: ("inner", 0, b) for b in ("T", "P")}
    if phase == "inner":
        return {
            s: (("close", 0, branch) if nxt == _END else ("inner", nxt, branch))
            for s, nxt in REBER_GRAPH[inner].items()
        }
    if phase == "close":
        return {branch: ("last", 0, branch)}
    if phase == "last":
        return {"E": ("done", 0, branch)}
    return {}


def _start(embedded: bool):
    return _START if embedded else 0


def _is_done(state, embedded: bool) -> bool:
    return state[0] == "done" if embedded else state == _END


def reber_string(rng, *, embedded: bool = False) -> str:
    """One random (embedded) Reber string; every branch point is a fair coin flip."""
    rng = as_generator(rng)
    state, out = _start(embedded), []
    while not _is_done(state, embedded):
        options = _legal(state, embedded)
        symbols = sorted(options, key=SYMBOL_ID.get)
        symbol = symbols[int(rng.integers(0, len(symbols)))] if len(symbols) > 1 else symbols[0]
        out.append(symbol)
        state = options[symbol]
    return "".join(out)


def legal_next(string: str, *, embedded: bool = False, continual: bool = False) -> list[frozenset]:
    """Legal next symbols after each prefix: result[i] is the set allowed after string[:i+1].

    With `continual`, `string` is a stream of concatenated strings and may end
    anywhere; after a complete string the only legal next symbol is "B".
    Without it, the set after the final symbol of a complete string is empty.

    Raises ValueError naming the position and the allowed symbols at the first
    symbol the grammar does not allow.
    """
    state, out = _start(embedded), []
    for i, symbol in enumerate(string):
        if continual and _is_done(state, embedded):
            state = _start(embedded)
        options = _legal(state, embedded)
        if symbol not in options:
            grammar = "embedded Reber" if embedded else "Reber"
            raise ValueError(
                f"symbol {symbol!r} at position {i} is not allowed by the {grammar} grammar after "
                f"{string[:i]!r}; expected one of {sorted(options, key=SYMBOL_ID.get)}"
            )
        state = options[symbol]
        after = _start(embedded) if continual and _is_done(state, embedded) else state
        out.append(frozenset(_legal(after, embedded)))
    return out


def is_valid(string: str, *, embedded: bool = False) -> bool:
    """True iff `string` is one complete (embedded) Reber string."""
    state = _start(embedded)
    for symbol in string:
        options = _legal(state, embedded)
        if symbol not in options:
            return False
        state = options[symbol]
    return _is_done(state, embedded)


def one_hot(string: str) -> np.ndarray:
    """(len(string), 7) float32 one-hot coding over SYMBOLS."""
    out = np.zeros((len(string), len(SYMBOLS)), dtype=np.float32)
    for i, s in enumerate(string):
        if s not in SYMBOL_ID:
            raise ValueError(f"symbol {s!r} at position {i} is not one of {SYMBOLS}")
        out[i, SYMBOL_ID[s]] = 1.0
    return out


def multi_hot(sets) -> np.ndarray:
    """(len(sets), 7) float32, row i has 1.0 at the symbols of sets[i]."""
    out = np.zeros((len(sets), len(SYMBOLS)), dtype=np.float32)
    for i, symbols in enumerate(sets):
        for s in symbols:
            out[i, SYMBOL_ID[s]] = 1.0
    return out


class ReberData(NamedTuple):
    """Separate strings for next-symbol prediction (every symbol but the last is an input).

    xs: (N, L, 7) float32 one-hot inputs, L = longest string length - 1; zero after lengths.
    targets: (N, L, 7) float32 multi-hot legal next symbols; zero after lengths.
    lengths: (N,) int32, len(string) - 1.
    strings: tuple of the N generated strings.
    """

    xs: np.ndarray
    targets: np.ndarray
    lengths: np.ndarray
    strings: tuple


def reber_dataset(n: int, rng, *, embedded: bool = True) -> ReberData:
    """`n` independent (embedded) Reber strings as padded next-symbol prediction data."""
    n = check_positive_int("n", n)
    rng = as_generator(rng)
    strings = tuple(reber_string(rng, embedded=embedded) for _ in range(n))
    width = max(len(s) for s in strings) - 1
    xs = np.zeros((n, width, len(SYMBOLS)), dtype=np.float32)
    targets = np.zeros_like(xs)
    lengths = np.zeros(n, dtype=np.int32)
    for i, s in enumerate(strings):
        k = len(s) - 1
        xs[i, :k] = one_hot(s[:-1])
        targets[i, :k] = multi_hot(legal_next(s[:-1], embedded=embedded))
        lengths[i] = k
    return ReberData(xs, targets, lengths, strings)


class ContinualReberData(NamedTuple):
    """N continual embedded-Reber streams of T steps each (no resets, no separators).

    xs: (N, T, 7) float32 one-hot inputs.
    targets: (N, T, 7) float32 multi-hot legal next symbols after each input.
    next_ids: (N, T) int32 id of the symbol that actually follows (for cross-entropy).
    """

    xs: np.ndarray
    targets: np.ndarray
    next_ids: np.ndarray


def continual_stream(length: int, rng) -> str:
    """A stream of `length` + 1 symbols: concatenated embedded Reber strings, cut off."""
    length = check_positive_int("length", length)
    rng = as_generator(rng)
    parts, total = [], 0
    while total < length + 1:
        s = reber_string(rng, embedded=True)
        parts.append(s)
        total += len(s)
    return "".join(parts)[: length + 1]


def continual_reber(n: int, length: int, rng) -> ContinualReberData:
    """`n` continual embedded-Reber streams of `length` steps, each starting at a string's B."""
    n = check_positive_int("n", n)
    length = check_positive_int("length", length)
    rng = as_generator(rng)
    xs = np.zeros((n, length, len(SYMBOLS)), dtype=np.float32)
    targets = np.zeros_like(xs)
    next_ids = np.zeros((n, length), dtype=np.int32)
    for i in range(n):
        stream = continual_stream(length, rng)
        xs[i] = one_hot(stream[:-1])
        targets[i] = multi_hot(legal_next(stream[:-1], embedded=True, continual=True))
        next_ids[i] = [SYMBOL_ID[s] for s in stream[1:]]
    return ContinualReberData(xs, targets, next_ids)


def threshold_correct(outputs, legal, threshold: float = 0.5) -> np.ndarray:
    """(...,) bool: the units above `threshold` are exactly the legal next symbols.

    outputs: (..., 7) activations (e.g. sigmoids); legal: (..., 7) multi-hot targets.
    """
    outputs, legal = np.asarray(outputs), np.asarray(legal) > 0.5
    return np.all((outputs > threshold) == legal, axis=-1)


def topk_correct(scores, legal) -> np.ndarray:
    """(...,) bool: the k highest scores belong to the k legal symbols (k = number legal).

    Equivalently every legal symbol scores strictly higher than every illegal one,
    so ties across the boundary count as wrong. Steps with no legal symbol
    (padding) are True; mask them with the lengths.
    """
    scores, legal = np.asarray(scores, dtype=np.float64), np.asarray(legal) > 0.5
    lowest_legal = np.where(legal, scores, np.inf).min(axis=-1)
    highest_illegal = np.where(legal, -np.inf, scores).max(axis=-1)
    return lowest_legal > highest_illegal


def top1_legal(scores, legal) -> np.ndarray:
    """(...,) bool: the single highest-scoring symbol is a legal next symbol."""
    scores, legal = np.asarray(scores), np.asarray(legal) > 0.5
    best = np.argmax(scores, axis=-1)
    return np.take_along_axis(legal, best[..., None], axis=-1)[..., 0]


def sequence_correct(step_correct, lengths) -> np.ndarray:
    """(N,) bool: every step t < lengths[i] of step_correct (N, T) is True."""
    step_correct = np.asarray(step_correct, dtype=bool)
    lengths = np.asarray(lengths)
    valid = np.arange(step_correct.shape[1])[None, :] < lengths[:, None]
    return np.all(step_correct | ~valid, axis=1)
