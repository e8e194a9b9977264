"""Linear-chain CRF for BiLSTM-CRF sequence tagging (Lample et al., 2016).

One sequence of T steps over K tags is scored by

  emissions   E (T, K)  per-step tag scores from the encoder (e.g. a BiLSTM + Linear),
  transitions A (K, K)  A[i, j] scores tag i followed by tag j,
  start       s (K,)    score of a path starting in each tag,
  end         e (K,)    score of a path ending in each tag.

Only the first L = `length` steps are real; steps t >= L are padding and are
ignored whatever they hold (emissions, tags). A tag path y_0 .. y_{L-1} scores

  score(y) = s[y_0] + sum_{t<L} E[t, y_t] + sum_{0<t<L} A[y_{t-1}, y_t] + e[y_{L-1}]

and p(y | E) = exp(score(y)) / Z with Z = sum over all K^L paths of exp(score(y)).

Length 0: the only path is the empty one, with score 0 (no start or end term),
so log Z = 0, the log-likelihood is 0 (with zero gradient), and Viterbi returns
all-zero tags with best score 0. Length T (no padding) needs nothing special.

The pure functions take one sequence; batch them with `jax.vmap` (the `CRF`
module does). Shapes are checked at trace time; `length` is range-checked only
when it is concrete.
"""

from __future__ import annotations

from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxlstm.core.validation import check_float, check_lengths, check_rank

__all__ = [
    "crf_sequence_score", "crf_log_partition", "crf_log_likelihood", "crf_marginals",
    "crf_viterbi", "allowed_transitions", "allowed_start", "allowed_end", "constraint_bias",
    "CRF",
]


# ----------------------------------------------------------------------------- checks


def _check_shape(name: str, x, expected: tuple, layout: str) -> None:
    """`x` must have shape `expected`, described symbolically by `layout` (e.g. "(K, K)")."""
    if tuple(jnp.shape(x)) != tuple(expected):
        raise ValueError(
            f"{name} must have shape {layout} = {tuple(expected)}, got shape {jnp.shape(x)}"
        )


def _check_int(name: str, x) -> None:
    dtype = jnp.result_type(x)
    if not jnp.issubdtype(dtype, jnp.integer):
        raise TypeError(f"{name} must be an integer array, got dtype {dtype}")


def _check_length(length, num_steps: int) -> None:
    """`length` must be an integer scalar, in [0, T] when concrete."""
    _check_int("length", length)
    if jnp.ndim(length) != 0:
        raise ValueError(
            f"length must have shape () (one sequence; use jax.vmap for a batch), "
            f"got shape {jnp.shape(length)}"
        )
    if isinstance(length, jax.core.Tracer):
        return
    value = int(np.asarray(length))
    if not 0 <= value <= num_steps:
        raise ValueError(f"length must lie in [0, T={num_steps}], got {value}")


def _check_crf(emissions, length, transitions, start, end, tags=None) -> tuple[int, int]:
    """Check one sequence's CRF arguments; returns (T, K)."""
    check_float("emissions", emissions)
    check_rank("emissions", emissions, 2, "(T, K)")
    num_steps, num_tags = emissions.shape
    if num_steps == 0:
        raise ValueError(f"emissions must have at least one step, got shape {emissions.shape}")
    for name, x in (("transitions", transitions), ("start", start), ("end", end)):
        check_float(name, x)
    _check_shape("transitions", transitions, (num_tags, num_tags), "(K, K)")
    _check_shape("start", start, (num_tags,), "(K,)")
    _check_shape("end", end, (num_tags,), "(K,)")
    if tags is not None:
        _check_int("tags", tags)
        _check_shape("tags", tags, (num_steps,), "(T,)")
    _check_length(length, num_steps)
    return num_steps, num_tags


# ----------------------------------------------------------------------------- pure functions


def crf_sequence_score(emissions: jax.Array, tags: jax.Array, length, transitions: jax.Array,
                       start: jax.Array, end: jax.Array) -> jax.Array:
    """Unnormalised score of one tag path -> scalar.

    emissions (T, K), tags (T,) int, length () int, transitions (K, K), start (K,), end (K,):

      score(y) = s[y_0] + sum_{t<L} E[t, y_t] + sum_{0<t<L} A[y_{t-1}, y_t] + e[y_{L-1}]

    Tags at valid steps must lie in [0, K); tags at padded steps (t >= L) may be
    anything (e.g. -1). L = 0 gives 0.
    """
    num_steps, _ = _check_crf(emissions, length, transitions, start, end, tags)
    valid = jnp.arange(num_steps) < length
    tags = jnp.where(valid, tags, 0)
    emit = jnp.take_along_axis(emissions, tags[:, None], axis=1)[:, 0]
    emit = jnp.sum(jnp.where(valid, emit, 0))
    trans = jnp.sum(jnp.where(valid[1:], transitions[tags[:-1], tags[1:]], 0))
    last = tags[jnp.clip(length - 1, 0, num_steps - 1)]
    boundary = jnp.where(length > 0, start[tags[0]] + end[last], 0)
    return emit + trans + boundary


def crf_log_partition(emissions: jax.Array, length, transitions: jax.Array,
                      start: jax.Array, end: jax.Array) -> jax.Array:
    """log Z by the forward algorithm -> scalar.

    emissions (T, K), length () int, transitions (K, K), start (K,), end (K,):

      alpha_0[j] = s[j] + E[0, j]
      alpha_t[j] = logsumexp_i(alpha_{t-1}[i] + A[i, j]) + E[t, j]    for 0 < t < L
      log Z      = logsumexp_j(alpha_{L-1}[j] + e[j])

    in `lax.scan`; padded steps carry alpha unchanged. L = 0 gives log Z = 0.
    """
    num_steps, _ = _check_crf(emissions, length, transitions, start, end)
    valid = jnp.arange(num_steps) < length

    def step(alpha, xs):
        emit_t, valid_t = xs
        nxt = jax.nn.logsumexp(alpha[:, None] + transitions, axis=0) + emit_t
        return jnp.where(valid_t, nxt, alpha), None

    alpha, _ = jax.lax.scan(step, start + emissions[0], (emissions[1:], valid[1:]))
    return jnp.where(length > 0, jax.nn.logsumexp(alpha + end), 0)


def crf_log_likelihood(emissions: jax.Array, tags: jax.Array, length, transitions: jax.Array,
                       start: jax.Array, end: jax.Array) -> jax.Array:
    """log p(tags | emissions) = score(tags) - log Z -> scalar (<= 0; 0 when L = 0).

    Shapes as in `crf_sequence_score`. Maximise it (or minimise its negative) to train.
    """
    return (crf_sequence_score(emissions, tags, length, transitions, start, end)
            - crf_log_partition(emissions, length, transitions, start, end))


def crf_marginals(emissions: jax.Array, length, transitions: jax.Array,
                  start: jax.Array, end: jax.Array) -> jax.Array:
    """Per-step tag marginals p(y_t = k | E) = d log Z / d E[t, k] -> (T, K).

    Rows sum to 1 at valid steps and are 0 at padded steps (all rows 0 when L = 0).
    """
    return jax.grad(crf_log_partition)(emissions, length, transitions, start, end)


def crf_viterbi(emissions: jax.Array, length, transitions: jax.Array,
                start: jax.Array, end: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Best tag path by Viterbi -> (tags (T,) int32, best_score ()).

    emissions (T, K), length () int, transitions (K, K), start (K,), end (K,):

      delta_0[j]  = s[j] + E[0, j]
      delta_t[j]  = max_i(delta_{t-1}[i] + A[i, j]) + E[t, j],  bp_t[j] = argmax_i(...)
      y_{L-1}     = argmax_j(delta_{L-1}[j] + e[j]),  best_score = max_j(...)
      y_{t-1}     = bp_t[y_t]

    Forward pass in `lax.scan`; padded steps keep delta and get identity back-pointers,
    so the backtrace (a reverse `lax.scan`) passes through them unchanged. Padded
    positions are set to 0. best_score == crf_sequence_score(tags) (0 when L = 0).
    Ties go to the lowest tag index.
    """
    num_steps, num_tags = _check_crf(emissions, length, transitions, start, end)
    valid = jnp.arange(num_steps) < length
    identity = jnp.arange(num_tags)

    def forward(delta, xs):
        emit_t, valid_t = xs
        candidates = delta[:, None] + transitions  # (K previous, K next)
        nxt = jnp.max(candidates, axis=0) + emit_t
        pointer = jnp.where(valid_t, jnp.argmax(candidates, axis=0), identity)
        return jnp.where(valid_t, nxt, delta), pointer

    delta, pointers = jax.lax.scan(forward, start + emissions[0], (emissions[1:], valid[1:]))
    final = delta + end
    last_tag = jnp.argmax(final).astype(identity.dtype)

    def backward(tag, pointer):
        return pointer[tag], tag  # carry y_{t-1}, emit y_t

    first_tag, later = jax.lax.scan(backward, last_tag, pointers, reverse=True)
    tags = jnp.concatenate([first_tag[None], later])
    tags = jnp.where(valid, tags, 0).astype(jnp.int32)
    return tags, jnp.where(length > 0, jnp.max(final), 0)


# ----------------------------------------------------------------- tag-scheme constraints

_SCHEMES = {"BIO": "BIO", "IOB2": "BIO", "IOBES": "IOBES", "BIOES": "IOBES"}


def _parse_tags(tag_names: Sequence[str], scheme: str) -> tuple[str, list]:
    if scheme not in _SCHEMES:
        raise ValueError(f"scheme must be one of {sorted(_SCHEMES)}, got {scheme!r}")
    scheme = _SCHEMES[scheme]
    prefixes = set(scheme) - {"O"}
    parsed = []
    for name in tag_names:
        if name == "O":
            parsed.append(("O", None))
            continue
        prefix, sep, label = name.partition("-")
        if not sep or prefix not in prefixes or not label:
            raise ValueError(
                f"tag_names must be 'O' or '<P>-<type>' with P in {sorted(prefixes)} for "
                f"scheme {scheme!r}, got {name!r}"
            )
        parsed.append((prefix, label))
    return scheme, parsed


def _legal(scheme: str, prev: tuple, nxt: tuple) -> bool:
    (p, p_label), (n, n_label) = prev, nxt
    if scheme == "BIO":
        return n != "I" or (p in "BI" and p_label == n_label)
    # IOBES: inside a chunk (after B or I) only I/E of the same type may follow;
    # outside (after O, E, S) only O, B or S may follow.
    if p in ("B", "I"):
        return n in ("I", "E") and p_label == n_label
    return n in ("O", "B", "S")


def allowed_transitions(tag_names: Sequence[str], scheme: str = "BIO") -> np.ndarray:
    """(K, K) bool mask: mask[i, j] is True when tag j may follow tag i in `scheme`.

    BIO (IOB2): I-X only after B-X or I-X; everything else is legal.
    IOBES: after B-X or I-X only I-X or E-X; after O, E-* or S-* only O, B-* or S-*.
    Tag names are "O" or "<prefix>-<type>" (e.g. "B-PER"). Turn the mask into an
    additive score with `constraint_bias` (0 where legal, -1e4 where not) and add it
    to the transitions (the `CRF` module does this when given `allowed=`); Viterbi
    then never outputs an illegal transition unless no legal path exists.
    """
    scheme, parsed = _parse_tags(tag_names, scheme)
    return np.array([[_legal(scheme, p, n) for n in parsed] for p in parsed], dtype=bool)


def allowed_start(tag_names: Sequence[str], scheme: str = "BIO") -> np.ndarray:
    """(K,) bool mask of the tags a sequence may start with (BIO: not I-*; IOBES: O, B-*, S-*)."""
    scheme, parsed = _parse_tags(tag_names, scheme)
    return np.array([_legal(scheme, ("O", None), t) for t in parsed], dtype=bool)


def allowed_end(tag_names: Sequence[str], scheme: str = "BIO") -> np.ndarray:
    """(K,) bool mask of the tags a sequence may end with (BIO: all; IOBES: O, E-*, S-*)."""
    scheme, parsed = _parse_tags(tag_names, scheme)
    if scheme == "BIO":
        return np.ones(len(parsed), dtype=bool)
    return np.array([p in ("O", "E", "S") for p, _ in parsed], dtype=bool)


def constraint_bias(allowed, penalty: float = -1e4, dtype=jnp.float32) -> jax.Array:
    """Additive score for a mask: 0 where `allowed`, `penalty` (default -1e4) where not.

    A large finite penalty rather than -inf keeps log Z and its gradients finite
    (no inf - inf) even for a training tag path that breaks the constraint.
    """
    return jnp.where(jnp.asarray(allowed, dtype=bool), 0.0, penalty).astype(dtype)


# ----------------------------------------------------------------------------- NNX module


class CRFConstraint(nnx.Variable):
    """A fixed additive score (from `constraint_bias`); not an `nnx.Param`, so not trained."""


class CRF(nnx.Module):
    """Linear-chain CRF layer on (B, T, K) emissions; the pure functions under `jax.vmap`.

    Args:
      num_tags: K.
      rngs: `nnx.Rngs` with a `params` stream.
      init_scale: transitions, start and end start as uniform(-init_scale, init_scale)
        (0.0: zeros).
      allowed / allowed_start / allowed_end: optional bool masks (K, K) / (K,) / (K,)
        (see `allowed_transitions`); illegal entries get `penalty` added to the score.
      penalty: the score of an illegal transition (default -1e4).

    The effective scores are `self.scores()`: the trained `nnx.Param`s plus the fixed
    `CRFConstraint` biases. `lengths` default to T (no padding).
    """

    def __init__(self, num_tags: int, *, rngs: nnx.Rngs, init_scale: float = 0.1,
                 allowed=None, allowed_start=None, allowed_end=None, penalty: float = -1e4,
                 dtype=jnp.float32):
        if not isinstance(num_tags, (int, np.integer)) or num_tags < 1:
            raise ValueError(f"num_tags must be a positive int, got {num_tags!r}")
        self.num_tags = int(num_tags)
        k_trans, k_start, k_end = jax.random.split(rngs.params(), 3)

        def uniform(key, shape):
            return jax.random.uniform(key, shape, dtype, -init_scale, init_scale)

        self.transitions = nnx.Param(uniform(k_trans, (num_tags, num_tags)))
        self.start = nnx.Param(uniform(k_start, (num_tags,)))
        self.end = nnx.Param(uniform(k_end, (num_tags,)))

        def bias(name, mask, shape, layout):
            if mask is None:
                return CRFConstraint(jnp.zeros(shape, dtype))
            _check_shape(name, mask, shape, layout)
            return CRFConstraint(constraint_bias(mask, penalty, dtype))

        self.transition_bias = bias("allowed", allowed, (num_tags, num_tags), "(K, K)")
        self.start_bias = bias("allowed_start", allowed_start, (num_tags,), "(K,)")
        self.end_bias = bias("allowed_end", allowed_end, (num_tags,), "(K,)")

    @classmethod
    def for_tags(cls, tag_names: Sequence[str], scheme: str = "BIO", *, rngs: nnx.Rngs,
                 **kwargs) -> "CRF":
        """A CRF over `tag_names`, constrained to the legal transitions of `scheme`."""
        return cls(len(tag_names), rngs=rngs,
                   allowed=allowed_transitions(tag_names, scheme),
                   allowed_start=allowed_start(tag_names, scheme),
                   allowed_end=allowed_end(tag_names, scheme), **kwargs)

    def scores(self) -> tuple[jax.Array, jax.Array, jax.Array]:
        """(transitions (K, K), start (K,), end (K,)) with the constraint biases added."""
        return (self.transitions[...] + self.transition_bias[...],
                self.start[...] + self.start_bias[...],
                self.end[...] + self.end_bias[...])

    def _batch(self, emissions, lengths, tags=None):
        check_float("emissions", emissions)
        check_rank("emissions", emissions, 3, "(B, T, K)")
        batch, num_steps, num_tags = emissions.shape
        if num_tags != self.num_tags:
            raise ValueError(f"emissions must have shape (B, T, K) with K=num_tags="
                             f"{self.num_tags}, got shape {emissions.shape}")
        if tags is not None:
            _check_int("tags", tags)
            _check_shape("tags", tags, (batch, num_steps), "(B, T)")
        if lengths is None:
            return jnp.full((batch,), num_steps, jnp.int32)
        check_lengths(lengths, num_steps, (batch,))
        return lengths

    def log_likelihood(self, emissions: jax.Array, tags: jax.Array,
                       lengths: Optional[jax.Array] = None) -> jax.Array:
        """(emissions (B, T, K), tags (B, T) int, lengths (B,)) -> log p(tags | emissions) (B,)."""
        lengths = self._batch(emissions, lengths, tags)
        fn = jax.vmap(crf_log_likelihood, in_axes=(0, 0, 0, None, None, None))
        return fn(emissions, tags, lengths, *self.scores())

    def log_partition(self, emissions: jax.Array, lengths: Optional[jax.Array] = None):
        """(emissions (B, T, K), lengths (B,)) -> log Z (B,)."""
        lengths = self._batch(emissions, lengths)
        fn = jax.vmap(crf_log_partition, in_axes=(0, 0, None, None, None))
        return fn(emissions, lengths, *self.scores())

    def marginals(self, emissions: jax.Array, lengths: Optional[jax.Array] = None):
        """(emissions (B, T, K), lengths (B,)) -> p(y_t = k | emissions) (B, T, K)."""
        lengths = self._batch(emissions, lengths)
        fn = jax.vmap(crf_marginals, in_axes=(0, 0, None, None, None))
        return fn(emissions, lengths, *self.scores())

    def decode(self, emissions: jax.Array, lengths: Optional[jax.Array] = None):
        """(emissions (B, T, K), lengths (B,)) -> (Viterbi tags (B, T) int32, scores (B,)).

        Padded positions hold 0.
        """
        lengths = self._batch(emissions, lengths)
        fn = jax.vmap(crf_viterbi, in_axes=(0, 0, None, None, None))
        return fn(emissions, lengths, *self.scores())
