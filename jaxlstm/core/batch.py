"""Layers over a batch of sequences, batch-major: xs (B, T, X).

`vmap_layer(layer)` runs any layer function over a batch with `jax.vmap`; `lstm_batch`
is `vmap_layer(lstm)` with the batch-major shapes checked first. Both reach the same
batched backends as `jax.vmap(lstm)` (through the layer's batching rule,
`jaxlstm.core.layer`): there is no second, faster entry point.
"""

from __future__ import annotations

from typing import Callable, Optional

import jax
import jax.numpy as jnp

from jaxlstm.core.lstm import lstm
from jaxlstm.core.params import LSTMParams, LSTMState, zero_state
from jaxlstm.core.spec import CellSpec
from jaxlstm.core.validation import (check_float, check_lengths, check_params, check_rank,
                                     check_state_tree)


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
    **kwargs,
):
    """Run an LSTM layer over a batch of sequences: `jax.vmap(lstm)`, batch-major.

    Args:
      params: `LSTMParams` of the layer.
      xs: (B, T, X) inputs.
      state0: initial `LSTMState(h (B, R), c (B, H))`; zeros when None.
      spec: the `CellSpec` variant, as for `lstm`.
      lengths: (B,) ints, the valid steps of each sequence (None: all T).
      **kwargs: reverse, unroll, remat, return_gates, compute_dtype, backend: as for `lstm`.

    Returns:
      `(final_state, hs)` with hs: (B, T, R).
    """
    check_params(params, spec)
    check_rank("xs", xs, 3, "(B, T, X)")
    check_float("xs", xs)
    batch, steps, features = xs.shape
    if features != params.w_x.shape[0]:
        raise ValueError(
            f"xs must have shape (B, T, input_size={params.w_x.shape[0]}), got shape {xs.shape}")
    if lengths is not None:
        check_lengths(lengths, steps, (batch,))
    if state0 is not None:
        dtype = jnp.result_type(*[a for a in params if a is not None], xs)
        check_state_tree("state0", state0, zero_state(params, (batch,), dtype))
    return vmap_layer(lambda *a, **k: lstm(*a, spec=spec, **k))(
        params, xs, state0, lengths=lengths, **kwargs)
