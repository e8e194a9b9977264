"""Tiny token models for the modern-cell reproductions: one-hot tokens -> one recurrent
layer (any cell family, or the classic LSTM) -> linear readout at every step, trained with
Adam. Shared by experiments/state_tracking.py and experiments/mqar.py.
"""

from __future__ import annotations

import functools
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxlstm as J
from jaxlstm.core.family import get_family

CELLS = ("lstm", "slstm", "mlstm", "minlstm", "mingru")


def _spec(cell: str, num_heads: int):
    if cell == "lstm":
        return J.CellSpec()
    spec_type = get_family(cell).spec_type
    return spec_type(num_heads=num_heads) if cell in ("slstm", "mlstm") else spec_type()


def param_count(cell: str, vocab: int, hidden: int, out: int, num_heads: int = 1,
                shift: bool = False) -> int:
    """Parameters of `make(...)`: the recurrent layer plus the readout (H·out + out)."""
    spec = _spec(cell, num_heads)
    vocab = 2 * vocab if shift else vocab
    core = (J.param_count(spec, vocab, hidden) if cell == "lstm"
            else get_family(cell).param_count(spec, vocab, hidden))
    return core + hidden * out + out


def hidden_for(cell: str, budget: int, vocab: int, out: int, num_heads: int = 1,
               shift: bool = False) -> int:
    """The largest H (a multiple of num_heads) whose model has at most `budget` parameters."""
    best = num_heads
    for h in range(num_heads, 4096, num_heads):
        if param_count(cell, vocab, h, out, num_heads, shift) > budget:
            break
        best = h
    return best


def make(cell: str, vocab: int, hidden: int, out: int, *, num_heads: int = 1, seed: int = 0,
         shift: bool = False):
    """(params, apply) with apply(params, tokens (B, T) int) -> logits (B, T, out).

    `shift`: the cell reads [one_hot(x_{t-1}), one_hot(x_t)] (the token shift that the
    xLSTM blocks' causal convolution provides), so one step sees a key and its value.
    """
    spec = _spec(cell, num_heads)
    width = 2 * vocab if shift else vocab
    k_cell, k_out = jax.random.split(jax.random.key(seed))
    if cell == "lstm":
        core = J.init_lstm(k_cell, width, hidden, spec)
        layer = functools.partial(J.lstm, spec=spec)
    else:
        family = get_family(cell)
        core = family.init(k_cell, width, hidden, spec)
        layer = functools.partial(family.layer, spec=spec)
    params = {"core": core,
              "w": jax.nn.initializers.glorot_uniform()(k_out, (hidden, out)),
              "b": jnp.zeros((out,))}

    def apply(params, tokens):
        xs = jax.nn.one_hot(tokens, vocab)
        if shift:
            xs = jnp.concatenate([jnp.pad(xs, ((0, 0), (1, 0), (0, 0)))[:, :-1], xs], -1)
        _, hs = jax.vmap(lambda x: layer(params["core"], x))(xs)
        return hs @ params["w"] + params["b"]

    return params, apply


def train(apply, params, batches, steps: int, lr: float = 3e-3, log_every: int = 0):
    """Adam with gradient clipping 1.0 on the masked cross entropy of `batches(step)` ->
    (tokens, targets, mask) (each (B, T)). Returns (params, seconds per step)."""
    opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(lr))
    state = opt.init(params)

    def loss_fn(params, tokens, targets, mask):
        logp = jax.nn.log_softmax(apply(params, tokens))
        nll = -jnp.take_along_axis(logp, targets[..., None], -1)[..., 0]
        return (nll * mask).sum() / mask.sum()

    @jax.jit
    def step(params, state, tokens, targets, mask):
        loss, grads = jax.value_and_grad(loss_fn)(params, tokens, targets, mask)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    start = None
    for k in range(steps):
        params, state, loss = step(params, state, *batches(k))
        if k == 0:
            jax.block_until_ready(loss)
            start = time.perf_counter()
        if log_every and k % log_every == 0:
            print(f"  step {k} loss {float(loss):.4f}", flush=True)
    jax.block_until_ready(params)
    per_step = (time.perf_counter() - start) / max(steps - 1, 1)
    return params, per_step


def accuracy(apply, params, tokens, targets, mask) -> float:
    """Accuracy of the argmax prediction over the masked positions."""
    pred = np.asarray(jax.jit(apply)(params, tokens).argmax(-1))
    mask = np.asarray(mask)
    return float(((pred == np.asarray(targets)) * mask).sum() / mask.sum())
