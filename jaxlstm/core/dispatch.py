"""The backend table and the one function that chooses a backend for an LSTM layer.

Backends (`BACKENDS`):

- "reference": `scan_cell` over `cell_step` — every variant, option, dtype and
  transformation (forward mode included); autodiff of the scan for gradients.
- "xla_fused": the standard cell as one XLA scan over the whole batch with a
  hand-written backward pass (`jaxlstm.core.backends.xla_fused`); any platform.
- "onednn": oneDNN's LSTM primitive on the CPU (`jaxlstm.core.backends.onednn`).

`choose` is a pure function of the cell, its options, the shapes, the dtype and the
platform (plus whether the kernel is built and loaded here, which `kernel_status`
reports); `explain` asks it for the arguments of an `lstm` call.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import jax
import jax.numpy as jnp

from jaxlstm.core.backends.onednn import IN_USE, kernel_status
from jaxlstm.core.params import LSTMParams, hidden_size_of
from jaxlstm.core.spec import CellSpec

BACKENDS = {
    "reference": "scan_cell over cell_step (every variant and option; autodiff backward pass)",
    "xla_fused": "the standard cell as one XLA scan over the batch, hand-written backward pass",
    "onednn": "oneDNN's LSTM primitive (CPU, float32), through XLA's FFI",
}
# The kernel runs where it was measured faster than "xla_fused" (training step, 2-core
# AMD EPYC with AVX-512; docs/performance.md): a batch of at least MIN_BATCH sequences
# of hidden size at least MIN_HIDDEN.
MIN_BATCH = 8
MIN_HIDDEN = 128
FUSED_DTYPES = (jnp.float32, jnp.float64)


@dataclasses.dataclass(frozen=True)
class Choice:
    """The backend that runs a layer, and why."""

    backend: str
    reason: str

    def __str__(self) -> str:
        return f"{self.backend}: {self.reason}"


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


def choose(spec: CellSpec, *, batch: Optional[int], steps: int, input_size: int,
           hidden_size: int, dtype, platform: str, has_lengths: bool,
           params: Optional[LSTMParams] = None, remat=False, return_gates: bool = False,
           compute_dtype=None) -> Choice:
    """The backend for an LSTM layer over `batch` sequences (None: one sequence, not under
    `vmap`) of `steps` steps of `input_size` features, in `dtype` on `platform`."""
    why = standard_cell_reason(spec, params, remat=remat, return_gates=return_gates,
                               compute_dtype=compute_dtype)
    if why is not None:
        return Choice("reference", why)
    dtype = jnp.dtype(dtype)
    if dtype not in [jnp.dtype(d) for d in FUSED_DTYPES]:
        return Choice("reference", f"dtype {dtype.name} runs on the reference scan "
                                   f"(the fused backends take float32 and float64)")
    fused = Choice("xla_fused", "the standard cell")
    if batch is None:
        return dataclasses.replace(fused, reason="the standard cell, one sequence")
    kernel = onednn_reason(batch=batch, steps=steps, input_size=input_size,
                           hidden_size=hidden_size, dtype=dtype, platform=platform,
                           has_lengths=has_lengths)
    if kernel is None:
        padded = ("; padded: the kernel runs all T steps, outputs past each length are zeroed and "
                  "the final state is read at length - 1") if has_lengths else ""
        return Choice("onednn", f"the standard cell, float32 on the CPU, B={batch} >= "
                                f"{MIN_BATCH}, H={hidden_size} >= {MIN_HIDDEN}{padded}")
    return dataclasses.replace(fused, reason=f"the standard cell over B={batch} sequences; "
                                             f"not oneDNN: {kernel}")


def pads_over_full_length(dtype) -> bool:
    """Whether `lstm` with `lengths` runs the layer over all T steps and masks it
    (`layer.padded_layer`), so that a padded batch reaches the oneDNN kernel: on the CPU
    with the kernel in use, in float32. Elsewhere the XLA scan takes the lengths itself."""
    return (jax.default_backend() == "cpu" and jnp.dtype(dtype) == jnp.float32
            and kernel_status() == IN_USE)


def onednn_reason(*, batch: int, steps: int, input_size: int, hidden_size: int, dtype,
                  platform: str, has_lengths: bool) -> Optional[str]:
    """Why a batched standard layer does not run on the oneDNN kernel, or None when it does."""
    if platform != "cpu":
        return f"platform {platform} (the kernel is CPU-only)"
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
            compute_dtype=None, platform: Optional[str] = None) -> Choice:
    """Which backend runs `lstm(params, xs, ...)` and why.

    xs (T, X) is one sequence, as `lstm` takes it; xs (B, T, X) asks for `jax.vmap(lstm)`
    (or `lstm_batch`) over B sequences. `platform` defaults to JAX's default backend.
    """
    if jnp.ndim(xs) not in (2, 3):
        raise ValueError(f"xs must have shape (T, X) or (B, T, X), got shape {jnp.shape(xs)}")
    batch = xs.shape[0] if jnp.ndim(xs) == 3 else None
    steps, input_size = xs.shape[-2:]
    dtype = jnp.result_type(*[a for a in params if a is not None], xs)
    return choose(spec, batch=batch, steps=steps, input_size=input_size,
                  hidden_size=hidden_size_of(params), dtype=dtype,
                  platform=platform or jax.default_backend(), has_lengths=lengths is not None,
                  params=params, remat=remat, return_gates=return_gates,
                  compute_dtype=compute_dtype)
