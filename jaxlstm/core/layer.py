"""The standard LSTM layer as a JAX operation with a rule for every transformation.

`standard_layer(w_x, w_h, b, xs (T, X), h0 (H,), c0 (H,), length) -> (hs (T, H), h, c)`
computes `CellSpec()` (equations in `jaxlstm.core.backends.xla_fused`) over one sequence;
with a `length` (scalar int), steps at or past it keep the state and emit zeros.
`padded_layer` computes the same as the layer over all T steps plus masking, which is
how `lstm` sends padded batches to the CPU kernel (`dispatch.FULL_LENGTH`).

Three primitives, each over a batch (B, ...) of sequences with shared parameters:

- `lstm_layer`: the layer (w_x, w_h, b, xs (B, T, X), h0, c0 (B, H)[, valid (B, T)])
  -> (hs (B, T, H), h_T, c_T). Lowered to the backend `dispatch.layer_plan` picks for
  the whole batch, platform and dtype: oneDNN's kernel on the CPU (not when the
  computation is exported with `jax.export`), else the XLA scan.
- `lstm_layer_tangent`: its forward-mode derivative, linear in the input tangents
  (ẇ_x, ẇ_h, ḃ, ẋs, ḣ0, ċ0) given the inputs and hs (`xla_fused.tangent`: one matmul
  over all steps and one scan).
- `lstm_layer_backward`: the transpose of the tangent, i.e. the reverse-mode derivative
  for cotangents (∂hs, ∂h_T, ∂c_T) -> (∂w_x, ∂w_h, ∂b, ∂xs, ∂h0, ∂c0), the parameter
  gradients summed over the batch: oneDNN's backward pass or `xla_fused.backward`.

How the transformations reach them:

- `jvp`/`jacfwd`/`linearize`: the JVP of `lstm_layer` is the layer (its training form,
  which keeps oneDNN's workspace) and its tangent. `grad`/`vjp`/`jacrev`: JAX
  linearizes, then transposes the tangent into the backward pass.
- `vmap`: each rule folds the mapped axis into the primitive's batch axis, so
  `jax.vmap(lstm)` is one batched kernel. The backward pass's parameter gradients are
  summed over its own batch but not over a mapped axis: under `vmap(grad(lstm))` the
  mapped axis is an axis of separate computations, so each sequence gets its own
  gradient (the XLA backward pass's per-example form). Parameters that differ per
  mapped element (an ensemble) run one layer per element (`lax.map`).
- Higher derivatives (Hessians, `grad` of `grad`, `jacfwd` of `jacrev`): the tangent
  and backward primitives are differentiated as the plain-JAX `xla_fused.tangent` and
  `xla_fused.backward` they compute.
- `shard_map` with `check_vma`: the inputs are cast to vary over the same mesh axes
  (`jaxlstm.core.varying`) and the outputs vary like them.
- `jax.export`: the lowering sees that it is exporting and emits the XLA scan, which has
  compatibility guarantees and runs on every platform.
"""

from __future__ import annotations

import functools
from typing import Optional

import jax
import jax.numpy as jnp
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

from jaxlstm.core import dispatch
from jaxlstm.core.backends import onednn, xla_fused
from jaxlstm.core.varying import match_varying

NUM_PRIMALS = 6  # w_x, w_h, b, xs, h0, c0
NUM_PARAMS = 3   # w_x, w_h, b: shared by every sequence of the primitive's batch


def standard_layer(w_x, w_h, b, xs, h0, c0, length: Optional[jax.Array] = None, *,
                   unroll: int = 1):
    """The standard LSTM over xs (T, X) from (h0, c0) (H,), see the module docstring.

    Returns `(hs (T, H), h_final (H,), c_final (H,))`.
    """
    extra = ()
    if length is not None:
        extra = ((jnp.arange(xs.shape[0]) < length)[None],)
    args = (w_x, w_h, b, xs[None], h0[None], c0[None]) + extra
    hs, h, c = _bind(layer_p, *args, has_valid=length is not None, unroll=unroll, train=False)
    return hs[0], h[0], c[0]


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
    composition: the layer's for hs, autodiff for the masking and c_final.
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


# ---- what each primitive computes, on a batch-major batch -------------------------------

def _swap(a):
    """(B, T, ...) <-> (T, B, ...)."""
    return jnp.swapaxes(a, 0, 1)


def _unpack(args, has_valid: bool):
    """(the 6 primals, valid (T, B, 1) or None, the remaining arguments)."""
    primals = args[:NUM_PRIMALS]
    valid = _swap(args[NUM_PRIMALS])[..., None] if has_valid else None
    return primals, valid, args[NUM_PRIMALS + has_valid:]


def _plan(xs, w_h, has_valid, platform, for_export) -> dispatch.Plan:
    batch, steps, features = xs.shape
    return dispatch.layer_plan(batch=batch, steps=steps, input_size=features,
                               hidden_size=w_h.shape[0], dtype=xs.dtype, platform=platform,
                               masked=has_valid, for_export=for_export)


def _forward(*args, has_valid, unroll, train, platform="other", for_export=False):
    (w_x, w_h, b, xs, h0, c0), valid, _ = _unpack(args, has_valid)
    plan = _plan(xs, w_h, has_valid, platform, for_export)
    if plan.backend == "onednn":
        if plan.layout == "batch_major":
            return onednn.forward(w_x, w_h, b, xs, h0, c0, batch_major=True, train=train)
        hs, h, c = onednn.forward(w_x, w_h, b, _swap(xs), h0, c0, batch_major=False,
                                  train=train)
        return _swap(hs), h, c
    hs, h, c = xla_fused.forward(w_x, w_h, b, _swap(xs), h0, c0, valid, unroll)
    return _swap(hs), h, c


def _tangent(*args, has_valid, unroll, nonzero, **_):
    """The tangents of (hs, h_T, c_T); tangents marked zero in `nonzero` are not read."""
    (w_x, w_h, b, xs, h0, c0), valid, (hs, _h, _c, *dots) = _unpack(args, has_valid)
    dots = [d if nz else None for d, nz in zip(dots, nonzero)]
    if dots[3] is not None:
        dots[3] = _swap(dots[3])
    d_hs, d_h, d_c = xla_fused.tangent(w_x, w_h, b, _swap(xs), h0, c0, valid, _swap(hs),
                                       *dots, unroll)
    return _swap(d_hs), d_h, d_c


def _backward(*args, has_valid, unroll, per_example=False, platform="other",
              for_export=False):
    """The cotangents of the primals; with `per_example`, parameter cotangents per sequence
    (leading B) instead of summed."""
    (w_x, w_h, b, xs, h0, c0), valid, (hs, h, c, d_hs, d_h, d_c) = _unpack(args, has_valid)
    plan = _plan(xs, w_h, has_valid, platform, for_export)
    if plan.backend == "onednn" and not per_example:
        if plan.layout == "batch_major":
            return onednn.backward((w_x, w_h, b, xs, h0, c0), (hs, h, c), (d_hs, d_h, d_c),
                                   batch_major=True)
        grads = onednn.backward((w_x, w_h, b, _swap(xs), h0, c0), (_swap(hs), h, c),
                                (_swap(d_hs), d_h, d_c), batch_major=False)
        return grads[:3] + (_swap(grads[3]),) + grads[4:]
    d_w_x, d_w_h, d_b, d_xs, d_h0, d_c0 = xla_fused.backward(
        w_x, w_h, b, _swap(xs), h0, c0, valid, _swap(hs), _swap(d_hs), d_h, d_c, unroll,
        per_example=per_example)
    return d_w_x, d_w_h, d_b, _swap(d_xs), d_h0, d_c0


# ---- the primitives ---------------------------------------------------------------------

def _bind(prim, *args, **params):
    return prim.bind(*match_varying(*args), **params)


def _primitive(name: str, impl, abstract_eval, *, chooses_backend: bool) -> Primitive:
    """A primitive computing `impl`, lowered per platform (`chooses_backend`: `impl` takes
    the platform and whether the lowering is for `jax.export`)."""
    prim = Primitive(name)
    prim.multiple_results = True
    prim.def_abstract_eval(abstract_eval)

    @functools.cache
    def compiled(params):
        return jax.jit(functools.partial(prim.bind, **dict(params)))

    prim.def_impl(lambda *args, **params: compiled(tuple(sorted(params.items())))(*args))

    def lowering(platform):
        def rule(ctx, *args, **params):
            if chooses_backend:
                params = dict(params, platform=platform,
                              for_export=ctx.module_context.lowering_parameters.for_export)
            return mlir.lower_fun(functools.partial(impl, **params),
                                  multiple_results=True)(ctx, *args)
        return rule

    mlir.register_lowering(prim, lowering("other"))
    if chooses_backend:
        mlir.register_lowering(prim, lowering("cpu"), platform="cpu")
    return prim


def _outputs_abstract(*avals, **_):
    """(hs (B, T, H), h (B, H), c (B, H)) of the layer and of its tangent, varying like xs."""
    xs, h0, c0 = avals[3:6]
    hidden = avals[1].shape[0]
    return xs.update(shape=xs.shape[:2] + (hidden,)), h0, c0


def _backward_abstract(*avals, has_valid, unroll):
    return tuple(avals[:NUM_PRIMALS])


layer_p = _primitive("lstm_layer", _forward, _outputs_abstract, chooses_backend=True)
tangent_p = _primitive("lstm_layer_tangent", _tangent, _outputs_abstract,
                       chooses_backend=False)
backward_p = _primitive("lstm_layer_backward", _backward, _backward_abstract,
                        chooses_backend=True)


# ---- differentiation --------------------------------------------------------------------

def _instantiate(tangents):
    return [ad.instantiate_zeros(t) for t in tangents]


def _layer_jvp(primals, tangents, *, has_valid, unroll, train):
    outs = _bind(layer_p, *primals, has_valid=has_valid, unroll=unroll, train=True)
    tangents = tangents[:NUM_PRIMALS]
    nonzero = tuple(type(t) is not ad.Zero for t in tangents)
    d_outs = _bind(tangent_p, *primals, *outs, *_instantiate(tangents), has_valid=has_valid,
                   unroll=unroll, nonzero=nonzero)
    return outs, d_outs


def _tangent_transpose(cts, *args, has_valid, unroll, nonzero):
    known, dots = args[:-NUM_PRIMALS], args[-NUM_PRIMALS:]
    if any(ad.is_undefined_primal(a) for a in known):
        raise NotImplementedError("lstm_layer_tangent is linear in its last 6 arguments only")
    grads = _bind(backward_p, *known, *_instantiate(cts), has_valid=has_valid, unroll=unroll)
    return [None] * len(known) + [g if ad.is_undefined_primal(d) and nz else None
                                  for g, d, nz in zip(grads, dots, nonzero)]


def _plain_jvp(fn):
    """A JVP rule differentiating `fn` (plain JAX) with autodiff."""
    def rule(primals, tangents, **params):
        tangents = [ad.instantiate_zeros(t) if jnp.issubdtype(p.dtype, jnp.inexact)
                    else jnp.zeros(p.shape, jax.dtypes.float0)
                    for p, t in zip(primals, tangents)]
        return jax.jvp(functools.partial(fn, **params), tuple(primals), tuple(tangents))
    return rule


ad.primitive_jvps[layer_p] = _layer_jvp
ad.primitive_jvps[tangent_p] = _plain_jvp(_tangent)
ad.primitive_jvps[backward_p] = _plain_jvp(_backward)
ad.primitive_transposes[tangent_p] = _tangent_transpose


# ---- batching ---------------------------------------------------------------------------

def _mapped_size(args, dims) -> int:
    return next(a.shape[d] for a, d in zip(args, dims) if d is not None)


def _fold(args, dims, per_sequence, size):
    """The per-sequence arguments with the mapped axis folded into their batch axis
    (size·B, ...); the others as they are (they are not mapped)."""
    out = []
    for a, d, per_seq in zip(args, dims, per_sequence):
        if not per_seq:
            out.append(a)
            continue
        a = jnp.moveaxis(a, d, 0) if d is not None else jnp.broadcast_to(a, (size,) + a.shape)
        out.append(a.reshape((size * a.shape[1],) + a.shape[2:]))
    return out


def _unfold(outs, size):
    return [o.reshape((size, o.shape[0] // size) + o.shape[1:]) for o in outs]


def _plain(prim):
    """What `prim` computes, in plain JAX (the XLA backends)."""
    return {layer_p: _forward, tangent_p: _tangent, backward_p: _backward}[prim]


def _is_parameter(index: int, num_args: int, prim) -> bool:
    """Whether argument `index` of `prim` is shared by the primitive's batch: w_x, w_h, b,
    and the tangent primitive's ẇ_x, ẇ_h, ḃ."""
    if index < NUM_PARAMS:
        return True
    return prim is tangent_p and num_args - NUM_PRIMALS <= index < num_args - NUM_PRIMALS + 3


def _batch_rule(prim):
    def rule(args, dims, **params):
        size = _mapped_size(args, dims)
        parameter = [_is_parameter(k, len(args), prim) for k in range(len(args))]
        if any(d is not None for d, p in zip(dims, parameter) if p):
            # parameters (or their tangents) per mapped element: an ensemble, or jacfwd
            # with respect to the parameters; vmap of the plain-JAX form
            outs = jax.vmap(functools.partial(_plain(prim), **params), in_axes=tuple(dims))(*args)
            return list(outs), [0] * len(outs)
        folded = _fold(args, dims, [not p for p in parameter], size)
        if prim is backward_p:  # a mapped axis is not summed over: per-element gradients
            outs = _backward(*folded, per_example=True, **params)
            param_grads = [g.reshape((size, -1) + g.shape[1:]).sum(1) for g in outs[:NUM_PARAMS]]
            return param_grads + _unfold(outs[NUM_PARAMS:], size), [0] * NUM_PRIMALS
        outs = prim.bind(*folded, **params)
        return _unfold(outs, size), [0] * len(outs)
    return rule


for _prim in (layer_p, tangent_p, backward_p):
    batching.primitive_batchers[_prim] = _batch_rule(_prim)
