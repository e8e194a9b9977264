"""BiLSTM-CRF sequence tagger (Huang et al. 2015; Lample et al. 2016) — seed 003's NER/POS.

tokens (B, T) -> Embed -> bidirectional LSTM -> Linear -> emissions (B, T, K) -> CRF.
Training maximises the CRF log-likelihood of the gold tags; decoding is Viterbi.
"""

from __future__ import annotations

from typing import Optional, Sequence

import jax
from flax import nnx

from jaxlstm.nn.crf import CRF
from jaxlstm.nn.encoder import make_encoder
from jaxlstm.nn.recurrent import UNSET, dropout_kwargs


class BiLSTMCRF(nnx.Module):
    """Tagger over token ids.

    Args:
      vocab_size, num_tags: sizes. tag_names: optional tag strings; with them the CRF is
        constrained to the transitions legal in `scheme` ("BIO", "IOBES", ...).
      use_crf: False gives a per-token softmax tagger (the ablation without a CRF).
      **encoder_kwargs: the encoder's options, as for `jaxlstm.nn.make_encoder`
        (`bidirectional` defaults to True).
    """

    def __init__(self, vocab_size: int, num_tags: int, *, embed_dim: int = 64,
                 hidden_size: int = 64, cell: str = "lstm", tag_names: Optional[Sequence[str]] = None,
                 scheme: str = "BIO", use_crf: bool = True, rngs: nnx.Rngs, **encoder_kwargs):
        encoder_kwargs.setdefault("bidirectional", True)
        self.embed = nnx.Embed(vocab_size, embed_dim, rngs=rngs)
        self.encoder = make_encoder(cell, embed_dim, hidden_size, rngs=rngs, **encoder_kwargs)
        self.head = nnx.Linear(self.encoder.out_features, num_tags, rngs=rngs)
        if not use_crf:
            self.crf = None
        elif tag_names is not None:
            self.crf = CRF.for_tags(tag_names, scheme, rngs=rngs)
        else:
            self.crf = CRF(num_tags, rngs=rngs)

    def emissions(self, tokens: jax.Array, lengths=None, key=UNSET, *, rngs=None,
                  deterministic=None) -> jax.Array:
        """(B, T) ids -> (B, T, K) per-token tag scores. Dropout arguments as in
        `jaxlstm.nn.LSTM` (`key` is deprecated)."""
        _, hs = self.encoder(self.embed(tokens), lengths=lengths,
                             **dropout_kwargs(rngs, deterministic, key))
        return self.head(hs)

    def log_likelihood(self, tokens, tags, lengths=None, key=UNSET, *, rngs=None,
                       deterministic=None) -> jax.Array:
        """log p(tags | tokens) per sentence (B,); with no CRF, the sum of token log-softmaxes."""
        em = self.emissions(tokens, lengths, key, rngs=rngs, deterministic=deterministic)
        if self.crf is not None:
            return self.crf.log_likelihood(em, tags, lengths)
        import jax.numpy as jnp

        logp = jnp.take_along_axis(jax.nn.log_softmax(em), tags[..., None], -1)[..., 0]
        if lengths is not None:
            logp = jnp.where(jnp.arange(tags.shape[1])[None] < lengths[:, None], logp, 0.0)
        return logp.sum(-1)

    def decode(self, tokens, lengths=None) -> jax.Array:
        """Best tag sequences (B, T) (Viterbi with a CRF, per-token argmax without)."""
        em = self.emissions(tokens, lengths, deterministic=True)
        if self.crf is not None:
            return self.crf.decode(em, lengths)[0]
        return em.argmax(-1)
