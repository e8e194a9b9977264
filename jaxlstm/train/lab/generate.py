"""Sampling text from a trained language model, one character at a time."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx


def check_sample_args(prompt: str, length, temperature, seed) -> None:
    """ValueError naming the first of `sample_text`'s arguments that is out of range (the
    `generate` command runs it before it loads the model)."""
    if not prompt:
        raise ValueError("prompt must contain at least one character")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.number)) \
            or not math.isfinite(temperature) or temperature < 0:
        raise ValueError(f"temperature must be a finite number >= 0, got {temperature!r}")
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 0:
        raise ValueError(f"length must be an int >= 0, got {length!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63:
        raise ValueError(f"seed must be an int in [0, 2**63 - 1], got {seed!r}")


def sample_text(model: nnx.Module, vocab, prompt: str, length: int, *, temperature: float = 1.0,
                seed: int = 0) -> str:
    """Continue `prompt` by `length` characters sampled at `temperature` (0: greedy).

    The prompt is read once to build the LSTM state; each new character is fed back
    with the carried state, so generation costs one step per character.
    """
    check_sample_args(prompt, length, temperature, seed)
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
