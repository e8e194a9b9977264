"""The oneDNN LSTM kernel (jaxlstm.core.backends.onednn) against torch.nn.LSTM with copied
weights, and `jax.vmap(lstm)` on it against the reference scan under every transformation.

On Linux x86_64 the kernel is built by the package install, so none of this is
skipped there (CI); elsewhere `kernel_status()` says why it is absent. That the kernel is
built and loaded is checked without torch in test_onednn_kernel_status.py.
"""

import functools
import os
import platform
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlstm as J
from jaxlstm.core import dispatch
from jaxlstm.core.backends import onednn
from jaxlstm.interop import from_torch_lstm

torch = pytest.importorskip("torch")

LINUX_X86 = platform.system() == "Linux" and platform.machine() == "x86_64"
if not LINUX_X86 and onednn.kernel_status() != onednn.IN_USE:
    pytest.skip(f"no oneDNN kernel here: {onednn.kernel_status()}", allow_module_level=True)

H = dispatch.MIN_HIDDEN  # the smallest hidden size dispatched to the kernel


def _torch_case(T, B, X, Hd, batch_major, seed):
    torch.manual_seed(seed)
    module = torch.nn.LSTM(X, Hd, batch_first=batch_major)  # float32, gate order i, f, g, o
    rng = np.random.default_rng(seed)
    xs = rng.normal(size=(B, T, X) if batch_major else (T, B, X)).astype(np.float32)
    h0 = (0.5 * rng.normal(size=(B, Hd))).astype(np.float32)
    c0 = rng.normal(size=(B, Hd)).astype(np.float32)
    x_t, h_t, c_t = (torch.tensor(a, requires_grad=True) for a in (xs, h0, c0))
    hs_t, (hT_t, cT_t) = module(x_t, (h_t[None], c_t[None]))
    (torch.sin(hs_t).sum() + 0.3 * hT_t.sum() + (cT_t ** 2).sum()).backward()
    return module, (xs, h0, c0), (x_t, h_t, c_t), (hs_t, hT_t, cT_t)


def _check_grads_match_torch(grads, module, inputs_t):
    d_w_x, d_w_h, d_b, d_xs, d_h0, d_c0 = grads
    x_t, h_t, c_t = inputs_t
    np.testing.assert_allclose(d_xs, x_t.grad.numpy(), atol=2e-5)
    np.testing.assert_allclose(d_h0, h_t.grad.numpy(), atol=2e-5)
    np.testing.assert_allclose(d_c0, c_t.grad.numpy(), atol=2e-5)
    # torch's weight_ih_l0 (4H, X) is w_xᵀ; its two biases share the one gradient of b.
    np.testing.assert_allclose(d_w_x, module.weight_ih_l0.grad.numpy().T, atol=1e-4)
    np.testing.assert_allclose(d_w_h, module.weight_hh_l0.grad.numpy().T, atol=1e-4)
    np.testing.assert_allclose(d_b, module.bias_ih_l0.grad.numpy(), atol=1e-4)


@pytest.mark.parametrize("batch_major", [False, True])
@pytest.mark.parametrize("T, B, X, Hd", [(1, 8, 3, 4), (9, 8, 5, 6), (17, 12, 16, 33)])
def test_raw_kernel_forward_and_backward_match_torch(T, B, X, Hd, batch_major):
    """The FFI calls themselves, at any size (the dispatch sends only H >= MIN_HIDDEN)."""
    module, (xs, h0, c0), inputs_t, (hs_t, hT_t, cT_t) = _torch_case(T, B, X, Hd, batch_major, T)
    layer = from_torch_lstm(module.state_dict(), dtype=jnp.float32)[0]
    primals = (layer.w_x, layer.w_h, layer.b, jnp.asarray(xs), jnp.asarray(h0), jnp.asarray(c0))
    outputs = onednn.forward(*primals, batch_major=batch_major, train=True)
    for got, want in zip(outputs, (hs_t, hT_t[0], cT_t[0])):
        np.testing.assert_allclose(got, want.detach().numpy(), atol=2e-6)
    hs, h, c = outputs
    cotangents = (jnp.cos(hs), jnp.full_like(h, 0.3), 2.0 * c)  # of the loss in _torch_case
    grads = onednn.backward(primals, outputs, cotangents, batch_major=batch_major)
    _check_grads_match_torch(grads, module, inputs_t)


@pytest.mark.parametrize("T, B", [(5, 8), (9, 12)])
def test_vmap_of_lstm_runs_the_kernel_and_matches_torch(T, B):
    """`jax.grad` of `jax.vmap(lstm)`: the batching rule hands the batch to the kernel
    (batch-major entry for B >= T, time-major otherwise)."""
    module, (xs, h0, c0), inputs_t, (hs_t, hT_t, cT_t) = _torch_case(T, B, 6, H, True, B)
    params = from_torch_lstm(module.state_dict(), dtype=jnp.float32)[0]

    def loss(w_x, w_h, b, xs, h0, c0):
        p = params._replace(w_x=w_x, w_h=w_h, b=b)
        (h, c), hs = jax.vmap(lambda x, s: J.lstm(p, x, s))(xs, J.LSTMState(h0, c0))
        return jnp.sum(jnp.sin(hs)) + 0.3 * jnp.sum(h) + jnp.sum(c ** 2), (hs, h, c)

    args = (params.w_x, params.w_h, params.b, jnp.asarray(xs), jnp.asarray(h0), jnp.asarray(c0))
    jaxpr = jax.jit(jax.grad(loss, argnums=range(6), has_aux=True)).lower(*args).as_text()
    entry = "_batch_major" if B >= T else ""
    assert f"jaxlstm_lstm_forward_train{entry}" in jaxpr
    assert f"jaxlstm_lstm_backward{entry}" in jaxpr
    grads, (hs, h, c) = jax.jit(jax.grad(loss, argnums=range(6), has_aux=True))(*args)
    np.testing.assert_allclose(hs, hs_t.detach().numpy(), atol=2e-6)
    np.testing.assert_allclose(h, hT_t[0].detach().numpy(), atol=2e-6)
    np.testing.assert_allclose(c, cT_t[0].detach().numpy(), atol=2e-6)
    _check_grads_match_torch(grads, module, inputs_t)


def _setup(B=8, T=4, X=3, seed=0):
    k = jax.random.split(jax.random.key(seed), 3)
    params = J.init_lstm(k[0], X, H)
    params = params._replace(b=params.b + 0.3 * jax.random.normal(k[1], params.b.shape))
    return params, jax.random.normal(k[2], (B, T, X))


def _loss(backend, params, xs):
    (h, c), hs = jax.vmap(lambda x: J.lstm(params, x, backend=backend))(xs)
    return jnp.sum(jnp.sin(hs)) + 0.3 * jnp.sum(h) + jnp.sum(c ** 2)


def _uses_kernel(fn, *args) -> bool:
    return "jaxlstm_lstm_forward" in jax.jit(fn).lower(*args).as_text()


def _assert_trees_close(got, want, tol):
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def test_gradients_of_gradients_match_the_reference_scan():
    params, xs = _setup()

    def grad_norm(backend):
        return lambda w_h: jnp.sum(jax.grad(functools.partial(_loss, backend), argnums=1)(
            params._replace(w_h=w_h), xs) ** 2)

    assert _uses_kernel(jax.grad(grad_norm(None)), params.w_h)
    _assert_trees_close(jax.jit(jax.grad(grad_norm(None)))(params.w_h),
                        jax.jit(jax.grad(grad_norm("reference")))(params.w_h), 1e-4)


def test_per_example_gradients_under_vmap_of_grad():
    """`vmap(grad(...))` asks for each sequence's own gradient: the kernel runs the forward
    pass, the XLA backward pass gives one gradient per sequence."""
    params, xs = _setup()

    def one(backend, p, x):
        (h, c), hs = J.lstm(p, x, backend=backend)
        return jnp.sum(jnp.sin(hs)) + 0.3 * jnp.sum(h) + jnp.sum(c ** 2)

    def per_example(backend):
        return jax.vmap(jax.grad(functools.partial(one, backend)), in_axes=(None, 0))(params, xs)

    assert _uses_kernel(lambda: per_example(None))
    _assert_trees_close(jax.jit(per_example, static_argnums=0)(None),
                        jax.jit(per_example, static_argnums=0)("reference"), 2e-5)


@pytest.mark.parametrize("copies", [3, 11])
def test_gradients_under_vmap_over_batches_match_the_reference(copies):
    """An outer vmap over batches runs every batch's forward pass before any backward pass;
    the backward passes find their own saved workspace by the inputs (3 copies), or rerun the
    forward pass once more than the kernel keeps (8) were made (11 copies)."""
    params, xs = _setup()
    stacked = jnp.stack([xs * (1.0 + 0.1 * k) for k in range(copies)])

    def grads(backend):
        return jax.jit(jax.vmap(lambda x: jax.grad(functools.partial(_loss, backend))(
            params, x)))(stacked)

    _assert_trees_close(grads(None), grads("reference"), 2e-5)


def test_gradients_accumulated_in_a_scan_match_the_reference():
    """Micro-batches in a lax.scan (as gradient accumulation runs them): every iteration's
    forward and backward pass reuse the same buffers with new contents."""
    params, xs = _setup()
    micro = jnp.stack([xs, -2.0 * xs, xs + 0.5])

    def accumulated(backend):
        def body(total, x):
            g = jax.grad(functools.partial(_loss, backend))(params, x)
            return jax.tree.map(jnp.add, total, g), None
        zeros = jax.tree.map(jnp.zeros_like, params)
        return jax.jit(lambda m: jax.lax.scan(body, zeros, m)[0])(micro)

    _assert_trees_close(accumulated(None), accumulated("reference"), 2e-5)


def test_dispatch_sends_only_large_float32_batches_to_the_kernel():
    params, xs = _setup()
    run = lambda p, x, **kw: jax.vmap(lambda x: J.lstm(p, x, **kw))(x)  # noqa: E731
    assert _uses_kernel(run, params, xs)
    assert J.explain(params, xs).backend == "onednn"
    assert not _uses_kernel(run, params, xs[: dispatch.MIN_BATCH - 1])
    assert "B=7 < 8" in J.explain(params, xs[:7]).reason
    small = J.init_lstm(jax.random.key(1), 3, H - 1)
    assert not _uses_kernel(run, small, xs)
    assert f"H={H - 1} < {H}" in J.explain(small, xs).reason
    lengths = jnp.full((8,), 2)  # padded batches too: the kernel over all T steps, then masked
    assert _uses_kernel(lambda p, x: jax.vmap(lambda x, n: J.lstm(p, x, lengths=n))(
        x, lengths), params, xs)
    assert "padded: the kernel runs all T steps" in J.explain(params, xs, lengths=lengths).reason
    with jax.enable_x64(True):
        wide = jax.tree.map(lambda a: a.astype(jnp.float64), params)
        assert not _uses_kernel(run, wide, xs.astype(jnp.float64))
        assert "dtype float64" in J.explain(wide, xs).reason


def test_environment_switch_turns_the_kernel_off(monkeypatch):
    params, xs = _setup()
    monkeypatch.setenv("JAXLSTM_KERNEL", "xla")
    assert not _uses_kernel(lambda p, x: _loss(None, p, x), params, xs)
    assert onednn.kernel_status() == "XLA scan (JAXLSTM_KERNEL=xla)"
    assert "JAXLSTM_KERNEL=xla" in J.explain(params, xs).reason


def test_bidirectional_stack_on_the_kernel_equals_the_xla_scan(monkeypatch):
    """Two layers, both directions (the two directions' kernel calls may run at once)."""
    B, T, X = 16, 11, 7
    layers = J.init_lstm_stack(jax.random.PRNGKey(3), X, H, 2, J.CellSpec(), is_bidirectional=True)
    xs = jax.random.normal(jax.random.PRNGKey(4), (B, T, X))

    def loss(layers, xs):
        return jnp.mean(J.stack(J.lstm_batch, layers, xs, is_bidirectional=True)[1] ** 2)

    assert _uses_kernel(loss, layers, xs)
    got = jax.jit(jax.value_and_grad(loss))(layers, xs)
    monkeypatch.setenv("JAXLSTM_KERNEL", "xla")
    want = jax.jit(jax.value_and_grad(loss))(layers, xs)
    _assert_trees_close(got, want, 1e-5)


def test_wrong_shapes_are_named():
    params, xs = _setup()
    h0 = jnp.zeros((8, H))
    with pytest.raises(ValueError, match=r"h0 must have shape \(4, 128\) for xs \(B, T, X\)"):
        onednn.forward(params.w_x, params.w_h, params.b, jnp.swapaxes(xs, 0, 1), h0, h0,
                       batch_major=True)  # xs is (T, B, X) here


@pytest.mark.parametrize("order", ["torch first", "torch after"])
def test_import_order_does_not_matter(order, tmp_path):
    """The kernel's oneDNN binds to its private OpenMP runtime (libgomp-jaxlstm.so.1, loaded
    with its spin settings) whether or not PyTorch's libgomp.so.1 came first; the dynamic
    linker's own record of the bindings (LD_DEBUG=bindings) shows it."""
    imports = ("import torch, jax, jaxlstm as J" if order == "torch first"
               else "import jax, jaxlstm as J, torch")
    code = (
        f"{imports}\n"
        "import numpy as np\n"
        "assert J.kernel_status() == 'oneDNN kernel in use', J.kernel_status()\n"
        "p = J.init_lstm(jax.random.PRNGKey(0), 3, 128)\n"
        "xs = jax.random.normal(jax.random.PRNGKey(1), (8, 4, 3))\n"
        "assert 'jaxlstm_lstm_forward' in jax.jit(J.lstm_batch).lower(p, xs).as_text()\n"
        "ref = jax.vmap(lambda x: J.lstm(p, x, backend='reference'))(xs)[1]\n"
        "np.testing.assert_allclose(J.lstm_batch(p, xs)[1], ref, atol=1e-6)\n"
        "maps = open('/proc/self/maps').read()\n"
        "assert 'libgomp-jaxlstm.so.1' in maps\n"
        "torch.ones(4) @ torch.ones(4)\n")
    log = tmp_path / "bindings"
    env = {**os.environ, "LD_DEBUG": "bindings", "LD_DEBUG_OUTPUT": str(log)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    bindings = "".join(p.read_text() for p in tmp_path.glob("bindings*"))
    dnnl_gomp = [line for line in bindings.splitlines()
                 if "libdnnl-jaxlstm.so.3" in line.split(" to ")[0] and "GOMP_parallel" in line]
    assert dnnl_gomp and all("libgomp-jaxlstm.so.1" in line.split(" to ")[1]
                             for line in dnnl_gomp), dnnl_gomp[:3]


@pytest.mark.parametrize("reverse", [False, True])
def test_padded_batches_on_the_kernel_equal_the_scan_with_lengths(reverse):
    """Lengths 0..T in one batch: outputs, final states and every gradient (the final c's
    included) against the reference scan, which stops each sequence at its length."""
    params, xs = _setup(B=10, T=6, X=3, seed=4)
    lengths = jnp.asarray([6, 0, 1, 3, 5, 6, 2, 4, 6, 1])

    def loss(backend, p, x):
        (h, c), hs = jax.vmap(lambda x, n: J.lstm(p, x, lengths=n, reverse=reverse, backend=backend))(
            x, lengths)
        return jnp.sum(jnp.sin(hs)) + 0.3 * jnp.sum(h) + jnp.sum(c ** 2), (h, c, hs)

    assert _uses_kernel(lambda p, x: loss(None, p, x), params, xs)
    got = jax.jit(jax.value_and_grad(functools.partial(loss, None), argnums=(0, 1), has_aux=True))(params, xs)
    want = jax.jit(jax.value_and_grad(functools.partial(loss, "reference"), argnums=(0, 1), has_aux=True))(
        params, xs)
    _assert_trees_close(got, want, 2e-5)
    (_, (_, _, hs)), _ = got
    np.testing.assert_array_equal(hs[1], 0.0)  # length 0: no output
    per_sequence = jax.jit(jax.vmap(jax.grad(lambda p, x, n: jnp.sum(J.lstm(p, x, lengths=n, reverse=reverse)[0].c)),
                                    in_axes=(None, 0, 0)))(params, xs, lengths)
    reference = jax.jit(jax.vmap(jax.grad(lambda p, x, n: jnp.sum(
        J.lstm(p, x, lengths=n, reverse=reverse, backend="reference")[0].c)), in_axes=(None, 0, 0)))(
        params, xs, lengths)
    _assert_trees_close(per_sequence, reference, 2e-5)
