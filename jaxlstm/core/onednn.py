"""oneDNN's LSTM primitive as `fused_lstm`'s CPU kernel, through XLA's FFI.

The kernel (jaxlstm/kernels/onednn_lstm.cc, built when the package is installed and
linked against the `onednn-cpu-gomp` wheel) computes the same layer as `fused_lstm`:
xs (T, B, X), h0 and c0 (B, H), w_x (X, 4H), w_h (H, 4H), b (4H,) -> hs (T, B, H),
h_T, c_T, float32, gate blocks i, f, g, o. Its training forward pass keeps a copy of
its inputs and oneDNN's workspace (every step's gates and states) in the kernel; the
backward pass uses the workspace saved for inputs equal to its own, byte for byte, and
reruns the forward pass when none is kept (more than 8 forward passes before their
backward passes, e.g. under a wide `vmap`). `fused_lstm` uses it on the CPU
for float32 layers with B >= 8 and no `lengths`; everything else, and every platform
but the CPU, runs the XLA scan.

`JAXLSTM_KERNEL=xla` in the environment turns the kernel off (read when a function is
traced; set when jaxlstm is imported, oneDNN is not even loaded). `kernel_status()` says
whether the kernel is in use and why not. oneDNN's OpenMP threads spin `SPIN_COUNT`
times before sleeping (`GOMP_SPINCOUNT` or `OMP_WAIT_POLICY` set in the environment take
precedence).

Gradients of gradients: the kernel's forward and backward passes are `custom_vjp`s
whose own derivatives are those of the XLA scan, so `jax.hessian` and friends work
(they recompute through the scan).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import glob
import importlib.metadata
import os
import platform
from typing import Optional

import jax
import jax.numpy as jnp

_KERNEL_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "kernels")
_TARGETS = {"jaxlstm_lstm_forward": "JaxlstmLstmForward",
            "jaxlstm_lstm_forward_train": "JaxlstmLstmForwardTrain",
            "jaxlstm_lstm_backward": "JaxlstmLstmBackward",
            "jaxlstm_lstm_forward_batch_major": "JaxlstmLstmForwardBatchMajor",
            "jaxlstm_lstm_forward_train_batch_major": "JaxlstmLstmForwardTrainBatchMajor",
            "jaxlstm_lstm_backward_batch_major": "JaxlstmLstmBackwardBatchMajor"}
MIN_BATCH = 8  # below this the XLA scan is faster (B = 1: 9 vs 22 ms a training step, S3)
# How long oneDNN's OpenMP threads spin (wait policy "active") before they sleep: with
# libgomp's defaults they slept between the per-step parallel regions (S1 training step
# 98-111 ms); 10^6 spins keep them awake through a call (49-52 ms) and let them sleep soon
# after it (10^8: 66 ms; spinning without end slowed PyTorch in the same process ~20x).
SPIN_COUNT = 1_000_000


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


@contextlib.contextmanager
def _spin_count():
    """OMP_WAIT_POLICY=active, GOMP_SPINCOUNT=SPIN_COUNT while libgomp loads (it reads them
    then), unless the user set either; the environment is restored after, so OpenMP
    runtimes loaded later (PyTorch's own) keep their defaults."""
    if "GOMP_SPINCOUNT" in os.environ or "OMP_WAIT_POLICY" in os.environ:
        yield
        return
    os.environ.update(OMP_WAIT_POLICY="active", GOMP_SPINCOUNT=str(SPIN_COUNT))
    try:
        yield
    finally:
        del os.environ["OMP_WAIT_POLICY"], os.environ["GOMP_SPINCOUNT"]


def _open() -> tuple[Optional[ctypes.CDLL], str]:
    """Load the kernel library and oneDNN's: (the library, "") or (None, why not).

    Runs when this module is imported, so that oneDNN's OpenMP runtime (libgomp) starts
    with `_spin_count`'s settings. PyTorch ships a libgomp.so.1 of its own, and a process
    holds only one library of that name: if PyTorch (or anything else) loaded it first,
    with its default settings, the kernel is slower than the XLA scan (S1 training step
    115-120 vs 80 ms) and is not used. Loaded after jaxlstm, PyTorch shares jaxlstm's
    libgomp and its settings (its own S1 step measured 49-52 ms then, 63-93 ms alone).
    """
    if os.environ.get("JAXLSTM_KERNEL") == "xla":
        return None, "JAXLSTM_KERNEL=xla when jaxlstm was imported"
    if platform.system() != "Linux":
        return None, "the kernel is built for Linux only"
    built = glob.glob(os.path.join(_KERNEL_DIR, "_onednn_lstm*.so"))
    if not built:
        return None, f"the kernel was not built (no _onednn_lstm*.so in {_KERNEL_DIR})"
    dnnl = _dnnl_library()
    if dnnl is None:
        return None, "the onednn-cpu-gomp package (libdnnl.so.3) is not installed"
    try:
        ctypes.CDLL("libgomp.so.1", mode=os.RTLD_NOLOAD)
        return None, ("libgomp.so.1 was loaded before jaxlstm (PyTorch ships one): import "
                      "jaxlstm before torch to use the kernel")
    except OSError:
        pass  # not loaded yet: the expected case
    try:
        with _spin_count():
            ctypes.CDLL(dnnl, mode=ctypes.RTLD_GLOBAL)  # so the kernel's libdnnl.so.3 resolves
        return ctypes.CDLL(built[0]), ""
    except OSError as e:
        return None, f"the kernel did not load: {e}"


_LIBRARY, _WHY_NOT = _open()


@functools.cache
def _load() -> tuple[Optional[ctypes.CDLL], str]:
    """(the kernel library with its FFI targets registered, "") or (None, why not)."""
    if _LIBRARY is not None:
        for target, symbol in _TARGETS.items():
            jax.ffi.register_ffi_target(target, jax.ffi.pycapsule(getattr(_LIBRARY, symbol)),
                                        platform="cpu")
    return _LIBRARY, _WHY_NOT


IN_USE = "oneDNN kernel in use"


def kernel_status() -> str:
    """`IN_USE`, or why the XLA scan runs instead."""
    if os.environ.get("JAXLSTM_KERNEL") == "xla":
        return "XLA scan (JAXLSTM_KERNEL=xla)"
    if jax.default_backend() != "cpu":
        return f"XLA scan (default backend {jax.default_backend()}, the kernel is CPU-only)"
    lib, why = _load()
    return IN_USE if lib is not None else f"XLA scan ({why})"


def runs_onednn(xs: jax.Array, w_x, w_h, b, h0, c0, valid, batch_axis: int = 1) -> bool:
    """Whether these arguments go to the kernel: float32, B = xs.shape[batch_axis] >= MIN_BATCH,
    no `valid`, and `kernel_status()` is `IN_USE`."""
    if valid is not None or xs.shape[batch_axis] < MIN_BATCH:
        return False
    if any(a.dtype != jnp.float32 for a in (xs, w_x, w_h, b, h0, c0)):
        return False
    return kernel_status() == IN_USE


def _kernel_layer(batch_major: bool):
    """The layer on the kernel, time-major (xs (T, B, X)) or batch-major (xs (B, T, X)), as a
    `custom_vjp` of (w_x, w_h, b, xs, h0, c0) -> (hs, h_T, c_T), hs laid out like xs."""
    suffix = "_batch_major" if batch_major else ""

    def registered():
        if _load()[0] is None:
            raise RuntimeError(f"jaxlstm's oneDNN kernel is not available: {_WHY_NOT}")

    def call(target, w_x, w_h, b, xs, h0, c0):
        registered()
        batch, hidden = xs.shape[0 if batch_major else 1], w_h.shape[0]
        layout = "(B, T, X)" if batch_major else "(T, B, X)"
        expected = {"w_x": (xs.shape[-1], 4 * hidden), "w_h": (hidden, 4 * hidden),
                    "b": (4 * hidden,), "h0": (batch, hidden), "c0": (batch, hidden)}
        for name, value in zip(expected, (w_x, w_h, b, h0, c0)):
            if xs.ndim != 3 or value.shape != expected[name]:
                raise ValueError(f"{name} must have shape {expected[name]} for xs {layout} of "
                                 f"shape {xs.shape} and w_h {w_h.shape}, got {value.shape}")
        state = jax.ShapeDtypeStruct(h0.shape, jnp.float32)
        hs = jax.ShapeDtypeStruct(xs.shape[:2] + w_h.shape[:1], jnp.float32)
        return jax.ffi.ffi_call(target + suffix, (hs, state, state), vmap_method="sequential")(
            xs, h0, c0, w_x, w_h, b)

    forward = functools.partial(call, "jaxlstm_lstm_forward")
    # The same outputs; the kernel also keeps the inputs and oneDNN's workspace for `backward`.
    forward_train = functools.partial(call, "jaxlstm_lstm_forward_train")

    def backward(primals, outputs, cotangents):
        """(∂w_x, ∂w_h, ∂b, ∂xs, ∂h0, ∂c0) for cotangents (∂hs, ∂h_T, ∂c_T), given the
        outputs (hs, h_T, c_T) of `forward_train` on the same primals."""
        registered()
        w_x, w_h, b, xs, h0, c0 = primals
        outs = tuple(jax.ShapeDtypeStruct(a.shape, jnp.float32) for a in (xs, h0, c0, w_x, w_h, b))
        d_xs, d_h0, d_c0, d_w_x, d_w_h, d_b = jax.ffi.ffi_call(
            "jaxlstm_lstm_backward" + suffix, outs, vmap_method="sequential")(
                xs, h0, c0, w_x, w_h, b, *outputs, *cotangents)
        return d_w_x, d_w_h, d_b, d_xs, d_h0, d_c0

    def reference(w_x, w_h, b, xs, h0, c0):
        """The same layer on the XLA scan (plain JAX, differentiable to any order)."""
        from jaxlstm.core.fused import xla_fused_lstm

        if not batch_major:
            return xla_fused_lstm(w_x, w_h, b, xs, h0, c0, None, 1)
        hs, h, c = xla_fused_lstm(w_x, w_h, b, jnp.swapaxes(xs, 0, 1), h0, c0, None, 1)
        return jnp.swapaxes(hs, 0, 1), h, c

    def reference_gradients(primals, cotangents):
        return jax.vjp(reference, *primals)[1](tuple(cotangents))

    # The kernel calls as functions whose derivatives are the XLA scan's (used only when a
    # gradient is differentiated again). `outputs` are functions of the primals, differentiated
    # through those, so they get zero cotangents.
    kernel_forward = jax.custom_vjp(forward_train)
    kernel_forward.defvjp(lambda *p: (forward_train(*p), p), reference_gradients)
    kernel_backward = jax.custom_vjp(backward)

    def backward_bwd(residuals, d_grads):
        primals, outputs, cotangents = residuals
        d_primals, d_cotangents = jax.vjp(reference_gradients, primals, cotangents)[1](
            tuple(d_grads))
        return d_primals, tuple(jnp.zeros_like(o) for o in outputs), d_cotangents

    kernel_backward.defvjp(lambda p, o, ct: (backward(p, o, ct), (p, o, ct)), backward_bwd)

    layer = jax.custom_vjp(forward)

    def layer_fwd(*primals):
        outputs = kernel_forward(*primals)
        return outputs, (primals, outputs)

    layer.defvjp(layer_fwd,
                 lambda res, cotangents: kernel_backward(res[0], res[1], tuple(cotangents)))
    return layer


onednn_lstm = _kernel_layer(batch_major=False)
onednn_lstm.__doc__ = """`fused_lstm` without `valid`, on oneDNN: (w_x, w_h, b, xs (T, B, X), h0,
c0) -> (hs (T, B, H), h_T, c_T)."""
onednn_lstm_batch_major = _kernel_layer(batch_major=True)
onednn_lstm_batch_major.__doc__ = """`onednn_lstm` with xs (B, T, X) -> hs (B, T, H), `lstm_batch`'s
layout."""
