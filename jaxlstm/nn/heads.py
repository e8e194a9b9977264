"""Task models: an embedding or input, a recurrent encoder, and a task head.

Every model takes the encoder's options as keyword arguments (`cell`, `hidden_size`,
`num_layers`, `bidirectional`, `dropout`, `proj_size`, `spec`, `unroll`, `remat`,
`compute_dtype`). Dropout follows NNX: `model.train()` / `model.eval()` switch it, masks
come from the `dropout` stream of the constructor's `nnx.Rngs` or from `rngs=` (a key)
at call time, and `deterministic=True` turns it off for one call; the older `key=`
argument still works and warns (see `jaxlstm.nn.recurrent`).
With a `compute_dtype` only the encoder's matmuls run in it: the embedding and the
head keep float32 parameters and compute, so the outputs (and the loss) are float32.
"""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp
from flax import nnx

from jaxlstm.nn.encoder import make_encoder
from jaxlstm.nn.recurrent import UNSET, dropout_kwargs


def last_valid(hs: jax.Array, lengths: Optional[jax.Array], bidirectional: bool) -> jax.Array:
    """Summary of (B, T, D·R) outputs: the forward half at each sequence's last valid step,
    and (bidirectional) the backward half at step 0, which has read the whole sequence."""
    batch, steps, features = hs.shape
    last = (jnp.full((batch,), steps) if lengths is None else lengths) - 1
    last = jnp.clip(last, 0, steps - 1)
    at_last = hs[jnp.arange(batch), last]
    if not bidirectional:
        return at_last
    half = features // 2
    return jnp.concatenate([at_last[:, :half], hs[:, 0, half:]], axis=-1)


def masked_mean(hs: jax.Array, lengths: Optional[jax.Array]) -> jax.Array:
    """Mean of (B, T, F) over each sequence's valid steps -> (B, F)."""
    if lengths is None:
        return hs.mean(axis=1)
    mask = jnp.arange(hs.shape[1])[None, :] < lengths[:, None]
    return (hs * mask[..., None]).sum(1) / jnp.maximum(lengths, 1)[:, None]


class LanguageModel(nnx.Module):
    """Token/character language model: Embed -> recurrent stack -> Linear(vocab).

    `__call__(tokens (B, T) int, ...) -> (logits (B, T, V), final_state)`; pass the final
    state back as `initial_state` to carry it across chunks (truncated BPTT, generation).
    """

    def __init__(self, vocab_size: int, *, embed_dim: int = 64, hidden_size: int = 256,
                 cell: str = "lstm", rngs: nnx.Rngs, **encoder_kwargs):
        self.vocab_size = vocab_size
        self.embed = nnx.Embed(vocab_size, embed_dim, rngs=rngs)
        self.encoder = make_encoder(cell, embed_dim, hidden_size, rngs=rngs, **encoder_kwargs)
        self.head = nnx.Linear(self.encoder.out_features, vocab_size, rngs=rngs)

    def __call__(self, tokens, *, lengths=None, initial_state=None, rngs=None,
                 deterministic=None, key=UNSET):
        final, hs = self.encoder(self.embed(tokens), lengths=lengths, initial_state=initial_state,
                                 **dropout_kwargs(rngs, deterministic, key))
        return self.head(hs), final


class SequenceClassifier(nnx.Module):
    """Sequence -> class logits (B, C). Token ids when `vocab_size` is given, else features.

    `pooling`: "last" (the last valid step; step 0 for the backward half) or "mean".
    """

    def __init__(self, num_classes: int, *, vocab_size: Optional[int] = None,
                 in_features: Optional[int] = None, embed_dim: int = 64, hidden_size: int = 128,
                 cell: str = "lstm", pooling: str = "last", rngs: nnx.Rngs, **encoder_kwargs):
        if (vocab_size is None) == (in_features is None):
            raise ValueError("SequenceClassifier needs exactly one of vocab_size (token ids) "
                             f"or in_features (real-valued inputs); got {vocab_size=}, {in_features=}")
        if pooling not in ("last", "mean"):
            raise ValueError(f"pooling must be one of ['last', 'mean'], got {pooling!r}")
        self.pooling = pooling
        self.embed = nnx.Embed(vocab_size, embed_dim, rngs=rngs) if vocab_size else None
        width = embed_dim if vocab_size else in_features
        self.encoder = make_encoder(cell, width, hidden_size, rngs=rngs, **encoder_kwargs)
        self.head = nnx.Linear(self.encoder.out_features, num_classes, rngs=rngs)

    def features(self, inputs, *, lengths=None, rngs=None, deterministic=None, key=UNSET):
        xs = self.embed(inputs) if self.embed is not None else inputs
        _, hs = self.encoder(xs, lengths=lengths,
                             **dropout_kwargs(rngs, deterministic, key))
        if self.pooling == "mean":
            return masked_mean(hs, lengths)
        return last_valid(hs, lengths, self.encoder.bidirectional)

    def __call__(self, inputs, *, lengths=None, rngs=None, deterministic=None, key=UNSET):
        return self.head(self.features(inputs, lengths=lengths,
                                       **dropout_kwargs(rngs, deterministic, key)))


class SequenceRegressor(nnx.Module):
    """Real-valued sequence (B, T, X) -> (B, out_features) from the last valid step
    (a forecaster's horizon, the adding problem's target), or per step (B, T, out)."""

    def __init__(self, in_features: int, out_features: int = 1, *, hidden_size: int = 64,
                 cell: str = "lstm", per_step: bool = False, rngs: nnx.Rngs, **encoder_kwargs):
        self.per_step = per_step
        self.encoder = make_encoder(cell, in_features, hidden_size, rngs=rngs, **encoder_kwargs)
        self.head = nnx.Linear(self.encoder.out_features, out_features, rngs=rngs)

    def __call__(self, xs, *, lengths=None, rngs=None, deterministic=None, key=UNSET):
        _, hs = self.encoder(xs, lengths=lengths,
                             **dropout_kwargs(rngs, deterministic, key))
        if self.per_step:
            return self.head(hs)
        return self.head(last_valid(hs, lengths, self.encoder.bidirectional))


class SequenceLabeler(nnx.Module):
    """Per-step class logits (B, T, K): taggers without a CRF, and CTC acoustic models.

    Token ids when `vocab_size` is given, else real-valued features.
    """

    def __init__(self, num_labels: int, *, vocab_size: Optional[int] = None,
                 in_features: Optional[int] = None, embed_dim: int = 64, hidden_size: int = 64,
                 cell: str = "lstm", rngs: nnx.Rngs, **encoder_kwargs):
        if (vocab_size is None) == (in_features is None):
            raise ValueError("SequenceLabeler needs exactly one of vocab_size or in_features; "
                             f"got {vocab_size=}, {in_features=}")
        self.embed = nnx.Embed(vocab_size, embed_dim, rngs=rngs) if vocab_size else None
        width = embed_dim if vocab_size else in_features
        self.encoder = make_encoder(cell, width, hidden_size, rngs=rngs, **encoder_kwargs)
        self.head = nnx.Linear(self.encoder.out_features, num_labels, rngs=rngs)

    def __call__(self, inputs, *, lengths=None, rngs=None, deterministic=None, key=UNSET):
        xs = self.embed(inputs) if self.embed is not None else inputs
        _, hs = self.encoder(xs, lengths=lengths,
                             **dropout_kwargs(rngs, deterministic, key))
        return self.head(hs)
