"""Batch-major recurrent layers: stacked, bidirectional, with lengths and dropout.

`LSTM` and `FamilyRNN` (every other cell family; `GRU`, `RNN` and the modern cells'
`ModernRNN` are it with the family named) hold one cell module per layer and direction and
run `core.stack` with a batch-major layer function (`core.lstm_batch`, or the family's
layer function under `core.vmap_layer`). Inputs are (B, T, X); outputs are
(B, T, D·R) with D = 2 when bidirectional (forward features first).

`remat` (0/False, True, or k: checkpoint every k steps) and `compute_dtype` (mixed
precision: matmuls in e.g. bfloat16, parameters and cell state in float32) go to
the core's scan and cell step; see `jaxlstm.core.scan_cell` and `jaxlstm.core.cell_step`.

Dropout between layers follows NNX: an `nnx.Dropout` submodule that `model.train()` and
`model.eval()` switch on and off, drawing its masks from the `dropout` stream of the
`nnx.Rngs` given at construction, or from `rngs=` at call time (a key, `nnx.Rngs` or
`RngStream`). The older `key=` argument still works and warns.

Return order: the core, `flax.nnx.RNN(return_carry=True)` and these layers return
`(state, outputs)`, carry first, as `lax.scan` does (since jaxlstm 0.2; 0.1's layers
returned `(outputs, finals)` and warned). `state_first=False` still gives the old order,
with a DeprecationWarning, until 0.3.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxlstm.core import CellSpec, hidden_size_of, lstm, lstm_batch, stack, vmap_layer, zero_state
from jaxlstm.core.cell import check_compute_dtype
from jaxlstm.core.scan import check_remat
from jaxlstm.core.validation import check_float, check_lengths, check_rank
from jaxlstm.core.family import get_family
from jaxlstm.nn.cell import FamilyCell, GRUCell, LSTMCell, RNNCell


UNSET = object()  # `key` not passed (None there means "evaluation" in the deprecated API)


def resolve_dropout_args(rngs, deterministic: Optional[bool], key=UNSET):
    """(rngs, deterministic) for a call that may use the deprecated `key=` argument."""
    if key is UNSET:
        return rngs, deterministic
    warnings.warn("key= is deprecated: pass rngs=key (or nothing, to use the module's own "
                  "nnx.Rngs) and switch dropout with model.train() / model.eval() or "
                  "deterministic=", DeprecationWarning, stacklevel=3)
    if key is None:
        return rngs, True
    return key, False


def dropout_kwargs(rngs, deterministic: Optional[bool], key=UNSET) -> dict:
    """The dropout keywords to pass on to a submodule (`key` only if it was given)."""
    kw = {"rngs": rngs, "deterministic": deterministic}
    return kw if key is UNSET else {**kw, "key": key}


def _is_key(x) -> bool:
    return isinstance(x, jax.Array) and not isinstance(x, nnx.Variable)


def check_dropout(dropout) -> float:
    """`dropout` must be a number in [0, 1); returns it as a float."""
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float, np.number)) \
            or not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
    return float(dropout)


def check_batched_inputs(xs, lengths, in_features: int) -> tuple[int, int]:
    """What every batch-major module checks first: xs (B, T, in_features) floating, lengths
    (B,) integers in [0, T] when concrete; returns (B, T)."""
    check_rank("xs", xs, 3, "(B, T, X)")
    check_float("xs", xs)
    if xs.shape[-1] != in_features:
        raise ValueError(f"xs must have shape (B, T, in_features={in_features}), got shape {xs.shape}")
    batch, steps = xs.shape[:2]
    if lengths is not None:
        check_lengths(lengths, steps, (batch,))
    return batch, steps


def _dropout_stream(rngs: Optional[nnx.Rngs]):
    """The `dropout` stream of `rngs` (falling back to `default`), or None without one."""
    if rngs is None:
        return None
    try:
        return rngs["dropout"]
    except (KeyError, AttributeError):
        return None


def _check_chained(layers: list, bidirectional: bool) -> None:
    """Each layer's input width must be the previous layer's output width (doubled when
    bidirectional): the error names the layer and both widths."""
    width = None
    for k, entry in enumerate(layers):
        cells = entry if bidirectional else (entry,)
        for cell in cells:
            if width is not None and cell.w_x.shape[0] != width:
                raise ValueError(f"layers[{k}].w_x has shape {tuple(cell.w_x.shape)}: layer {k} takes "
                                 f"{cell.w_x.shape[0]} inputs, but layer {k - 1} puts out {width}"
                                 f"{' (forward and backward)' if bidirectional else ''}; the layers "
                                 f"do not chain")
        width = sum(c.w_proj.shape[1] if c.w_proj is not None else hidden_size_of(c) for c in cells)


class Recurrent(nnx.Module):
    """A stack of recurrent layers over (B, T, X); see `LSTM` for the arguments."""

    def __init__(self, forward: list, backward: Optional[list], *, dropout: float = 0.0,
                 unroll: int = 1, remat: int | bool = False, compute_dtype=None,
                 rngs: Optional[nnx.Rngs] = None):
        dropout = check_dropout(dropout)
        check_remat(remat)
        self.forward_cells = nnx.List(forward)
        self.backward_cells = None if backward is None else nnx.List(backward)
        self.dropout = dropout
        self.dropout_layer = nnx.Dropout(dropout, rngs=_dropout_stream(rngs) if dropout else None)
        self.unroll = unroll
        self.remat = remat
        self.compute_dtype = check_compute_dtype(compute_dtype)

    @property
    def bidirectional(self) -> bool:
        return self.backward_cells is not None

    @property
    def num_layers(self) -> int:
        return len(self.forward_cells)

    @property
    def in_features(self) -> int:
        return self.forward_cells[0].w_x.shape[0]

    def layer_fn(self, cell):
        """The batch-major layer function (xs (B, T, X), lengths (B,)) of `cell`'s kind."""
        raise NotImplementedError

    def layer_params(self) -> list:
        """The core parameters: one tuple per layer, (forward, backward) pairs if bidirectional."""
        fw = [c.params for c in self.forward_cells]
        if not self.bidirectional:
            return fw
        return list(zip(fw, [c.params for c in self.backward_cells]))

    def initial_state(self, batch_size: int) -> list:
        """Zero initial states for `__call__`: one per layer (pairs if bidirectional)."""
        fw = [c.initial_state(batch_size) for c in self.forward_cells]
        if not self.bidirectional:
            return fw
        return list(zip(fw, [c.initial_state(batch_size) for c in self.backward_cells]))

    def __call__(self, xs: jax.Array, *, lengths: Optional[jax.Array] = None,
                 initial_state: Optional[list] = None, rngs=None,
                 deterministic: Optional[bool] = None, state_first: bool = True,
                 key=UNSET):
        """Run the stack.

        Args:
          xs: (B, T, X) inputs.
          lengths: (B,) ints, the valid steps of each sequence (None: all T).
          initial_state: as from `initial_state(B)`; zeros when None.
          rngs: a PRNG key, `nnx.Rngs` or `RngStream` for the dropout masks (default: the
            module's own `dropout` stream).
          deterministic: True turns dropout off for this call (default: the mode set by
            `model.train()` / `model.eval()`; a new module is in training mode).
          state_first: True (default) returns `(finals, hs)`, the core's order; False the
            order of jaxlstm 0.1, `(hs, finals)` (deprecated: warns).
          key: deprecated; a key means `rngs=key, deterministic=False`, None means
            `deterministic=True`.

        Dropout with rate p zeroes each output of every layer but the last with
        probability p and scales the rest by 1 / (1 - p) (as `torch.nn.LSTM(dropout=p)`).

        Returns:
          `(finals, hs (B, T, D·R))`, finals shaped like `initial_state(B)` (with
          `state_first=False`: `(hs, finals)`).
        """
        rngs, deterministic = resolve_dropout_args(rngs, deterministic, key)
        if not state_first:
            warnings.warn(f"{type(self).__name__}(..., state_first=False) returns the old order (outputs, "
                          f"finals), deprecated since jaxlstm 0.2 (the default is now (finals, outputs), "
                          f"the core's order) and removed in 0.3", DeprecationWarning, stacklevel=2)
        batch, steps = check_batched_inputs(xs, lengths, self.in_features)
        if initial_state is not None:
            _check_batched_state(initial_state, self.initial_state(batch))
        layer = self.layer_fn(self.forward_cells[0])
        if self.compute_dtype is not None:
            layer = functools.partial(layer, compute_dtype=self.compute_dtype)
        finals, hs = [], xs
        for k, params in enumerate(self.layer_params()):
            if k > 0:
                layer_rngs = jax.random.fold_in(rngs, k) if _is_key(rngs) else rngs
                hs = self.dropout_layer(hs, deterministic=deterministic, rngs=layer_rngs)
            state0 = None if initial_state is None else [initial_state[k]]
            final, hs = stack(layer, [params], hs, state0, lengths=lengths,
                              is_bidirectional=self.bidirectional, unroll=self.unroll,
                              remat=self.remat)
            finals += final
        return (finals, hs) if state_first else (hs, finals)

    def gate_traces(self, xs: jax.Array, length: Optional[int] = None) -> list:
        """Per-layer `GateTrace`s (each field (T, H)) of one sequence xs (T, X); LSTM only.

        For bidirectional layers the trace is the forward direction's.
        """
        raise TypeError(f"{type(self).__name__} has no gates to trace")


def _check_batched_state(state, expected) -> None:
    got, want = jax.tree.leaves(state), jax.tree.leaves(expected)
    if jax.tree.structure(state) != jax.tree.structure(expected) or any(
            jnp.shape(g) != jnp.shape(w) for g, w in zip(got, want)):
        raise ValueError(
            f"initial_state must match initial_state(B): leaf shapes "
            f"{[jnp.shape(w) for w in want]}, got {[jnp.shape(g) for g in got]}")


class LSTM(Recurrent):
    """Stacked (bi)directional LSTM, batch-major, of any `CellSpec` variant.

    Args:
      in_features: X. hidden_size: H. num_layers: stacked layers.
      bidirectional: run each layer both ways, outputs concatenated.
      dropout: dropout rate on the outputs of every layer but the last.
      proj_size: LSTMP projection size R, or None.
      spec: the cell variant. unroll, remat: passed to the scan.
      dtype: the parameter dtype. compute_dtype: the matmul dtype (mixed precision) or None.
      rngs: `nnx.Rngs` with a `params` stream.
    """

    def __init__(self, in_features: int, hidden_size: int, *, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0,
                 proj_size: Optional[int] = None, spec: CellSpec = CellSpec(), unroll: int = 1,
                 remat: int | bool = False, dtype=jnp.float32, compute_dtype=None,
                 rngs: nnx.Rngs):
        if not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"num_layers must be a positive int, got {num_layers!r}")
        out = (proj_size or hidden_size) * (2 if bidirectional else 1)
        make = lambda k: LSTMCell(in_features if k == 0 else out, hidden_size, spec=spec,
                                  proj_size=proj_size, dtype=dtype, rngs=rngs)
        forward = [make(k) for k in range(num_layers)]
        backward = [make(k) for k in range(num_layers)] if bidirectional else None
        super().__init__(forward, backward, dropout=dropout, unroll=unroll, remat=remat,
                         compute_dtype=compute_dtype, rngs=rngs)

    @property
    def spec(self) -> CellSpec:
        return self.forward_cells[0].spec

    @property
    def out_features(self) -> int:
        return zero_state(self.forward_cells[-1].params).h.shape[-1] * (2 if self.bidirectional else 1)

    def layer_fn(self, cell):
        return functools.partial(lstm_batch, spec=cell.spec)

    @classmethod
    def from_params(cls, layers: list, spec: CellSpec = CellSpec(), *, dropout: float = 0.0,
                    unroll: int = 1, remat: int | bool = False, compute_dtype=None) -> "LSTM":
        """An `LSTM` holding the core parameters `layers` (as from `init_lstm_stack`)."""
        bidirectional = isinstance(layers[0], tuple) and not hasattr(layers[0], "_fields")
        first = layers[0][0] if bidirectional else layers[0]
        _check_chained(layers, bidirectional)
        proj = first.w_proj.shape[1] if first.w_proj is not None else None
        module = cls(first.w_x.shape[0], hidden_size_of(first), num_layers=len(layers),
                     bidirectional=bidirectional, dropout=dropout, proj_size=proj, spec=spec,
                     unroll=unroll, remat=remat, dtype=first.w_x.dtype,
                     compute_dtype=compute_dtype, rngs=nnx.Rngs(0))
        for k, entry in enumerate(layers):
            module.forward_cells[k]._store(entry[0] if bidirectional else entry)
            if bidirectional:
                module.backward_cells[k]._store(entry[1])
        return module

    @classmethod
    def from_torch(cls, module_or_state_dict, **kwargs) -> "LSTM":
        """An `LSTM` with the weights of a `torch.nn.LSTM` (module or state dict)."""
        from jaxlstm.interop.torch import from_torch_lstm

        return cls.from_params(from_torch_lstm(module_or_state_dict), CellSpec(), **kwargs)

    def gate_traces(self, xs: jax.Array, length: Optional[int] = None) -> list:
        traces = []
        for k, cell in enumerate(self.forward_cells):
            _, (hs, trace) = lstm(cell.params, xs, spec=cell.spec, return_gates=True,
                                  lengths=None if length is None else jnp.asarray(length))
            traces.append(trace)
            if self.bidirectional:
                _, hs_bw = lstm(self.backward_cells[k].params, xs, spec=cell.spec, reverse=True,
                                lengths=None if length is None else jnp.asarray(length))
                hs = jnp.concatenate([hs, hs_bw], axis=-1)
            xs = hs
        return traces


class FamilyRNN(Recurrent):
    """Stacked (bi)directional encoder of any registered cell family over (B, T, X) ->
    (B, T, D·H): one `FamilyCell` per layer and direction, run by the family's layer
    function under `core.vmap_layer`.

    Args:
      family: a registered family's name. in_features: X. hidden_size: H.
      spec: the family's spec (its default when None). num_layers, bidirectional, dropout
        (between layers), unroll, remat, dtype, compute_dtype: as `LSTM`.
      mode: the layer's form: "auto" (the family's default) or one of the family's `modes`
        (e.g. "chunkwise" for mLSTM, "parallel" for minLSTM, "newton" for the GRU).
    """

    def __init__(self, family: str, in_features: int, hidden_size: int, *, spec=None,
                 num_layers: int = 1, bidirectional: bool = False, dropout: float = 0.0,
                 mode: str = "auto", unroll: int = 1, remat: int | bool = False,
                 dtype=jnp.float32, compute_dtype=None, rngs: nnx.Rngs):
        cell_family = get_family(family)
        if mode not in family_modes(cell_family):
            raise ValueError(f"mode must be one of {list(family_modes(cell_family))} for "
                             f"{family}, got {mode!r}")
        if compute_dtype is not None and \
                "compute_dtype" not in inspect.signature(cell_family.layer).parameters:
            raise ValueError(f"compute_dtype is not supported by the {family} layers "
                             f"(they compute in the parameter dtype), got {compute_dtype!r}")
        if not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"num_layers must be a positive int, got {num_layers!r}")
        out = hidden_size * (2 if bidirectional else 1)
        make = lambda k: self._make_cell(family, in_features if k == 0 else out,  # noqa: E731
                                         hidden_size, spec, dtype, rngs)
        forward = [make(k) for k in range(num_layers)]
        backward = [make(k) for k in range(num_layers)] if bidirectional else None
        self.mode = mode
        self.input_size = in_features  # w_x's first axis is not X for every family (ParaLSTM's heads)
        super().__init__(forward, backward, dropout=dropout, unroll=unroll, remat=remat,
                         compute_dtype=compute_dtype, rngs=rngs)

    @staticmethod
    def _make_cell(family, in_features, hidden_size, spec, dtype, rngs):
        return FamilyCell(family, in_features, hidden_size, spec=spec, dtype=dtype, rngs=rngs)

    @property
    def family(self) -> str:
        return self.forward_cells[0].family

    @property
    def spec(self):
        return self.forward_cells[0].spec

    @property
    def in_features(self) -> int:
        return self.input_size

    @property
    def out_features(self) -> int:
        cell = self.forward_cells[-1]
        size = get_family(cell.family).output_size(cell.params, cell.spec)
        return size * (2 if self.bidirectional else 1)

    def layer_fn(self, cell):
        family = get_family(cell.family)
        mode = {} if self.mode == "auto" and "auto" not in family.modes else {"mode": self.mode}
        return vmap_layer(functools.partial(family.layer, spec=cell.spec, **mode))


def family_modes(family) -> tuple:
    """The `mode` values a `FamilyRNN` of `family` takes: "auto" (the family's default) first,
    then the family's own modes."""
    return ("auto",) + tuple(m for m in family.modes if m != "auto")


class GRU(FamilyRNN):
    """Stacked (bi)directional GRU baseline: `FamilyRNN("gru", ...)`."""

    def __init__(self, in_features: int, hidden_size: int, **kwargs):
        super().__init__("gru", in_features, hidden_size, **kwargs)

    @staticmethod
    def _make_cell(family, in_features, hidden_size, spec, dtype, rngs):
        return GRUCell(in_features, hidden_size, dtype=dtype, rngs=rngs)


class RNN(FamilyRNN):
    """Stacked (bi)directional Elman RNN baseline: `FamilyRNN("rnn", ...)`."""

    def __init__(self, in_features: int, hidden_size: int, **kwargs):
        super().__init__("rnn", in_features, hidden_size, **kwargs)

    @staticmethod
    def _make_cell(family, in_features, hidden_size, spec, dtype, rngs):
        return RNNCell(in_features, hidden_size, dtype=dtype, rngs=rngs)
