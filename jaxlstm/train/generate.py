"""Sampling text from a trained language model, one character at a time."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx


def sample_text(model: nnx.Module, vocab, prompt: str, length: int, *, temperature: float = 1.0,
                seed: int = 0) -> str:
    """Continue `prompt` by `length` characters sampled at `temperature` (0: greedy).

    The prompt is read once to build the LSTM state; each new character is fed back
    with the carried state, so generation costs one step per character.
    """
    if not prompt:
        raise ValueError("prompt must contain at least one character")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    graphdef, state = nnx.split(model)

    @jax.jit
    def run(state, tokens, carry):
        logits, carry = nnx.merge(graphdef, state)(tokens, initial_state=carry, deterministic=True)
        return logits[:, -1], carry

    ids = vocab.encode(prompt)
    logits, carry = run(state, jnp.asarray(ids)[None], None)
    key = jax.random.key(seed)
    out = []
    for _ in range(length):
        key, sub = jax.random.split(key)
        if temperature == 0:
            nxt = jnp.argmax(logits, -1)
        else:
            nxt = jax.random.categorical(sub, logits / temperature, axis=-1)
        out.append(int(nxt[0]))
        logits, carry = run(state, nxt[:, None].astype(jnp.int32), carry)
    return prompt + vocab.decode(np.array(out, np.int32))
