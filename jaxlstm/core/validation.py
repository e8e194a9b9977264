"""Trace-time argument checks: clear errors instead of XLA shape tracebacks.

Shapes are static under `jit`, so these checks cost nothing at run time. Values
(the sequence lengths) are only checked when they are concrete.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

try:  # private in jax 0.10: only used to read concrete lengths under an eager vmap
    from jax._src.interpreters.batching import BatchTracer
except ImportError:  # pragma: no cover - a later jax; lengths under vmap are then unchecked
    BatchTracer = ()


def check_float(name: str, x) -> None:
    """`x` must be a floating-point array."""
    dtype = jnp.result_type(x)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"{name} must be a floating-point array, got dtype {dtype}")


def check_rank(name: str, x, rank: int, layout: str) -> None:
    """`x` must have exactly `rank` dimensions, described by `layout` (e.g. "(T, X)")."""
    if jnp.ndim(x) != rank:
        raise ValueError(
            f"{name} must have shape {layout} (rank {rank}), got shape {jnp.shape(x)} "
            f"(rank {jnp.ndim(x)})"
            + ("; use jax.vmap to run a batch of sequences" if rank == 2 and jnp.ndim(x) == 3 else "")
        )


def check_last_dim(name: str, x, expected: int, what: str) -> None:
    """The last axis of `x` must be `expected` (`what` names that size)."""
    got = jnp.shape(x)[-1] if jnp.ndim(x) else None
    if got != expected:
        raise ValueError(
            f"{name} must have last dimension {what}={expected}, got shape {jnp.shape(x)}"
        )


def check_params(params, spec) -> None:
    """`params` must be `LSTMParams` of floating arrays whose shapes fit `spec`."""
    from jaxlstm.core.params import LSTMParams, hidden_size_of, param_shapes

    if not isinstance(params, LSTMParams):
        raise TypeError(f"params must be LSTMParams (see init_lstm), got {type(params).__name__}")
    for field in ("w_x", "w_h", "b"):
        check_float(f"params.{field}", getattr(params, field))
    if jnp.ndim(params.w_x) != 2 or jnp.ndim(params.w_h) != 2:
        raise ValueError(f"params.w_x and params.w_h must be matrices, got shapes "
                         f"{jnp.shape(params.w_x)} and {jnp.shape(params.w_h)}")
    input_size = params.w_x.shape[0]
    hidden = hidden_size_of(params)
    proj = params.w_proj.shape[1] if params.w_proj is not None else None
    if hidden == 0 or proj == 0:
        raise ValueError(f"params must have hidden_size > 0 (and proj_size > 0), got "
                         f"w_h of shape {tuple(params.w_h.shape)}")
    expected = param_shapes(spec, max(input_size, 1), hidden, proj)._replace(
        w_x=(input_size, spec.num_blocks * hidden))
    for field, want in zip(params._fields, expected):
        leaf = getattr(params, field)
        got = None if leaf is None else tuple(leaf.shape)
        if got != (None if want is None else tuple(want)):
            raise ValueError(
                f"params.{field} has shape {got} but CellSpec(variant={spec.variant!r}, "
                f"peepholes={spec.peepholes}) with input_size={input_size}, "
                f"hidden_size={hidden} expects {want}; were the parameters made "
                f"for another variant?"
            )


def check_step_inputs(params, state, x, spec) -> None:
    """Check an LSTM step's parameters against `spec`, and `state` and `x` against both."""
    from jaxlstm.core.params import hidden_size_of

    check_float("x", x)
    check_params(params, spec)
    input_size = params.w_x.shape[0]
    hidden = hidden_size_of(params)
    proj = params.w_proj.shape[1] if params.w_proj is not None else None
    check_last_dim("x", x, input_size, "input_size")
    out = proj or hidden
    check_last_dim("state.h", state.h, out, "proj_size" if proj else "hidden_size")
    check_last_dim("state.c", state.c, hidden, "hidden_size")
    check_float("state.h", state.h)
    check_float("state.c", state.c)
    check_same_batch(x=x, **{"state.h": state.h, "state.c": state.c})


def check_same_batch(**arrays) -> None:
    """All arrays must share their leading (batch) shape, everything but the last axis."""
    shapes = {name: tuple(jnp.shape(a))[:-1] for name, a in arrays.items()}
    if len(set(shapes.values())) > 1:
        desc = ", ".join(f"{n} {jnp.shape(a)}" for n, a in arrays.items())
        raise ValueError(f"leading (batch) dimensions differ: {desc}")


def check_lengths(lengths, num_steps: int, batch_shape: tuple = ()) -> None:
    """`lengths` must be integers of `batch_shape`, in [0, T] where the values are concrete.

    They are concrete when eager, also under an eager `jax.vmap` (whose per-example
    values are read off the batched array); under `jit` they are not, and the layer
    functions clamp them to [0, T] (`clamp_lengths`).
    """
    if not isinstance(lengths, (int, np.integer)):
        check_array("lengths", lengths, "() (an int per sequence)")
    dtype = jnp.result_type(lengths)
    if not jnp.issubdtype(dtype, jnp.integer):
        raise TypeError(f"lengths must be an integer array, got dtype {dtype}")
    if tuple(jnp.shape(lengths)) != tuple(batch_shape):
        raise ValueError(
            f"lengths must have shape {tuple(batch_shape)} (one per sequence), "
            f"got shape {jnp.shape(lengths)}"
        )
    values = concrete_values(lengths)
    if values is not None and values.size and (values.min() < 0 or values.max() > num_steps):
        raise ValueError(
            f"lengths must lie in [0, T={num_steps}], got min {values.min()} and "
            f"max {values.max()}"
        )


def concrete_values(x) -> "np.ndarray | None":
    """The values of `x` as a NumPy array, or None when they are not known at trace time.

    An eager `jax.vmap` hands the function a batch tracer whose batched array is concrete:
    its values are those of every example at once. Under `jit` (or a `vmap` inside it)
    they are abstract.
    """
    while isinstance(x, BatchTracer):
        x = x.val
    if isinstance(x, jax.core.Tracer):
        return None
    return np.asarray(x)


def clamp_lengths(lengths, num_steps: int):
    """`lengths` clipped to [0, T] as an int32 array: the defined meaning of out-of-range
    lengths where they cannot be checked (under `jit`): below 0 is 0 (no step runs, the
    final state is `state0`), above T is T (every step runs)."""
    return jnp.clip(jnp.asarray(lengths), 0, num_steps).astype(jnp.int32)


def check_array(name: str, x, layout: str) -> None:
    """`x` must be an array (JAX, NumPy or a NumPy scalar), not a list or another object."""
    if not isinstance(x, (jax.Array, np.ndarray, np.generic)):
        raise TypeError(f"{name} must be a JAX or NumPy array of shape {layout}, got "
                        f"{type(x).__name__}" + ("; convert it with jnp.asarray"
                                                 if isinstance(x, (list, tuple)) else ""))


def check_layer_call(family, params, xs, spec) -> None:
    """The checks every family's layer function (`lstm`, `gru`, `rnn`, `slstm`, `mlstm`,
    `minlstm`, `mingru`) starts with, before any arithmetic:

    - `spec` is the family's spec type;
    - `params` is the family's parameter type, of floating arrays whose shapes are the ones
      `family.param_shapes(params, spec)` implies;
    - `xs` is an array of rank 2, (T, X), floating, with X the parameters' input size.

    `family` is the `CellFamily` (jaxlstm/core/family.py). Each error names the argument,
    the expected and the actual value.
    """
    if not isinstance(spec, family.spec_type):
        raise TypeError(f"spec must be a {family.spec_type.__name__} for {family.name}, "
                        f"got {spec!r}")
    if family.params_type is not None:
        if not isinstance(params, family.params_type):
            raise TypeError(f"params must be {family.params_type.__name__} for {family.name} "
                            f"(see init_{family.name}), got {type(params).__name__}")
        for field, leaf in params._asdict().items():
            if leaf is not None:
                check_array(f"params.{field}", leaf, "(see init_" + family.name + ")")
                check_float(f"params.{field}", leaf)
    if family.param_shapes is not None:
        expected = family.param_shapes(params, spec)
        for field, want in expected.items():
            got = tuple(jnp.shape(getattr(params, field)))
            if got != tuple(want):
                raise ValueError(
                    f"params.{field} must have shape {tuple(want)} for {spec!r}, got {got} "
                    f"(all: {_shapes(params)}); were the parameters made for another spec?")
    check_array("xs", xs, "(T, X)")
    check_rank("xs", xs, 2, "(T, X)")
    check_float("xs", xs)


def _shapes(params) -> str:
    return ", ".join(f"{field} {tuple(jnp.shape(leaf))}"
                     for field, leaf in params._asdict().items() if leaf is not None)


def check_divides(what: str, size: int, spec, field: str) -> None:
    """`getattr(spec, field)` must divide `size` (`what` names the size)."""
    value = getattr(spec, field)
    if size < 1 or size % value:
        raise ValueError(f"{what}={size} must be a positive multiple of "
                         f"{type(spec).__name__}.{field}={value}; were the parameters made "
                         f"for another spec?")


def check_leaf_rank(params, field: str, rank: int) -> None:
    """`params.field` must have `rank` dimensions (read before sizes are taken off it)."""
    got = jnp.ndim(getattr(params, field))
    if got != rank:
        raise ValueError(f"params.{field} must have rank {rank}, got shape "
                         f"{tuple(jnp.shape(getattr(params, field)))} (all: {_shapes(params)})")


def check_state_tree(name: str, state, expected) -> None:
    """`state` must have the same structure and leaf shapes as `expected`."""
    got_leaves, got_tree = jax.tree_util.tree_flatten(state)
    want_leaves, want_tree = jax.tree_util.tree_flatten(expected)
    if got_tree != want_tree:
        raise ValueError(f"{name} must have structure {want_tree}, got {got_tree}")
    for got, want in zip(got_leaves, want_leaves):
        if jnp.shape(got) != jnp.shape(want):
            raise ValueError(
                f"{name} must have leaf shapes "
                f"{[jnp.shape(w) for w in want_leaves]}, got {[jnp.shape(g) for g in got_leaves]}"
            )


def initial_state(name: str, state0, default):
    """`state0` checked against `default` (structure, leaf shapes, floating dtypes), or
    `default` when it is None: every layer function's initial state."""
    if state0 is None:
        return default
    check_state_tree(name, state0, default)
    for path, leaf in jax.tree_util.tree_flatten_with_path(state0)[0]:
        check_float(name + jax.tree_util.keystr(path), leaf)
    return state0


def check_finite(name: str, x) -> None:
    """Raise if the concrete array `x` holds NaN or Inf, naming the first bad index.

    For callers who ask for the check (it reads the values, so it is not for use
    under `jit`; there, use `jax.experimental.checkify`).
    """
    values = np.asarray(x)
    bad = ~np.isfinite(values)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name} must be finite, got {values[index]} at index {index} "
            f"({int(bad.sum())} non-finite values in shape {values.shape})"
        )


def check_spec_field(spec, field: str, ok: bool, expected: str) -> None:
    """Raise ValueError naming `type(spec).field`, the `expected` values and the actual one."""
    if not ok:
        raise ValueError(f"{type(spec).__name__}.{field} must be {expected}, "
                         f"got {getattr(spec, field)!r}")


def check_mode(mode: str, modes: tuple) -> None:
    """`mode` must be one of `modes`."""
    if mode not in modes:
        raise ValueError(f"mode must be one of {list(modes)}, got {mode!r}")


def check_heads(spec, hidden_size: int) -> None:
    """`spec.num_heads` must divide `hidden_size` (sLSTM, mLSTM): ValueError naming both."""
    if hidden_size % spec.num_heads:
        raise ValueError(f"hidden_size must be divisible by {type(spec).__name__}.num_heads="
                         f"{spec.num_heads}, got hidden_size={hidden_size}")
