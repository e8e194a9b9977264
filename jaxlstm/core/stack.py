"""Layers composed: bidirectional layers and multi-layer stacks, for any cell.

A *layer function* has the signature of `lstm`, `rnn` and `gru`:
`layer(params, xs (T, X), state0, *, lengths, reverse, unroll, remat) -> (final, hs (T, R))`,
or of `lstm_batch` and `vmap_layer(gru)`, batch-major: xs (B, T, X), lengths (B,),
hs (B, T, R). Everything here works on either (time is axis -2, features axis -1).
For the LSTM, `lstm_stack` and `init_lstm_stack` bind it.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional, Sequence

import jax
import jax.numpy as jnp

from jaxlstm.core.params import init_lstm
from jaxlstm.core.lstm import lstm
from jaxlstm.core.spec import CellSpec

Layer = Callable[..., tuple[Any, jax.Array]]


def bidirectional(
    layer: Layer,
    params: tuple[Any, Any],
    xs: jax.Array,
    state0: Optional[tuple[Any, Any]] = None,
    *,
    lengths: Optional[jax.Array] = None,
    unroll: int = 1,
    remat: int | bool = False,
):
    """Run `layer` forwards with params[0] and backwards with params[1] over xs (T, X) or (B, T, X).

    The backward pass reverses only the valid prefix when `lengths` is given.
    Returns `((final_fw, final_bw), hs)` with hs (..., T, R_fw + R_bw), forward first.
    """
    if hasattr(params, "_fields") or not isinstance(params, (tuple, list)) or len(params) != 2:
        raise TypeError(
            f"bidirectional layer params must be a (forward, backward) pair, got "
            f"{type(params).__name__}{'' if hasattr(params, '_fields') else f' of length {len(params)}'}; "
            f"make them with init_lstm_stack(..., is_bidirectional=True)")
    fw_params, bw_params = params
    fw_state0, bw_state0 = (None, None) if state0 is None else state0
    kw = dict(lengths=lengths, unroll=unroll, remat=remat)
    fw_final, fw_hs = layer(fw_params, xs, fw_state0, **kw)
    bw_final, bw_hs = layer(bw_params, xs, bw_state0, reverse=True, **kw)
    return (fw_final, bw_final), jnp.concatenate([fw_hs, bw_hs], axis=-1)


def stack(
    layer: Layer,
    layers: Sequence[Any],
    xs: jax.Array,
    states0: Optional[Sequence[Any]] = None,
    *,
    lengths: Optional[jax.Array] = None,
    is_bidirectional: bool = False,
    dropout_rate: float = 0.0,
    key: Optional[jax.Array] = None,
    unroll: int = 1,
    remat: int | bool = False,
):
    """Run a stack of layers over xs ((B,) T, X), each layer's outputs feeding the next.

    Args:
      layer: the layer function (e.g. `functools.partial(lstm, spec=spec)`).
      layers: one params per layer, or one (forward, backward) pair per layer
        when `is_bidirectional`.
      states0: one initial state per layer (a pair when bidirectional), or None.
      dropout_rate: dropout on the outputs of every layer but the last (as
        PyTorch's `nn.LSTM(dropout=...)`); applied only when `key` is given.

    Returns:
      `(finals, hs)`: a list with each layer's final state (pairs when
      bidirectional) and the last layer's outputs ((B,) T, R) or ((B,) T, 2R).
    """
    if not 0.0 <= dropout_rate < 1.0:
        raise ValueError(f"dropout_rate must lie in [0, 1), got {dropout_rate}")
    if states0 is not None and len(states0) != len(layers):
        raise ValueError(
            f"states0 must hold one state per layer ({len(layers)}), got {len(states0)}"
        )
    if not is_bidirectional:
        for k, params in enumerate(layers):
            if isinstance(params, (tuple, list)) and not hasattr(params, "_fields") and len(params) == 2:
                raise TypeError(f"layers[{k}] is a (forward, backward) pair of a bidirectional "
                                f"stack: pass is_bidirectional=True, or give one params per layer")
    finals = []
    kw = dict(lengths=lengths, unroll=unroll, remat=remat)
    for k, params in enumerate(layers):
        if k > 0 and key is not None and dropout_rate > 0.0:
            key, sub = jax.random.split(key)
            keep = jax.random.bernoulli(sub, 1.0 - dropout_rate, xs.shape)
            xs = jnp.where(keep, xs / (1.0 - dropout_rate), 0.0).astype(xs.dtype)
        state0 = None if states0 is None else states0[k]
        if is_bidirectional:
            final, xs = bidirectional(layer, params, xs, state0, **kw)
        else:
            final, xs = layer(params, xs, state0, **kw)
        finals.append(final)
    return finals, xs


def lstm_stack(
    layers: Sequence[Any],
    xs: jax.Array,
    states0: Optional[Sequence[Any]] = None,
    *,
    spec: CellSpec = CellSpec(),
    **kwargs,
):
    """`stack` of `lstm` layers of variant `spec` (see `stack` for the arguments)."""
    return stack(functools.partial(lstm, spec=spec), layers, xs, states0, **kwargs)


def init_lstm_stack(
    key: jax.Array,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    spec: CellSpec = CellSpec(),
    *,
    is_bidirectional: bool = False,
    proj_size: Optional[int] = None,
    dtype=jnp.float32,
) -> list:
    """Parameters for `lstm_stack`: a list of `LSTMParams` (pairs when bidirectional).

    Layer k > 0 reads the previous layer's outputs: R inputs, or 2R when bidirectional.
    """
    if not isinstance(num_layers, int) or num_layers < 1:
        raise ValueError(f"num_layers must be a positive int, got {num_layers!r}")
    out = proj_size or hidden_size
    layers = []
    for k, layer_key in enumerate(jax.random.split(key, num_layers)):
        size = input_size if k == 0 else out * (2 if is_bidirectional else 1)
        init = functools.partial(
            init_lstm, input_size=size, hidden_size=hidden_size, spec=spec,
            proj_size=proj_size, dtype=dtype,
        )
        if is_bidirectional:
            fw_key, bw_key = jax.random.split(layer_key)
            layers.append((init(fw_key), init(bw_key)))
        else:
            layers.append(init(layer_key))
    return layers
