"""The backend table and the one function that plans how an LSTM layer runs.

Backends (`BACKENDS`):

- "reference": `scan_cell` over `cell_step` — every variant, option and dtype; autodiff
  of the scan for every transformation.
- "xla_fused": the standard cell as one XLA scan over the whole batch with hand-written
  tangent and backward passes (`jaxlstm.core.backends.xla_fused`); any platform.
- "onednn": oneDNN's LSTM primitive on the CPU (`jaxlstm.core.backends.onednn`).

`plan` is a pure function of the cell, its options, the shapes, the dtype and the
platform (plus whether the kernel is built and loaded here, which `kernel_status`
reports, and whether the computation is being exported). It returns one `Plan`: the
backend, how `lengths` are handled and the layout. `jaxlstm.core.lstm.lstm` consumes it
for one sequence (reference or fused, lengths handling); the fused layer
(`jaxlstm.core.layer`) consumes it again when it is lowered, where the whole batch is
known (oneDNN or XLA, layout). `explain` asks it for the arguments of a call.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from jaxlstm.core.backends.onednn import IN_USE, kernel_status
from jaxlstm.core.backends.xla_fused import layout_for
from jaxlstm.core.params import LSTMParams, hidden_size_of
from jaxlstm.core.spec import CellSpec

BACKENDS = {
    "reference": "scan_cell over cell_step (every variant and option; autodiff of the scan)",
    "xla_fused": "the standard cell as one XLA scan over the batch, hand-written tangent and "
                 "backward passes",
    "onednn": "oneDNN's LSTM primitive (CPU, float32), through XLA's FFI",
}
# The kernel runs where it was measured faster than "xla_fused" (training step, 2-core
# AMD EPYC with AVX-512; docs/performance.md): a batch of at least MIN_BATCH sequences
# of hidden size at least MIN_HIDDEN.
MIN_BATCH = 8
MIN_HIDDEN = 128
FUSED_DTYPES = (jnp.float32, jnp.float64)
# How `lengths` are handled (`Plan.lengths`).
MASKED = "masked"            # the scan keeps the state past each length and emits zeros
FULL_LENGTH = "full_length"  # the layer runs all T steps; outputs are masked after it


@dataclasses.dataclass(frozen=True)
class Plan:
    """How a layer runs, and why.

    Attributes:
      backend: a key of `BACKENDS`.
      reason: why, in words.
      lengths: None (no lengths), `MASKED` or `FULL_LENGTH`.
      layout: the fused backends' layout: "batch_major" or "time_major" inputs of the
        oneDNN kernel, "batch_major" or "feature_major" state of the XLA scan; None for
        the reference scan and for one sequence (the batch decides it when lowered).
    """

    backend: str
    reason: str
    lengths: Optional[str] = None
    layout: Optional[str] = None

    def __str__(self) -> str:
        details = ", ".join(f"{k}={v}" for k, v in (("lengths", self.lengths),
                                                    ("layout", self.layout)) if v)
        return f"{self.backend}: {self.reason}" + (f" [{details}]" if details else "")


Choice = Plan  # the name of jaxlstm 0.2


def standard_cell_reason(spec: CellSpec, params: Optional[LSTMParams] = None, *,
                         remat=False, return_gates: bool = False,
                         compute_dtype=None) -> Optional[str]:
    """Why these options need the reference scan, or None when the fused backends apply."""
    if spec != CellSpec(forget_bias=spec.forget_bias):
        return f"{spec} is not the standard cell (the fused backends compute CellSpec() only)"
    if params is not None and params.w_proj is not None:
        return "a projection (proj_size) runs on the reference scan"
    if remat:
        return f"remat={remat!r} runs on the reference scan"
    if return_gates:
        return "return_gates=True runs on the reference scan"
    if compute_dtype is not None:
        return f"compute_dtype={jnp.dtype(compute_dtype).name} runs on the reference scan"
    return None


def plan(spec: CellSpec, *, batch: Optional[int], steps: int, input_size: int,
         hidden_size: int, dtype, platform: str, has_lengths: bool,
         params: Optional[LSTMParams] = None, remat=False, return_gates: bool = False,
         compute_dtype=None, for_export: bool = False) -> Plan:
    """The plan for an LSTM layer over `batch` sequences (None: one sequence, as `lstm`
    sees it before `vmap`) of `steps` steps of `input_size` features, in `dtype` on
    `platform`; `for_export`: the computation is being serialized by `jax.export`."""
    why = standard_cell_reason(spec, params, remat=remat, return_gates=return_gates,
                               compute_dtype=compute_dtype)
    if why is not None:
        return Plan("reference", why, lengths=MASKED if has_lengths else None)
    dtype = jnp.dtype(dtype)
    if dtype not in [jnp.dtype(d) for d in FUSED_DTYPES]:
        return Plan("reference", f"dtype {dtype.name} runs on the reference scan "
                                 f"(the fused backends take float32 and float64)",
                    lengths=MASKED if has_lengths else None)
    lengths = None
    if has_lengths:
        kernel_possible = onednn_reason(batch=MIN_BATCH, steps=steps, input_size=input_size,
                                        hidden_size=hidden_size, dtype=dtype, platform=platform,
                                        for_export=for_export) is None
        lengths = FULL_LENGTH if kernel_possible else MASKED
    if batch is None:
        return Plan("xla_fused", "the standard cell, one sequence (under vmap the batch "
                                 "decides: explain with xs (B, T, X))", lengths=lengths)
    layer = layer_plan(batch=batch, steps=steps, input_size=input_size,
                       hidden_size=hidden_size, dtype=dtype, platform=platform,
                       masked=lengths == MASKED, for_export=for_export)
    padded = ("; padded: the kernel runs all T steps, outputs past each length are zeroed "
              "and the final state is read at length - 1") if (
                  lengths == FULL_LENGTH and layer.backend == "onednn") else ""
    return dataclasses.replace(layer, reason=layer.reason + padded, lengths=lengths)


choose = plan  # the name of jaxlstm 0.2


def layer_plan(*, batch: int, steps: int, input_size: int, hidden_size: int, dtype,
               platform: str, masked: bool, for_export: bool = False) -> Plan:
    """The fused backend and layout for the standard layer over a batch of `batch`
    sequences (`masked`: with a mask of valid steps), as the layer is lowered."""
    why_not = onednn_reason(batch=batch, steps=steps, input_size=input_size,
                            hidden_size=hidden_size, dtype=dtype, platform=platform,
                            for_export=for_export)
    if why_not is None and masked:
        why_not = "a mask of valid steps (the kernel runs all T steps)"
    if why_not is None:
        layout = "batch_major" if kernel_batch_major(batch, steps) else "time_major"
        return Plan("onednn", f"the standard cell, float32 on the CPU, B={batch} >= "
                              f"{MIN_BATCH}, H={hidden_size} >= {MIN_HIDDEN}", layout=layout)
    layout = "feature_major" if layout_for(batch, hidden_size).feature_major else "batch_major"
    return Plan("xla_fused", f"the standard cell over B={batch} sequences; not oneDNN: "
                             f"{why_not}", layout=layout)


def kernel_batch_major(batch: int, steps: int) -> bool:
    """Whether the kernel takes the batch (B, T, X) as it is, or time-major: batch-major when
    B >= T, where its backward pass measured faster (docs/performance.md)."""
    return batch >= steps


def onednn_reason(*, batch: int, steps: int, input_size: int, hidden_size: int, dtype,
                  platform: str, for_export: bool = False) -> Optional[str]:
    """Why a batched standard layer does not run on the oneDNN kernel, or None when it does."""
    if platform != "cpu":
        return f"platform {platform} (the kernel is CPU-only)"
    if for_export:
        return ("jax.export (the kernel is a custom call without compatibility guarantees; "
                "the exported module holds the XLA scan, which runs on every platform)")
    if jnp.dtype(dtype) != jnp.float32:
        return f"dtype {jnp.dtype(dtype).name} (the kernel is float32)"
    if batch < MIN_BATCH:
        return f"B={batch} < {MIN_BATCH}, where the XLA scan is faster"
    if hidden_size < MIN_HIDDEN:
        return f"H={hidden_size} < {MIN_HIDDEN}, where the XLA scan is faster"
    if steps == 0 or input_size == 0:
        return f"no steps or no input features (T={steps}, X={input_size})"
    status = kernel_status()
    if status != IN_USE:
        return status
    return None


def explain(params: LSTMParams, xs: jax.Array, *, spec: CellSpec = CellSpec(),
            lengths: Optional[jax.Array] = None, remat=False, return_gates: bool = False,
            compute_dtype=None, platform: Optional[str] = None,
            for_export: bool = False) -> Plan:
    """Which backend runs `lstm(params, xs, ...)`, how, and why.

    xs (T, X) is one sequence, as `lstm` takes it; xs (B, T, X) asks for `jax.vmap(lstm)`
    (or `lstm_batch`) over B sequences. `platform` defaults to JAX's default backend;
    `for_export`: the plan when the call is lowered by `jax.export`. The arguments are
    checked as `lstm` checks them (`lengths` () or (B,) for xs (B, T, X)): a call `lstm` would
    refuse raises the same error here.
    """
    from jaxlstm.core.lstm import check_lstm_call  # lstm imports this module
    from jaxlstm.core.validation import check_array

    check_array("xs", xs, "(T, X) or (B, T, X)")
    if jnp.ndim(xs) not in (2, 3):
        raise ValueError(f"xs must have shape (T, X) or (B, T, X), got shape {jnp.shape(xs)}")
    batch = xs.shape[0] if jnp.ndim(xs) == 3 else None
    one = xs if batch is None else np.empty(xs.shape[1:], jnp.result_type(xs))  # (T, X)
    check_lstm_call(params, one, spec, lengths, remat=remat,
                    compute_dtype=compute_dtype,
                    batch_shape=(batch,) if batch is not None and np.ndim(lengths) else ())
    steps, input_size = xs.shape[-2:]
    dtype = jnp.result_type(*[a for a in params if a is not None], xs)
    return plan(spec, batch=batch, steps=steps, input_size=input_size,
                hidden_size=hidden_size_of(params), dtype=dtype,
                platform=platform or jax.default_backend(), has_lengths=lengths is not None,
                params=params, remat=remat, return_gates=return_gates,
                compute_dtype=compute_dtype, for_export=for_export)
