"""The driver: running a recurrent cell over time with `lax.scan` (the Theano `scan` of
seed 001).

`scan_cell` is the one driver every cell family's reference path goes through, so
lengths, masking, reversal, unrolling and rematerialisation are written once.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxlstm.core.validation import (check_float, check_layer_call, check_lengths, check_rank,
                                    clamp_lengths, initial_state)
from jaxlstm.core.varying import match_varying_tree

Step = Callable[[Any, Any, jax.Array], tuple[Any, Any]]


def valid_prefix_reversal(num_steps: int, length: jax.Array) -> jax.Array:
    """Indices (T,) that reverse the first `length` steps and keep the rest in place.

    t -> length - 1 - t for t < length, else t. It is its own inverse.
    """
    t = jnp.arange(num_steps)
    return jnp.where(t < length, length - 1 - t, t)


def reverse_valid_prefix(xs: jax.Array, lengths: Optional[jax.Array]) -> jax.Array:
    """xs ((B,) T, F) with the first `lengths` ((B,) ints) steps reversed; all T when None.

    Running a layer forwards over the result and applying this again to its
    outputs is running it with `reverse=True`. It is its own inverse.
    """
    if lengths is None:
        return jnp.flip(xs, axis=-2)
    order = valid_prefix_reversal(xs.shape[-2], jnp.expand_dims(lengths, -1))
    return jnp.take_along_axis(xs, order[..., None], axis=-2)


def scan_cell(
    step: Step,
    params: Any,
    xs: jax.Array,
    state0: Any,
    *,
    lengths: Optional[jax.Array] = None,
    reverse: bool = False,
    unroll: int = 1,
    remat: int | bool = False,
):
    """Run `step(params, state, x) -> (state, out)` over xs: (T, X).

    With `lengths` (a scalar int), steps t >= lengths keep the state and emit
    zeros, and the final state is the state after step lengths - 1. The padded inputs
    are replaced by zeros before the step sees them, so whatever they hold (NaN, inf)
    reaches neither the outputs nor the gradients; lengths outside [0, T] (possible
    only under `jit`, see `clamp_lengths`) are clamped to it. `reverse`
    runs from the last valid step to the first (only the valid prefix is
    reversed); outputs are always returned in input order.

    `remat` trades compute for memory in the backward pass: False/0 stores every
    step's intermediates; True/1 recomputes each step (stores the T carries);
    k > 1 stores the carry only every k steps and recomputes each chunk of k
    steps (T/k carries + k steps of intermediates; k ≈ √T is the usual choice).
    Values and gradients are the same for every setting (the parameter
    gradients up to the order in which the per-step terms are summed).

    Returns `(final_state, outs)` with outs stacked along a leading T axis.
    """
    chunk = check_remat(remat)
    if chunk == 1:
        step = jax.checkpoint(step)
    if lengths is None:
        body, inputs = (lambda s, x: step(params, s, x)), xs
    else:
        num_steps = xs.shape[0]
        lengths = clamp_lengths(lengths, num_steps)
        xs = zero_padded_steps(xs, lengths)
        if reverse:
            xs = reverse_valid_prefix(xs, lengths)
        inputs = (xs, jnp.arange(num_steps) < lengths)

        def body(state, inputs):
            x, is_valid = inputs
            new_state, out = step(params, state, x)
            new_state = jax.tree.map(lambda n, o: jnp.where(is_valid, n, o), new_state, state)
            out = jax.tree.map(lambda y: jnp.where(is_valid, y, jnp.zeros_like(y)), out)
            return new_state, out

    scan_reverse = reverse and lengths is None
    if chunk > 1:
        final, outs = chunked_checkpoint_scan(body, state0, inputs, chunk=chunk,
                                              reverse=scan_reverse, unroll=unroll)
    else:
        final, outs = lax.scan(body, state0, inputs, reverse=scan_reverse, unroll=unroll)
    if lengths is not None and reverse:
        outs = jax.tree.map(lambda y: reverse_valid_prefix(y, lengths), outs)
    return final, outs


def check_remat(remat) -> int:
    """`remat` as a chunk length: 0 (no remat), 1 (every step) or k > 1."""
    if isinstance(remat, (bool, int, np.integer)) and remat >= 0:
        return int(remat)
    raise ValueError(
        f"remat must be a bool or an int >= 0 (0/False: none, 1/True: every step, "
        f"k > 1: checkpoint every k steps), got {remat!r}")


def chunked_checkpoint_scan(body, carry, xs, *, chunk: int, reverse: bool = False,
                            unroll: int = 1):
    """`lax.scan(body, carry, xs, reverse=reverse)` that stores the carry every `chunk` steps.

    The T steps (xs leaves have leading axis T) run as an outer scan over
    T // chunk chunks whose body is a `jax.checkpoint`-ed inner scan of `chunk`
    steps, then the remaining T % chunk steps as one more checkpointed scan
    (first when `reverse`). Backward memory: T/chunk carries plus one chunk of
    step intermediates, for one extra forward pass of compute.
    """
    num_steps = jax.tree.leaves(xs)[0].shape[0]
    num_chunks, rest = divmod(num_steps, chunk)
    split = num_chunks * chunk

    def scan_steps(c, x):
        return lax.scan(body, c, x, reverse=reverse, unroll=unroll)

    run_tail = jax.checkpoint(scan_steps)
    if num_chunks == 0:
        return run_tail(carry, xs)
    in_chunks = jax.checkpoint(scan_steps, prevent_cse=False)  # lax.scan already prevents CSE
    head = jax.tree.map(lambda a: a[:split].reshape(num_chunks, chunk, *a.shape[1:]), xs)
    tail = jax.tree.map(lambda a: a[split:], xs)
    if reverse and rest:
        carry, tail_outs = run_tail(carry, tail)
    carry, outs = lax.scan(in_chunks, carry, head, reverse=reverse)
    outs = jax.tree.map(lambda a: a.reshape(split, *a.shape[2:]), outs)
    if not reverse and rest:
        carry, tail_outs = run_tail(carry, tail)
    if rest:
        outs = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), outs, tail_outs)
    return carry, outs


def check_sequence(xs, input_size: int, lengths) -> None:
    """Checks shared by every layer function: xs (T, X) float, lengths in range."""
    check_rank("xs", xs, 2, "(T, X)")
    check_float("xs", xs)
    if xs.shape[1] != input_size:
        raise ValueError(
            f"xs must have shape (T, input_size={input_size}), got shape {xs.shape}"
        )
    if lengths is not None:
        check_lengths(lengths, xs.shape[0])


def zero_padded_steps(xs: jax.Array, lengths: Optional[jax.Array]) -> jax.Array:
    """xs (T, F) with the rows t >= lengths replaced by zeros (a select, not a product, so a
    NaN or inf there reaches neither the arithmetic after it nor its gradients)."""
    if lengths is None:
        return xs
    valid = (jnp.arange(xs.shape[0]) < lengths)[:, None]
    return jnp.where(valid, xs, jnp.zeros((), xs.dtype))


def prepare_layer(family, params, xs, state0, *, spec, lengths, state_name: str = "state0"):
    """The prologue every family's layer function runs before its arithmetic.

    1. `check_layer_call`: `spec`, `params` (type, float leaves, the shapes `spec` implies)
       and `xs` (T, X); `lengths` (integers, in [0, T] where concrete); `state0` (the
       structure and shapes of the family's zero state, floating).
    2. One dtype: `jnp.result_type(params..., xs)`; params, xs and state0 are cast to it
       (float32 parameters with float64 inputs under `jax_enable_x64` compute in float64,
       as `lstm` does).
    3. `lengths` clamped to [0, T] (`clamp_lengths`) and the padded steps of xs zeroed
       (`zero_padded_steps`), so no mode of any family sees what they held.
    4. Inside `shard_map`, state0 cast to vary over the mesh axes xs and params vary over
       (`match_varying_tree`), so a scan's carry keeps its type (`check_vma`).

    Returns `(params, xs, state0, lengths)`.
    """
    check_layer_call(family, params, xs, spec)
    check_sequence(xs, family.input_size(params), lengths)
    dtype = jnp.result_type(*jax.tree.leaves(params), xs)
    params = jax.tree.map(lambda a: a.astype(dtype), params)
    xs = xs.astype(dtype)
    state0 = initial_state(state_name, state0, family.zero_state(params, spec))
    state0 = jax.tree.map(lambda a: a.astype(dtype), state0)
    if lengths is not None:
        lengths = clamp_lengths(lengths, xs.shape[0])
        xs = zero_padded_steps(xs, lengths)
    state0 = match_varying_tree(state0, xs, *jax.tree.leaves(params))
    return params, xs, state0, lengths
