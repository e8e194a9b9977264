"""oneDNN's LSTM primitive as `fused_lstm`'s CPU kernel, through XLA's FFI.

The kernel (jaxlstm/kernels/onednn_lstm.cc, built when the package is installed and
linked against the `onednn-cpu-gomp` wheel) computes the same layer as `fused_lstm`:
xs (T, B, X), h0 and c0 (B, H), w_x (X, 4H), w_h (H, 4H), b (4H,) -> hs (T, B, H),
h_T, c_T, float32, gate blocks i, f, g, o. Its backward pass reruns the forward pass
in training mode into memory it keeps (oneDNN's workspace) and then runs oneDNN's
backward pass, so the residuals are the inputs alone. `fused_lstm` uses it on the CPU
for float32 layers with B >= 8 and no `lengths`; everything else, and every platform
but the CPU, runs the XLA scan.

`JAXLSTM_KERNEL=xla` in the environment turns the kernel off (read when a function is
traced); `kernel_status()` says whether it is in use and why not. Loading the kernel
sets OMP_WAIT_POLICY=active unless it is set: oneDNN's OpenMP threads otherwise sleep
between the per-step parallel regions (S1 training step 98 -> 60 ms with it).

Gradients of gradients: the kernel's forward and backward passes are `custom_vjp`s
whose own derivatives are those of the XLA scan, so `jax.hessian` and friends work
(they recompute through the scan).
"""

from __future__ import annotations

import ctypes
import functools
import glob
import importlib.metadata
import os
from typing import Optional

import jax
import jax.numpy as jnp

_KERNEL_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "kernels")
_TARGETS = {"jaxlstm_lstm_forward": "JaxlstmLstmForward",
            "jaxlstm_lstm_backward": "JaxlstmLstmBackward"}
MIN_BATCH = 8  # below this the XLA scan is faster (B = 1: 9 vs 22 ms a training step, S3)


def _dnnl_library() -> Optional[str]:
    """Path of libdnnl.so.3 from the onednn-cpu-gomp wheel, or None."""
    try:
        files = importlib.metadata.distribution("onednn-cpu-gomp").files or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in files:
        if f.name == "libdnnl.so.3":
            return str(f.locate())
    return None


@functools.cache
def _load() -> tuple[Optional[ctypes.CDLL], str]:
    """(the kernel library with its FFI targets registered, "") or (None, why not)."""
    built = glob.glob(os.path.join(_KERNEL_DIR, "_onednn_lstm*.so"))
    if not built:
        return None, f"the kernel was not built (no _onednn_lstm*.so in {_KERNEL_DIR})"
    dnnl = _dnnl_library()
    if dnnl is None:
        return None, "the onednn-cpu-gomp package (libdnnl.so.3) is not installed"
    os.environ.setdefault("OMP_WAIT_POLICY", "active")  # read when libgomp loads, next line
    try:
        ctypes.CDLL(dnnl, mode=ctypes.RTLD_GLOBAL)  # so the kernel's libdnnl.so.3 resolves
        lib = ctypes.CDLL(built[0])
    except OSError as e:
        return None, f"the kernel did not load: {e}"
    for target, symbol in _TARGETS.items():
        jax.ffi.register_ffi_target(target, jax.ffi.pycapsule(getattr(lib, symbol)),
                                    platform="cpu")
    return lib, ""


def kernel_status() -> str:
    """"oneDNN kernel in use" or why the XLA scan runs instead."""
    if os.environ.get("JAXLSTM_KERNEL") == "xla":
        return "XLA scan (JAXLSTM_KERNEL=xla)"
    if jax.default_backend() != "cpu":
        return f"XLA scan (default backend {jax.default_backend()}, the kernel is CPU-only)"
    lib, why = _load()
    return "oneDNN kernel in use" if lib is not None else f"XLA scan ({why})"


def runs_onednn(xs: jax.Array, w_x, w_h, b, h0, c0, valid) -> bool:
    """Whether `fused_lstm` hands these arguments to the kernel."""
    if valid is not None or xs.shape[1] < MIN_BATCH or os.environ.get("JAXLSTM_KERNEL") == "xla":
        return False
    if any(a.dtype != jnp.float32 for a in (xs, w_x, w_h, b, h0, c0)):
        return False
    return jax.default_backend() == "cpu" and _load()[0] is not None


def _forward(w_x, w_h, b, xs, h0, c0):
    steps, batch, _ = xs.shape
    state = jax.ShapeDtypeStruct((batch, w_h.shape[0]), jnp.float32)
    outs = (jax.ShapeDtypeStruct((steps, batch, w_h.shape[0]), jnp.float32), state, state)
    return jax.ffi.ffi_call("jaxlstm_lstm_forward", outs, vmap_method="sequential")(
        xs, h0, c0, w_x, w_h, b)


def _backward(primals, cotangents):
    """(∂w_x, ∂w_h, ∂b, ∂xs, ∂h0, ∂c0) of primals (w_x, w_h, b, xs, h0, c0) for the
    cotangents (∂hs, ∂h_T, ∂c_T) of the outputs."""
    w_x, w_h, b, xs, h0, c0 = primals
    outs = tuple(jax.ShapeDtypeStruct(a.shape, jnp.float32) for a in (xs, h0, c0, w_x, w_h, b))
    d_xs, d_h0, d_c0, d_w_x, d_w_h, d_b = jax.ffi.ffi_call(
        "jaxlstm_lstm_backward", outs, vmap_method="sequential")(
            xs, h0, c0, w_x, w_h, b, *cotangents)
    return d_w_x, d_w_h, d_b, d_xs, d_h0, d_c0


def _reference_gradients(primals, cotangents):
    """The same gradients from the XLA scan's backward pass (plain JAX, differentiable)."""
    from jaxlstm.core.fused import xla_fused_lstm

    _, vjp = jax.vjp(lambda *p: xla_fused_lstm(*p, None, 1), *primals)
    return vjp(cotangents)


# The kernel calls as functions whose derivatives are the XLA scan's (used only when a
# gradient is differentiated again).
_kernel_forward = jax.custom_vjp(_forward)
_kernel_forward.defvjp(lambda *p: (_forward(*p), p),
                       lambda p, cotangents: _reference_gradients(p, tuple(cotangents)))
_kernel_backward = jax.custom_vjp(_backward)
_kernel_backward.defvjp(
    lambda p, ct: (_backward(p, ct), (p, ct)),
    lambda res, d_grads: jax.vjp(_reference_gradients, *res)[1](tuple(d_grads)))


@jax.custom_vjp
def onednn_lstm(w_x, w_h, b, xs, h0, c0):
    """`fused_lstm` without `valid`, on oneDNN: xs (T, B, X) -> (hs (T, B, H), h_T, c_T)."""
    return _forward(w_x, w_h, b, xs, h0, c0)


def _onednn_lstm_fwd(*primals):
    return _kernel_forward(*primals), primals


def _onednn_lstm_bwd(primals, cotangents):
    return _kernel_backward(primals, tuple(cotangents))


onednn_lstm.defvjp(_onednn_lstm_fwd, _onednn_lstm_bwd)
