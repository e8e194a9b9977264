"""The oneDNN LSTM kernel (jaxlstm.core.onednn) against torch.nn.LSTM with copied
weights and against the XLA scan's gradients, in float32; and when `fused_lstm`
hands a layer to it.

On Linux x86_64 the kernel is built by the package install, so none of this is
skipped there (CI); elsewhere `kernel_status()` says why it is absent.
"""

import functools
import platform
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlstm as J
from jaxlstm.core import onednn
from jaxlstm.core.fused import fused_lstm, xla_fused_lstm
from jaxlstm.interop import from_torch_lstm

torch = pytest.importorskip("torch")

LINUX_X86 = platform.system() == "Linux" and platform.machine() == "x86_64"
if not LINUX_X86 and onednn.kernel_status() != "oneDNN kernel in use":
    pytest.skip(f"no oneDNN kernel here: {onednn.kernel_status()}", allow_module_level=True)


def test_kernel_is_built_and_loaded():
    assert onednn.kernel_status() == "oneDNN kernel in use"


def _inputs(T, B, X, H, seed=0):
    k = jax.random.split(jax.random.PRNGKey(seed), 6)
    return (0.3 * jax.random.normal(k[0], (X, 4 * H)), 0.3 * jax.random.normal(k[1], (H, 4 * H)),
            0.3 * jax.random.normal(k[2], (4 * H,)), jax.random.normal(k[3], (T, B, X)),
            0.5 * jax.random.normal(k[4], (B, H)), 0.5 * jax.random.normal(k[5], (B, H)))


def _loss(layer):
    """A loss that weights hs, h_T and c_T differently, so every cotangent matters."""
    def loss(w_x, w_h, b, xs, h0, c0):
        hs, h, c = layer(w_x, w_h, b, xs, h0, c0)
        return jnp.sum(jnp.sin(hs)) + 0.3 * jnp.sum(h) + jnp.sum(c ** 2)
    return loss


def _xla(w_x, w_h, b, xs, h0, c0):
    return xla_fused_lstm(w_x, w_h, b, xs, h0, c0, None, 1)


@pytest.mark.parametrize("batch_major", [False, True])
@pytest.mark.parametrize("T, B, X, H",
                         [(1, 8, 3, 4), (9, 8, 5, 6), (17, 12, 16, 33), (6, 32, 64, 64)])
def test_forward_and_gradients_match_torch(T, B, X, H, batch_major):
    torch.manual_seed(T)
    module = torch.nn.LSTM(X, H, batch_first=batch_major)  # float32, gate order i, f, g, o
    layer = from_torch_lstm(module.state_dict(), dtype=jnp.float32)[0]
    kernel = onednn.onednn_lstm_batch_major if batch_major else onednn.onednn_lstm
    rng = np.random.default_rng(T)
    xs = rng.normal(size=(B, T, X) if batch_major else (T, B, X)).astype(np.float32)
    h0 = (0.5 * rng.normal(size=(B, H))).astype(np.float32)
    c0 = rng.normal(size=(B, H)).astype(np.float32)

    x_t, h_t, c_t = (torch.tensor(a, requires_grad=True) for a in (xs, h0, c0))
    hs_t, (hT_t, cT_t) = module(x_t, (h_t[None], c_t[None]))
    (torch.sin(hs_t).sum() + 0.3 * hT_t.sum() + (cT_t ** 2).sum()).backward()

    args = (layer.w_x, layer.w_h, layer.b, jnp.asarray(xs), jnp.asarray(h0), jnp.asarray(c0))
    hs, h, c = kernel(*args)
    np.testing.assert_allclose(hs, hs_t.detach().numpy(), atol=2e-6)
    np.testing.assert_allclose(h, hT_t[0].detach().numpy(), atol=2e-6)
    np.testing.assert_allclose(c, cT_t[0].detach().numpy(), atol=2e-6)

    d_w_x, d_w_h, d_b, d_xs, d_h0, d_c0 = jax.jit(jax.grad(_loss(kernel), argnums=range(6)))(*args)
    np.testing.assert_allclose(d_xs, x_t.grad.numpy(), atol=2e-5)
    np.testing.assert_allclose(d_h0, h_t.grad.numpy(), atol=2e-5)
    np.testing.assert_allclose(d_c0, c_t.grad.numpy(), atol=2e-5)
    # torch's weight_ih_l0 (4H, X) is w_xᵀ; its two biases share the one gradient of b.
    np.testing.assert_allclose(d_w_x, module.weight_ih_l0.grad.numpy().T, atol=5e-5)
    np.testing.assert_allclose(d_w_h, module.weight_hh_l0.grad.numpy().T, atol=5e-5)
    np.testing.assert_allclose(d_b, module.bias_ih_l0.grad.numpy(), atol=5e-5)


def _xla_batch_major(w_x, w_h, b, xs, h0, c0):
    hs, h, c = _xla(w_x, w_h, b, jnp.swapaxes(xs, 0, 1), h0, c0)
    return jnp.swapaxes(hs, 0, 1), h, c


@pytest.mark.parametrize("kernel, reference", [(onednn.onednn_lstm, _xla),
                                               (onednn.onednn_lstm_batch_major, _xla_batch_major)])
def test_gradients_of_gradients_match_the_xla_scan(kernel, reference):
    args = _inputs(5, 8, 3, 4)
    if kernel is onednn.onednn_lstm_batch_major:
        args = args[:3] + (jnp.swapaxes(args[3], 0, 1),) + args[4:]

    def grad_norm(layer):
        return lambda w_h: jnp.sum(jax.grad(_loss(layer), argnums=3)(args[0], w_h, *args[2:]) ** 2)

    np.testing.assert_allclose(jax.grad(grad_norm(kernel))(args[1]),
                               jax.grad(grad_norm(reference))(args[1]), rtol=1e-4, atol=1e-4)


def test_wrong_shapes_are_named():
    w_x, w_h, b, xs, h0, c0 = _inputs(4, 8, 3, 5)
    with pytest.raises(ValueError, match=r"h0 must have shape \(4, 5\) for xs \(B, T, X\)"):
        onednn.onednn_lstm_batch_major(w_x, w_h, b, xs, h0, c0)  # xs is (T, B, X) here


@pytest.mark.parametrize("copies", [3, 11])
def test_gradients_under_vmap_match_the_xla_scan(copies):
    """vmap runs every element's forward pass before any backward pass; the backward passes
    find their own saved workspace by the inputs (3 copies), or rerun the forward pass once
    more than the kernel keeps (8) were made (11 copies)."""
    w_x, w_h, b, xs, h0, c0 = _inputs(4, 8, 3, 5)
    stacked = jnp.stack([xs * (1.0 + 0.1 * k) for k in range(copies)])

    def grads(layer):
        return jax.jit(jax.vmap(lambda x: jax.grad(_loss(layer), argnums=(0, 1, 2, 3))(
            w_x, w_h, b, x, h0, c0)))(stacked)

    for got, want in zip(grads(onednn.onednn_lstm), grads(_xla)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-5)


def test_gradients_accumulated_in_a_scan_match_the_xla_scan():
    """Micro-batches in a lax.scan (as gradient accumulation runs them): every iteration's
    forward and backward pass reuse the same buffers with new contents."""
    w_x, w_h, b, xs, h0, c0 = _inputs(4, 8, 3, 5)
    micro = jnp.stack([xs, -2.0 * xs, xs + 0.5])

    def accumulated(layer):
        def body(total, x):
            g = jax.grad(_loss(layer), argnums=(0, 1, 2))(w_x, w_h, b, x, h0, c0)
            return jax.tree.map(jnp.add, total, g), None
        zeros = (jnp.zeros_like(w_x), jnp.zeros_like(w_h), jnp.zeros_like(b))
        return jax.jit(lambda m: jax.lax.scan(body, zeros, m)[0])(micro)

    for got, want in zip(accumulated(onednn.onednn_lstm), accumulated(_xla)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-5)


def test_vmap_over_sequences_of_batches():
    w_x, w_h, b, xs, h0, c0 = _inputs(4, 8, 3, 5)
    stacked = jnp.stack([xs, 2.0 * xs, -xs])
    got = jax.vmap(lambda x: onednn.onednn_lstm(w_x, w_h, b, x, h0, c0)[0])(stacked)
    want = jax.vmap(lambda x: _xla(w_x, w_h, b, x, h0, c0)[0])(stacked)
    np.testing.assert_allclose(got, want, atol=1e-6)


def _uses_kernel(fn, *args) -> bool:
    return "jaxlstm_lstm_forward" in str(jax.make_jaxpr(fn)(*args))


def test_fused_lstm_dispatch():
    w_x, w_h, b, xs, h0, c0 = _inputs(4, 8, 3, 5)
    fused = functools.partial(fused_lstm, unroll=1)
    assert _uses_kernel(lambda *a: fused(*a, valid=None), w_x, w_h, b, xs, h0, c0)
    valid = jnp.ones((4, 8, 1), bool)
    assert not _uses_kernel(lambda *a: fused(*a, valid=valid), w_x, w_h, b, xs, h0, c0)
    small = _inputs(4, onednn.MIN_BATCH - 1, 3, 5)
    assert not _uses_kernel(lambda *a: fused(*a, valid=None), *small)
    with jax.enable_x64(True):
        wide = [a.astype(jnp.float64) for a in (w_x, w_h, b, xs, h0, c0)]
        assert not _uses_kernel(lambda *a: fused(*a, valid=None), *wide)


@pytest.mark.parametrize("B, T, target", [(12, 9, "jaxlstm_lstm_forward_batch_major"),
                                           (8, 9, "target_name=jaxlstm_lstm_forward\n")])
def test_lstm_batch_runs_the_kernel_and_agrees_with_vmap_of_lstm(B, T, target):
    """Batch-major entry for B >= T, time-major otherwise."""
    params = J.init_lstm(jax.random.PRNGKey(5), 6, 10)
    xs = jax.random.normal(jax.random.PRNGKey(6), (B, T, 6))
    assert target in str(jax.make_jaxpr(J.lstm_batch)(params, xs))
    (h, c), hs = J.lstm_batch(params, xs)
    (h_ref, c_ref), hs_ref = jax.vmap(lambda x: J.lstm(params, x))(xs)
    np.testing.assert_allclose(hs, hs_ref, atol=2e-6)
    np.testing.assert_allclose(h, h_ref, atol=2e-6)
    np.testing.assert_allclose(c, c_ref, atol=2e-6)


def test_environment_switch_turns_the_kernel_off(monkeypatch):
    args = _inputs(4, 8, 3, 5)
    monkeypatch.setenv("JAXLSTM_KERNEL", "xla")
    assert not _uses_kernel(lambda *a: fused_lstm(*a, None, 1), *args)
    assert onednn.kernel_status() == "XLA scan (JAXLSTM_KERNEL=xla)"


def test_bidirectional_stack_on_the_kernel_equals_the_xla_scan(monkeypatch):
    """Two layers, both directions (the two directions' kernel calls may run at once)."""
    B, T, X, H = 16, 11, 7, 9
    layers = J.init_lstm_stack(jax.random.PRNGKey(3), X, H, 2, J.CellSpec(), is_bidirectional=True)
    xs = jax.random.normal(jax.random.PRNGKey(4), (B, T, X))

    def loss(layers, xs):
        return jnp.mean(J.stack(J.lstm_batch, layers, xs, is_bidirectional=True)[1] ** 2)

    assert _uses_kernel(loss, layers, xs)
    got = jax.jit(jax.value_and_grad(loss))(layers, xs)
    monkeypatch.setenv("JAXLSTM_KERNEL", "xla")
    want = jax.jit(jax.value_and_grad(loss))(layers, xs)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_torch_imported_first_leaves_the_kernel_off_and_says_why():
    """PyTorch's own libgomp.so.1 would give the kernel OpenMP settings that make it slower than
    the XLA scan; lstm_batch then runs the scan and still matches."""
    code = (
        "import torch, jax, numpy as np, jaxlstm as J\n"
        "from jaxlstm.core.onednn import kernel_status\n"
        "p = J.init_lstm(jax.random.PRNGKey(0), 3, 5)\n"
        "xs = jax.random.normal(jax.random.PRNGKey(1), (8, 4, 3))\n"
        "assert 'jaxlstm_lstm' not in str(jax.make_jaxpr(J.lstm_batch)(p, xs))\n"
        "ref = jax.vmap(lambda x: J.lstm(p, x))(xs)[1]\n"
        "np.testing.assert_allclose(J.lstm_batch(p, xs)[1], ref, atol=1e-6)\n"
        "print(kernel_status())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "libgomp.so.1 was loaded before jaxlstm" in out.stdout
