"""oneDNN's LSTM primitive (the one PyTorch's CPU `nn.LSTM` runs) through XLA's FFI.

The kernel (jaxlstm/kernels/onednn_lstm.cc, built when the package is installed and
linked against the `onednn-cpu-gomp` wheel) computes the standard layer of
`jaxlstm.core.backends.xla_fused`: xs (T, B, X) or (B, T, X), h0 and c0 (B, H),
w_x (X, 4H), w_h (H, 4H), b (4H,) -> hs, h_T, c_T, float32, gate blocks i, f, g, o.
Its training forward pass keeps a copy of its inputs and oneDNN's workspace (every
step's gates and states); the backward pass uses the workspace saved for inputs equal
to its own, byte for byte, and reruns the forward pass when none is kept (more than 8
forward passes before their backward passes, e.g. under a wide `vmap`).

`kernel_status()` says whether the kernel can run here and why not;
`jaxlstm.core.dispatch` decides where it is used. `JAXLSTM_KERNEL=xla` in the
environment turns it off (set when jaxlstm is imported, oneDNN is not even loaded).
oneDNN's OpenMP threads spin `SPIN_COUNT` times before sleeping (`GOMP_SPINCOUNT` or
`OMP_WAIT_POLICY` set in the environment take precedence).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import glob
import os
import platform
from typing import Optional

import jax
import jax.numpy as jnp

from jaxlstm.kernels import ffi_version

_KERNEL_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                           "kernels")
_TARGETS = {"jaxlstm_lstm_forward": "JaxlstmLstmForward",
            "jaxlstm_lstm_forward_train": "JaxlstmLstmForwardTrain",
            "jaxlstm_lstm_backward": "JaxlstmLstmBackward",
            "jaxlstm_lstm_forward_batch_major": "JaxlstmLstmForwardBatchMajor",
            "jaxlstm_lstm_forward_train_batch_major": "JaxlstmLstmForwardTrainBatchMajor",
            "jaxlstm_lstm_backward_batch_major": "JaxlstmLstmBackwardBatchMajor"}
# How long oneDNN's OpenMP threads spin (wait policy "active") before they sleep: with
# libgomp's defaults they slept between the per-step parallel regions (S1 training step
# 98-111 ms); 10^6 spins keep them awake through a call (49-52 ms) and let them sleep soon
# after it (10^8: 66 ms; spinning without end slowed PyTorch in the same process ~20x).
SPIN_COUNT = 1_000_000


@contextlib.contextmanager
def _spin_count():
    """OMP_WAIT_POLICY=active, GOMP_SPINCOUNT=SPIN_COUNT while the kernel's private libgomp
    loads (it reads them then), unless the user set either; the environment is restored
    after, so other OpenMP runtimes (PyTorch's own) keep their defaults."""
    if "GOMP_SPINCOUNT" in os.environ or "OMP_WAIT_POLICY" in os.environ:
        yield
        return
    os.environ.update(OMP_WAIT_POLICY="active", GOMP_SPINCOUNT=str(SPIN_COUNT))
    try:
        yield
    finally:
        del os.environ["OMP_WAIT_POLICY"], os.environ["GOMP_SPINCOUNT"]


def _open() -> tuple[Optional[ctypes.CDLL], str]:
    """Load the kernel: (the library, "") or (None, why not).

    The build bundles private copies of oneDNN and of the OpenMP runtime beside the kernel
    (setup.py); loaded with RTLD_LOCAL | RTLD_DEEPBIND they bind to each other and not to
    a libgomp.so.1 already in the process (PyTorch ships one), so the kernel's OpenMP
    threads and their settings (`_spin_count`) are its own in any import order.
    """
    if os.environ.get("JAXLSTM_KERNEL") == "xla":
        return None, "JAXLSTM_KERNEL=xla when jaxlstm was imported"
    if platform.system() != "Linux":
        return None, "the kernel is built for Linux only"
    built = glob.glob(os.path.join(_KERNEL_DIR, "_onednn_lstm*.so"))
    if not built:
        return None, f"the kernel was not built (no _onednn_lstm*.so in {_KERNEL_DIR})"
    import jaxlib

    why_not = ffi_version.incompatibility(ffi_version.read_build_info(_KERNEL_DIR),
                                          ffi_version.header_version(os.path.dirname(jaxlib.__file__)),
                                          jaxlib.__version__)
    if why_not:
        return None, why_not
    try:
        with _spin_count():
            return ctypes.CDLL(built[0], mode=os.RTLD_LOCAL | os.RTLD_DEEPBIND), ""
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


def _check_shapes(w_x, w_h, b, xs, h0, c0, batch_major: bool) -> None:
    batch, hidden = xs.shape[0 if batch_major else 1], w_h.shape[0]
    layout = "(B, T, X)" if batch_major else "(T, B, X)"
    expected = {"w_x": (xs.shape[-1], 4 * hidden), "w_h": (hidden, 4 * hidden),
                "b": (4 * hidden,), "h0": (batch, hidden), "c0": (batch, hidden)}
    for name, value in zip(expected, (w_x, w_h, b, h0, c0)):
        if xs.ndim != 3 or value.shape != expected[name]:
            raise ValueError(f"{name} must have shape {expected[name]} for xs {layout} of "
                             f"shape {xs.shape} and w_h {w_h.shape}, got {value.shape}")
    if 0 in xs.shape or hidden == 0:
        raise ValueError(f"the oneDNN kernel needs T, B, X and H > 0, got xs {layout} of shape "
                         f"{xs.shape} and H={hidden}")


def _registered() -> None:
    if _load()[0] is None:
        raise RuntimeError(f"jaxlstm's oneDNN kernel is not available: {_WHY_NOT}")


def forward(w_x, w_h, b, xs, h0, c0, *, batch_major: bool, train: bool = False):
    """The layer on oneDNN: xs (T, B, X), or (B, T, X) when `batch_major` -> (hs laid out
    like xs, h_T (B, H), c_T (B, H)), float32. With `train` the kernel also keeps its
    inputs and workspace for `backward`. Not differentiable itself (see jaxlstm.core.layer)."""
    _registered()
    _check_shapes(w_x, w_h, b, xs, h0, c0, batch_major)
    target = "jaxlstm_lstm_forward" + ("_train" if train else "") + (
        "_batch_major" if batch_major else "")
    state = jax.ShapeDtypeStruct(h0.shape, jnp.float32)
    hs = jax.ShapeDtypeStruct(xs.shape[:2] + w_h.shape[:1], jnp.float32)
    return jax.ffi.ffi_call(target, (hs, state, state), vmap_method="sequential")(
        xs, h0, c0, w_x, w_h, b)


def backward(primals, outputs, cotangents, *, batch_major: bool):
    """(∂w_x, ∂w_h, ∂b, ∂xs, ∂h0, ∂c0) for `cotangents` (∂hs, ∂h_T, ∂c_T), given the
    primals (w_x, w_h, b, xs, h0, c0) and the `outputs` (hs, h_T, c_T) of
    `forward(..., train=True)` on them. The weight gradients are summed over the batch."""
    _registered()
    w_x, w_h, b, xs, h0, c0 = primals
    outs = tuple(jax.ShapeDtypeStruct(a.shape, jnp.float32) for a in (xs, h0, c0, w_x, w_h, b))
    target = "jaxlstm_lstm_backward" + ("_batch_major" if batch_major else "")
    d_xs, d_h0, d_c0, d_w_x, d_w_h, d_b = jax.ffi.ffi_call(
        target, outs, vmap_method="sequential")(xs, h0, c0, w_x, w_h, b, *outputs, *cotangents)
    return d_w_x, d_w_h, d_b, d_xs, d_h0, d_c0
