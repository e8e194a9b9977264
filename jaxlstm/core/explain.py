"""`explain`: how a layer call of any cell family runs, and why, without running it.

The family is read off the parameters' type (`family_of_params`). The call's arguments
are checked as the family's layer function checks them, so an invalid call raises the
error the call would raise. The standard LSTM in mode "scan" is planned by
`dispatch.plan` (reference scan, XLA fused scan or oneDNN); every other family and mode
runs its own JAX code (`Plan.backend == "jax"`) in the form `Plan.mode` names.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from jaxlstm.core import dispatch
from jaxlstm.core.family import family_of_params
from jaxlstm.core.params import hidden_size_of
from jaxlstm.core.scan import check_sequence
from jaxlstm.core.lstm import check_lstm_call
from jaxlstm.core.validation import check_array, check_layer_call, check_lengths, check_mode

SCAN = "lax.scan over the step"
FORMS = {
    "scan": SCAN, "recurrent": SCAN, "sequential": SCAN,
    "parallel": "all steps at once (the parallel form)",
    "chunkwise": "chunks in the parallel form, a scan across chunks",
    "newton": "Newton's method over associative scans (DEER), the sequential scan when it "
              "has not converged",
    "quasi_newton": "Newton's method with diagonal Jacobians (quasi-DEER), the sequential "
                    "scan when it has not converged",
}


def explain(params, xs: jax.Array, *, spec=None, mode: Optional[str] = None,
            lengths: Optional[jax.Array] = None, remat=False, return_gates: bool = False,
            compute_dtype=None, platform: Optional[str] = None,
            for_export: bool = False) -> dispatch.Plan:
    """Which backend and form run `layer(params, xs, spec=spec, mode=mode, lengths=...)`,
    and why, for the family `params` belong to (`J.lstm`, `J.gru`, `J.mlstm`, ...).

    xs (T, X) is one sequence, as the layer takes it; xs (B, T, X) asks for `jax.vmap` of
    the layer (or `lstm_batch`) over B sequences, with `lengths` (B,) or (). `mode` None is the
    layer's default; "auto" is resolved for T steps. `platform` defaults to JAX's default
    backend; `for_export`: the plan when the call is lowered by `jax.export`. The
    remaining options are the LSTM's (they decide between its backends).
    """
    family = family_of_params(params)
    spec = family.spec_type() if spec is None else spec
    check_array("xs", xs, "(T, X) or (B, T, X)")
    if jnp.ndim(xs) not in (2, 3):
        raise ValueError(f"xs must have shape (T, X) or (B, T, X), got shape {jnp.shape(xs)}")
    batch = xs.shape[0] if jnp.ndim(xs) == 3 else None
    one = xs if batch is None else np.empty(xs.shape[1:], jnp.result_type(xs))  # (T, X)
    batch_shape = (batch,) if batch is not None and np.ndim(lengths) else ()
    if family.name == "lstm":
        check_lstm_call(params, one, spec, lengths, remat=remat, compute_dtype=compute_dtype,
                        batch_shape=batch_shape)
    else:
        check_layer_call(family, params, one, spec)
        check_sequence(one, family.input_size(params), None)
        if lengths is not None:
            check_lengths(lengths, one.shape[0], batch_shape)
    if mode is not None:
        check_mode(mode, family.modes)  # the layer functions' own check and message
    form = family.form(mode, one.shape[0])
    lengths_rule = None if lengths is None else dispatch.MASKED
    if family.name != "lstm" or form != "scan":
        given = family.modes[0] if mode is None else mode
        why = f"{family.name} mode={given!r}: {FORMS.get(form, form)}"
        if given == "auto":
            why += f" ({form!r}, the family's default_mode for T={one.shape[0]})"
        return dispatch.Plan("jax", why, lengths=lengths_rule, mode=form)
    dtype = jnp.result_type(*[a for a in params if a is not None], xs)
    plan = dispatch.plan(spec, batch=batch, steps=one.shape[0], input_size=one.shape[1],
                         hidden_size=hidden_size_of(params), dtype=dtype,
                         platform=platform or jax.default_backend(),
                         has_lengths=lengths is not None, params=params, remat=remat,
                         return_gates=return_gates, compute_dtype=compute_dtype,
                         for_export=for_export)
    return dataclasses.replace(plan, mode=form)
