"""The standard LSTM layer over one sequence, with a batching rule that reaches the
batched backends: `jax.vmap` of it runs one batched kernel, not B scans.

`standard_layer(w_x, w_h, b, xs (T, X), h0 (H,), c0 (H,), length) -> (hs (T, H), h, c)`
computes `CellSpec()` (equations in `jaxlstm.core.backends.xla_fused`); with a `length`
(scalar int), steps at or past it keep the state and emit zeros.
`padded_layer` computes the same with a length as the layer over all T steps plus masking,
which is how `lstm` sends padded batches to the CPU kernel (`dispatch.pads_over_full_length`).

How the transformations reach the backends:

- It is a `jax.custom_vjp`. Its forward and backward passes are each a
  `jax.custom_batching.custom_vmap`: called on one sequence they run the backend
  `dispatch.choose` picks for one sequence; under `vmap` their rule receives the whole
  batch (B, ...) and runs the backend chosen for B sequences. Forward and backward
  rules choose from the same arguments, so they agree.
- The residuals are the inputs and the outputs (hs, h_T, c_T), whatever the backend:
  the XLA backward pass recomputes the gates from them, the oneDNN one finds its saved
  workspace by them.
- Parameter gradients: under `grad(vmap(layer))` JAX sums the per-sequence parameter
  gradients over the batch, so the batched backward pass may return the sum directly
  (oneDNN computes nothing else); under `vmap(grad(layer))` each sequence's own
  gradient is wanted. Which of the two a call is, is fixed when the layer is called:
  innermost under `vmap` (a BatchTrace is JAX's current trace) means the sum will be
  taken, anything else gets per-sequence gradients (`_sums_over_batch`).
- Gradients of gradients: the forward and backward passes are themselves `custom_vjp`s
  whose derivatives are those of `xla_fused.forward`, plain differentiable JAX.
- Forward mode (`jax.jvp`, `jax.jacfwd`) is not defined on this layer; `lstm(...,
  backend="reference")` runs the scan that supports it.
"""

from __future__ import annotations

import functools
from typing import Callable, Optional

import jax
import jax.numpy as jnp
from jax.custom_batching import custom_vmap

from jaxlstm.core import dispatch
from jaxlstm.core.backends import onednn, xla_fused

NUM_PARAMS = 3  # w_x, w_h, b: the arguments shared by every sequence of a batch


def standard_layer(w_x, w_h, b, xs, h0, c0, length: Optional[jax.Array] = None, *,
                   unroll: int = 1):
    """The standard LSTM over xs (T, X) from (h0, c0) (H,), see the module docstring.

    Returns `(hs (T, H), h_final (H,), c_final (H,))`.
    """
    layer = _layer(length is not None, unroll, _sums_over_batch())
    args = (w_x, w_h, b, xs, h0, c0) + ((length,) if length is not None else ())
    return layer(*args)


def padded_layer(w_x, w_h, b, xs, h0, c0, length, *, unroll: int = 1):
    """`standard_layer(..., length)` computed as the layer over all T steps
    (`standard_layer` without a length, so that `vmap` of it reaches the batched kernel)
    followed by masking:

      hs_t = h_t for t < length, 0 after;  h_final = h_{length-1} (h0 when length = 0);
      c_final = c_{length-1}, recomputed from xs and the h_{t-1} of the full pass as
      c_t = f_t c_{t-1} + i_t g_t over the valid steps (one matmul for all t, then an
      elementwise scan; dropped by XLA when c_final is not used).

    Steps past the length see padding, but the recurrence is causal, so no valid output
    depends on them; gradients reach them as zeros. Derivatives are those of the
    composition: the kernel's backward pass for hs, autodiff for the masking and c_final.
    """
    hs_full, _, _ = standard_layer(w_x, w_h, b, xs, h0, c0, unroll=unroll)
    steps = xs.shape[0]
    valid = jnp.arange(steps) < length
    hs = jnp.where(valid[:, None], hs_full, 0.0)
    h = jnp.where(length > 0, hs_full[jnp.clip(length - 1, 0, steps - 1)], h0)
    h_prev = jnp.concatenate([h0[None], hs_full[:-1]])
    *_, cs = xla_fused.recompute(w_x, w_h, b, xs[:, None], h_prev[:, None], c0[None],
                                 valid[:, None, None])
    return hs, h, cs[-1, 0]


def _sums_over_batch() -> bool:
    """Whether the innermost transformation at this call is `vmap` (see the module docstring)."""
    try:
        from jax._src import core
        from jax._src.interpreters import batching
        return isinstance(core.trace_ctx.trace, batching.BatchTrace)
    except (ImportError, AttributeError):  # another JAX: per-sequence gradients, always right
        return False


def _swap(a):
    """(B, T, ...) <-> (T, B, ...)."""
    return jnp.swapaxes(a, 0, 1)


def _time_major_valid(lengths: Optional[jax.Array], steps: int) -> Optional[jax.Array]:
    if lengths is None:
        return None
    return (jnp.arange(steps)[:, None] < lengths[None, :])[..., None]


def _choose(xs, w_h, *, has_length: bool) -> dispatch.Choice:
    batch, steps, features = xs.shape
    return dispatch.choose(dispatch.CellSpec(), batch=batch, steps=steps,
                           input_size=features, hidden_size=w_h.shape[0], dtype=xs.dtype,
                           platform=jax.default_backend(), has_lengths=has_length)


def _kernel_batch_major(xs) -> bool:
    """Whether the kernel takes the batch (B, T, X) as it is, or time-major: batch-major when
    B >= T, where its backward pass measured faster (docs/performance.md)."""
    return xs.shape[0] >= xs.shape[1]


def _forward(w_x, w_h, b, xs, h0, c0, lengths=None, *, unroll: int, train: bool):
    """The batch xs (B, T, X), h0, c0 (B, H), lengths (B,) on the chosen backend ->
    (hs (B, T, H), h (B, H), c (B, H))."""
    choice = _choose(xs, w_h, has_length=lengths is not None)
    if choice.backend == "onednn" and lengths is None:  # lengths reach it through padded_layer
        if _kernel_batch_major(xs):
            return onednn.forward(w_x, w_h, b, xs, h0, c0, batch_major=True, train=train)
        hs, h, c = onednn.forward(w_x, w_h, b, _swap(xs), h0, c0, batch_major=False, train=train)
        return _swap(hs), h, c
    valid = _time_major_valid(lengths, xs.shape[1])
    hs, h, c = xla_fused.forward(w_x, w_h, b, _swap(xs), h0, c0, valid, unroll)
    return _swap(hs), h, c


def _backward(w_x, w_h, b, xs, h0, c0, *rest, unroll: int, per_example: bool):
    """Gradients for the batch: rest = ([lengths], hs, h, c, d_hs, d_h, d_c), batch-major.
    Parameter gradients are per sequence (leading B) with `per_example`, else summed."""
    lengths, (hs, h, c, d_hs, d_h, d_c) = (rest[0], rest[1:]) if len(rest) == 7 else (None, rest)
    choice = _choose(xs, w_h, has_length=lengths is not None)
    if choice.backend == "onednn" and lengths is None and not per_example:
        primals = (w_x, w_h, b, xs, h0, c0)
        if _kernel_batch_major(xs):
            return onednn.backward(primals, (hs, h, c), (d_hs, d_h, d_c), batch_major=True)
        primals = (w_x, w_h, b, _swap(xs), h0, c0)
        grads = onednn.backward(primals, (_swap(hs), h, c), (_swap(d_hs), d_h, d_c),
                                batch_major=False)
        return grads[:3] + (_swap(grads[3]),) + grads[4:]
    valid = _time_major_valid(lengths, xs.shape[1])
    d_w_x, d_w_h, d_b, d_xs, d_h0, d_c0 = xla_fused.backward(
        w_x, w_h, b, _swap(xs), h0, c0, valid, _swap(hs), _swap(d_hs), d_h, d_c, unroll,
        per_example=per_example)
    return d_w_x, d_w_h, d_b, _swap(d_xs), d_h0, d_c0


def _reference(w_x, w_h, b, xs, h0, c0, length=None, *, unroll: int):
    """One sequence through `xla_fused.forward` (plain JAX): the derivative of the
    forward and backward passes, for gradients of gradients."""
    valid = None if length is None else (jnp.arange(xs.shape[0]) < length)[:, None, None]
    hs, h, c = xla_fused.forward(w_x, w_h, b, xs[:, None], h0[None], c0[None], valid, unroll)
    return hs[:, 0], h[0], c[0]


def _over_batch(batched: Callable, batched_outputs: tuple[bool, ...]):
    """`batched` (params, then per-sequence arguments with a leading batch axis) as a
    function of one sequence, with a `custom_vmap` rule that hands it the whole batch.

    `batched_outputs[k]` says whether output k of `batched` has the batch axis; the
    ones that do not (summed parameter gradients) are returned as such by the rule.
    """
    def one(*args):
        params, per_seq = args[:NUM_PARAMS], args[NUM_PARAMS:]
        outs = batched(*params, *[a[None] for a in per_seq])
        return tuple(o[0] if has_batch else o for o, has_batch in zip(outs, batched_outputs))

    f = custom_vmap(one)

    @f.def_vmap
    def rule(axis_size, in_batched, *args):
        if any(in_batched[:NUM_PARAMS]):  # parameters differ per sequence (an ensemble)
            in_axes = tuple(0 if is_b else None for is_b in in_batched)
            return jax.vmap(one, in_axes=in_axes)(*args), (True,) * len(batched_outputs)
        per_seq = [a if is_b else jnp.broadcast_to(a, (axis_size,) + a.shape)
                   for a, is_b in zip(args[NUM_PARAMS:], in_batched[NUM_PARAMS:])]
        return tuple(batched(*args[:NUM_PARAMS], *per_seq)), batched_outputs

    return f


@functools.cache
def _layer(has_length: bool, unroll: int, summed: bool):
    """The `custom_vjp` layer for one (has_length, unroll, summed) combination."""
    num_args = 7 if has_length else 6
    reference = functools.partial(_reference, unroll=unroll)
    infer = _over_batch(functools.partial(_forward, unroll=unroll, train=False), (True,) * 3)
    train = _over_batch(functools.partial(_forward, unroll=unroll, train=True), (True,) * 3)
    grads = _over_batch(functools.partial(_backward, unroll=unroll, per_example=not summed),
                        (not summed,) * NUM_PARAMS + (True,) * 3)

    def no_cotangent(args):
        return (None,) if has_length else ()

    def reference_grads(primals, cotangents):
        """The cotangents of (w_x, w_h, b, xs, h0, c0), through `reference`."""
        return jax.vjp(reference, *primals)[1](tuple(cotangents))[:6]

    # The forward pass of training, differentiable through the reference.
    train_d = jax.custom_vjp(train)
    train_d.defvjp(lambda *args: (train(*args), args),
                   lambda args, ct: reference_grads(args, ct) + no_cotangent(args))

    # The backward pass, differentiable through the reference: args = (primals, outputs,
    # cotangents); the outputs are functions of the primals, so they get zero cotangents.
    grads_d = jax.custom_vjp(grads)

    def grads_bwd(args, d_grads):
        primals, outputs, cts = args[:num_args], args[num_args:num_args + 3], args[num_args + 3:]
        d_primals, d_cts = jax.vjp(reference_grads, primals, cts)[1](tuple(d_grads))
        d_primals = tuple(d_primals[:6]) + no_cotangent(args)
        return d_primals + tuple(jnp.zeros_like(o) for o in outputs) + tuple(d_cts)

    grads_d.defvjp(lambda *args: (grads(*args), args), grads_bwd)

    layer = jax.custom_vjp(infer)

    def layer_fwd(*args):
        outputs = train_d(*args)
        return outputs, (args, outputs)

    def layer_bwd(residuals, cotangents):
        args, outputs = residuals
        cotangents = tuple(cotangents)
        return tuple(grads_d(*args, *outputs, *cotangents)) + no_cotangent(args)

    layer.defvjp(layer_fwd, layer_bwd)
    return layer
