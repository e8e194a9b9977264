"""The residual blocks of xLSTM (Beck et al. 2024, sec. 2.4 and fig. 10-11) and a model
stacking them in a chosen mLSTM:sLSTM ratio ("xLSTM[7:1]").

Width D throughout; (B, T, D) in and out. GN is a per-head layer norm (the paper's group
norm with one group per head).

sLSTM block (post up-projection), as in the xlstm package's sLSTMBlock:

    y = x + GN(sLSTM(LN(x)))
    out = y + W_down (GELU(W_gate LN(y)) ⊙ W_up LN(y))          (up-projection factor 4/3)

GELU is the tanh form (`jax.nn.gelu`'s default); LN is flax's LayerNorm (eps 1e-6), GN's
eps is 1e-5.

mLSTM block (pre up-projection), inner width E = 2D:

    a, z = split(W_in LN(x))                                      (each (B, T, E))
    c = swish(CausalConv1d_4(a))
    h = (GN(mLSTM(c)) + s ⊙ c) ⊙ swish(z)                         (s a learned skip vector)
    out = x + W_out h

Differences from the paper and the xlstm package (docs/modern_cells.md): the sLSTM block
has no causal convolution before its gates; the mLSTM cell computes q, k, v, o, ĩ, f̃ with
one dense projection of c (the package takes v from a, and q, k, v from block-diagonal
"headwise" projections); the blocks run the core layers, so `lengths` is honoured (padded
steps emit zeros at the end). Tested against a NumPy forward pass of these equations
(tests/nn/test_xlstm_blocks.py), not against the package's blocks.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import warnings
from typing import Optional

import jax
import jax.numpy as jnp
from flax import nnx

from jaxlstm.core import vmap_layer
from jaxlstm.core.mlstm import MLSTMSpec, mlstm
from jaxlstm.core.slstm import SLSTMSpec, slstm
from jaxlstm.nn.cell import FamilyCell
from jaxlstm.nn.recurrent import (UNSET, _dropout_stream, check_batched_inputs, check_dropout,
                                  resolve_dropout_args)


def parse_ratio(ratio: str) -> tuple[int, int]:
    """"m:s" -> (m, s): m mLSTM blocks then s sLSTM blocks per group (e.g. "7:1")."""
    match = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", str(ratio))
    if not match or int(match[1]) + int(match[2]) == 0:
        raise ValueError(f"ratio must be 'm:s' with non-negative ints, not both 0 (mLSTM:sLSTM "
                         f"blocks, e.g. '7:1'), got {ratio!r}")
    return int(match[1]), int(match[2])


@dataclasses.dataclass(frozen=True)
class XLSTMSpec:
    """The options of an `XLSTM` block stack as an encoder (`make_encoder("xlstm", ...)`, a
    config's `model: {cell: xlstm, ...}`).

    Attributes:
      num_heads: heads of every block's cell (divides the width).
      ratio: "m:s", mLSTM:sLSTM blocks per group (e.g. "7:1").
    """

    num_heads: int = 4
    ratio: str = "1:1"

    def __post_init__(self):
        if isinstance(self.num_heads, bool) or not isinstance(self.num_heads, int) \
                or self.num_heads < 1:
            raise ValueError(f"XLSTMSpec.num_heads must be a positive int, got {self.num_heads!r}")
        try:
            parse_ratio(self.ratio)
        except ValueError as e:
            raise ValueError(f"XLSTMSpec.{e}") from None


def block_kinds(num_blocks: int, ratio: str) -> list[str]:
    """The kind ("mlstm"/"slstm") of each of `num_blocks` blocks: groups of m mLSTM blocks
    then s sLSTM blocks, repeated and cut at num_blocks."""
    m, s = parse_ratio(ratio)
    group = ["mlstm"] * m + ["slstm"] * s
    return [group[k % len(group)] for k in range(num_blocks)]


class HeadNorm(nnx.Module):
    """Layer norm over each head's d features of (..., K·d), one scale per feature."""

    def __init__(self, features: int, num_heads: int, *, rngs: nnx.Rngs):
        self.num_heads = num_heads
        self.scale = nnx.Param(jnp.ones((features,)))

    def __call__(self, x):
        heads = x.reshape(*x.shape[:-1], self.num_heads, -1)
        mean = heads.mean(-1, keepdims=True)
        var = heads.var(-1, keepdims=True)
        normed = ((heads - mean) * jax.lax.rsqrt(var + 1e-5)).reshape(x.shape)
        return normed * self.scale[...]


def _identity(x):
    return x


class SLSTMBlock(nnx.Module):
    """sLSTM residual block of width D (module docstring); state: `SLSTMState` (B, D)."""

    def __init__(self, dim: int, *, num_heads: int = 4, ff_factor: float = 4 / 3,
                 rngs: nnx.Rngs):
        self.spec = SLSTMSpec(num_heads=num_heads)
        self.norm = nnx.LayerNorm(dim, rngs=rngs)
        self.cell = FamilyCell("slstm", dim, dim, spec=self.spec, rngs=rngs)
        self.head_norm = HeadNorm(dim, num_heads, rngs=rngs)
        self.ff_norm = nnx.LayerNorm(dim, rngs=rngs)
        inner = int(round(ff_factor * dim))
        self.up = nnx.Linear(dim, 2 * inner, rngs=rngs)
        self.down = nnx.Linear(inner, dim, rngs=rngs)

    def initial_state(self, batch_size: int):
        return self.cell.initial_state(batch_size)

    def __call__(self, x, *, lengths=None, state=None, drop=_identity):
        """`drop` is applied to each residual branch (the stack's dropout)."""
        layer = vmap_layer(functools.partial(slstm, spec=self.spec))
        final, h = layer(self.cell.params, self.norm(x), state, lengths=lengths)
        y = x + drop(self.head_norm(h))
        gate, up = jnp.split(self.up(self.ff_norm(y)), 2, axis=-1)
        return y + drop(self.down(jax.nn.gelu(gate) * up)), final


class MLSTMBlock(nnx.Module):
    """mLSTM residual block of width D, inner width E = factor·D (module docstring); state:
    `MLSTMState` of the cell (the convolution window is not carried between calls)."""

    def __init__(self, dim: int, *, num_heads: int = 4, factor: int = 2, conv_size: int = 4,
                 mode: str = "auto", rngs: nnx.Rngs):
        inner = factor * dim
        self.mode = mode
        self.spec = MLSTMSpec(num_heads=num_heads)
        self.norm = nnx.LayerNorm(dim, rngs=rngs)
        self.proj_in = nnx.Linear(dim, 2 * inner, rngs=rngs)
        self.conv = nnx.Conv(inner, inner, kernel_size=(conv_size,), padding=[(conv_size - 1, 0)],
                             feature_group_count=inner, rngs=rngs)
        self.cell = FamilyCell("mlstm", inner, inner, spec=self.spec, rngs=rngs)
        self.head_norm = HeadNorm(inner, num_heads, rngs=rngs)
        self.skip = nnx.Param(jnp.ones((inner,)))
        self.proj_out = nnx.Linear(inner, dim, rngs=rngs)

    def initial_state(self, batch_size: int):
        return self.cell.initial_state(batch_size)

    def __call__(self, x, *, lengths=None, state=None, drop=_identity):
        """`drop` is applied to the residual branch (the stack's dropout)."""
        a, z = jnp.split(self.proj_in(self.norm(x)), 2, axis=-1)
        c = jax.nn.swish(self.conv(a))
        layer = vmap_layer(functools.partial(mlstm, spec=self.spec, mode=self.mode))
        final, h = layer(self.cell.params, c, state, lengths=lengths)
        h = (self.head_norm(h) + self.skip[...] * c) * jax.nn.swish(z)
        return x + drop(self.proj_out(h)), final


class XLSTM(nnx.Module):
    """A stack of mLSTM and sLSTM blocks, batch-major, usable as a task model's encoder.

    Args:
      in_features: X (projected to `dim` by a linear layer when they differ).
      dim: D, the residual width (`hidden_size` in configs).
      num_blocks: the number of blocks. ratio: "m:s", mLSTM:sLSTM blocks per group.
      num_heads: heads of every cell (divides D). dropout: on each block's residual branch
        (an `nnx.Dropout`: on in `model.train()`, off in `model.eval()`). mode: the mLSTM form.

    `__call__(xs (B, T, X), lengths=None, initial_state=None, rngs=None, deterministic=None,
    state_first=True) -> (finals, hs (B, T, D))` (`(hs, finals)` with the deprecated `state_first=False`)
    (the arguments as `jaxlstm.nn.LSTM`'s); hs zero at padded steps, finals one cell state
    per block.
    """

    bidirectional = False

    def __init__(self, in_features: int, dim: int, *, num_blocks: int = 2, ratio: str = "1:1",
                 num_heads: int = 4, dropout: float = 0.0, mode: str = "auto", rngs: nnx.Rngs):
        if not isinstance(num_blocks, int) or num_blocks < 1:
            raise ValueError(f"num_blocks must be a positive int, got {num_blocks!r}")
        dropout = check_dropout(dropout)
        if dim % num_heads:
            raise ValueError(f"dim (hidden_size) must be divisible by num_heads={num_heads}, "
                             f"got {dim}")
        self.kinds = block_kinds(num_blocks, ratio)
        self.in_features = in_features
        self.dropout = dropout
        self.proj = None if in_features == dim else nnx.Linear(in_features, dim, rngs=rngs)
        self.blocks = nnx.List([
            MLSTMBlock(dim, num_heads=num_heads, mode=mode, rngs=rngs) if kind == "mlstm"
            else SLSTMBlock(dim, num_heads=num_heads, rngs=rngs) for kind in self.kinds])
        self.out_norm = nnx.LayerNorm(dim, rngs=rngs)
        self.out_features = dim
        self.dropout_layer = nnx.Dropout(dropout, rngs=_dropout_stream(rngs) if dropout else None)

    def initial_state(self, batch_size: int) -> list:
        return [block.initial_state(batch_size) for block in self.blocks]

    def __call__(self, xs, *, lengths: Optional[jax.Array] = None,
                 initial_state: Optional[list] = None, rngs=None,
                 deterministic: Optional[bool] = None, state_first: bool = True,
                 key=UNSET):
        rngs, deterministic = resolve_dropout_args(rngs, deterministic, key)
        if not state_first:
            warnings.warn("XLSTM(..., state_first=False) returns the old order (outputs, "
                          "finals), deprecated since jaxlstm 0.2 (the default is now (finals, outputs), "
                          "the core's order) and removed in 0.3", DeprecationWarning, stacklevel=2)

        def drop(x):
            if not self.dropout:
                return x
            return self.dropout_layer(x, deterministic=deterministic, rngs=rngs)

        check_batched_inputs(xs, lengths, self.in_features)
        x = xs if self.proj is None else self.proj(xs)
        finals = []
        for k, block in enumerate(self.blocks):
            state = None if initial_state is None else initial_state[k]
            x, final = block(x, lengths=lengths, state=state, drop=drop)
            finals.append(final)
        hs = self.out_norm(x)
        if lengths is not None:
            hs = jnp.where(jnp.arange(hs.shape[1])[None, :, None] < lengths[:, None, None], hs, 0.0)
        return (finals, hs) if state_first else (hs, finals)
