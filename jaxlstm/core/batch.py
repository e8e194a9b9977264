"""Layers over a batch of sequences, batch-major: xs (B, T, X).

`lstm_batch` computes what `jax.vmap(lstm)` computes. For the standard cell it
runs `fused_lstm` (on the CPU in float32 with B >= 8 and no lengths, oneDNN's LSTM
primitive, `jaxlstm.core.onednn`; otherwise one scan over the whole batch with a
hand-written backward pass that computes each weight gradient as one matmul over
all B·T rows); every other variant and option runs `jax.vmap(lstm)`. `vmap_layer`
batches any layer function (`rnn`, `gru`) the same way, so `stack` takes either kind.
"""

from __future__ import annotations

import functools
from typing import Callable, Optional

import jax
import jax.numpy as jnp

from jaxlstm.core.fused import fused_lstm, runs_fused
from jaxlstm.core.onednn import onednn_lstm_batch_major, runs_onednn
from jaxlstm.core.params import LSTMParams, LSTMState, zero_state
from jaxlstm.core.scan import check_remat, lstm, reverse_valid_prefix
from jaxlstm.core.spec import CellSpec
from jaxlstm.core.validation import check_float, check_lengths, check_rank, check_state_tree


def vmap_layer(layer: Callable) -> Callable:
    """`layer` (one sequence xs (T, X), scalar lengths) run over xs (B, T, X), lengths (B,).

    state0, when given, has a leading batch axis B on every leaf.
    """

    def batched(params, xs, state0=None, *, lengths=None, **kwargs):
        one = lambda x, s, n: layer(params, x, s, lengths=n, **kwargs)  # noqa: E731
        return jax.vmap(one)(xs, state0, lengths)

    return batched


def lstm_batch(
    params: LSTMParams,
    xs: jax.Array,
    state0: Optional[LSTMState] = None,
    *,
    spec: CellSpec = CellSpec(),
    lengths: Optional[jax.Array] = None,
    reverse: bool = False,
    unroll: int = 1,
    remat: int | bool = False,
    return_gates: bool = False,
    compute_dtype: Optional[jnp.dtype] = None,
):
    """Run an LSTM layer over a batch of sequences.

    Args:
      params: `LSTMParams` of the layer.
      xs: (B, T, X) inputs.
      state0: initial `LSTMState(h (B, R), c (B, H))`; zeros when None.
      lengths: (B,) ints, the valid steps of each sequence (None: all T).
      spec, reverse, unroll, remat, return_gates, compute_dtype: as for `lstm`.

    Returns:
      `(final_state, hs)` with hs: (B, T, R), equal to `jax.vmap(lstm)`'s. The
      standard cell without remat, gate traces or compute_dtype runs
      `fused_lstm` (reverse mode only: use `jax.vmap(lstm)` for `jax.jvp`).
    """
    check_rank("xs", xs, 3, "(B, T, X)")
    check_float("xs", xs)
    batch, steps, features = xs.shape
    if features != params.w_x.shape[0]:
        raise ValueError(
            f"xs must have shape (B, T, input_size={params.w_x.shape[0]}), got shape {xs.shape}")
    if lengths is not None:
        check_lengths(lengths, steps, (batch,))
    default = zero_state(params, (batch,))
    if state0 is not None:
        check_state_tree("state0", state0, default)
    fused = (runs_fused(spec, params) and not check_remat(remat) and not return_gates
             and compute_dtype is None)
    if not fused:
        layer = vmap_layer(functools.partial(lstm, spec=spec))
        return layer(params, xs, state0, lengths=lengths, reverse=reverse, unroll=unroll,
                     remat=remat, return_gates=return_gates, compute_dtype=compute_dtype)
    h0, c0 = default if state0 is None else state0
    valid = None if lengths is None else (jnp.arange(steps)[:, None] < lengths)[..., None]
    if reverse:
        xs = reverse_valid_prefix(xs, lengths)
    weights = (params.w_x, params.w_h, params.b)
    # The kernel's batch-major entry saves the transposes but its backward pass runs slower
    # there unless B >= T (training step, batch- / time-major: S4 (B=256, T=64) 92 / 98 ms;
    # S1 (32, 128) 63 / 57, S2 (16, 512) 508 / 432). fused_lstm takes the time-major one.
    if batch >= steps and runs_onednn(xs, *weights, h0, c0, valid, batch_axis=0):
        hs, h, c = onednn_lstm_batch_major(*weights, xs, h0, c0)
    else:
        hs, h, c = fused_lstm(*weights, jnp.swapaxes(xs, 0, 1), h0, c0, valid, unroll)
        hs = jnp.swapaxes(hs, 0, 1)
    if reverse:
        hs = reverse_valid_prefix(hs, lengths)
    return LSTMState(h, c), hs
