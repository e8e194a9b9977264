"""The xLSTM residual blocks (jaxlstm.nn.xlstm_blocks) against a NumPy forward pass of the
equations in that module's docstring, with the module's own weights copied out.

The blocks differ from the xlstm package's (no convolution in the sLSTM block; one dense
q, k, v, o, ĩ, f̃ projection of the convolved branch in the mLSTM block; see
docs/modern_cells.md), so their weights do not map onto its PyTorch blocks; the reference
here is written from the documented equations instead. Its cells are the unstabilised
NumPy cells of tests/core/modern_reference.py; the layer norms, the per-head norm, the
depthwise causal convolution, swish and GELU (tanh form) are written out below.
"""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxlstm.nn.xlstm_blocks import XLSTM, MLSTMBlock, SLSTMBlock
from tests.core.modern_reference import np_mlstm, np_slstm, sigmoid

RTOL, ATOL = 2e-4, 2e-5  # float32 module vs float64 reference


def a(param):
    return np.asarray(param[...], np.float64)


def layer_norm(x, norm):  # flax's LayerNorm: eps 1e-6, scale and bias
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-6) * a(norm.scale) + a(norm.bias)


def head_norm(x, norm, heads):  # per-head layer norm, eps 1e-5, scale only
    parts = x.reshape(*x.shape[:-1], heads, -1)
    mean = parts.mean(-1, keepdims=True)
    var = ((parts - mean) ** 2).mean(-1, keepdims=True)
    return ((parts - mean) / np.sqrt(var + 1e-5)).reshape(x.shape) * a(norm.scale)


def linear(x, lin):
    return x @ a(lin.kernel) + a(lin.bias)


def swish(x):
    return x * sigmoid(x)


def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


def causal_depthwise_conv(x, conv):
    """x (T, E); kernel (K, 1, E): out_t = Σ_j x_{t-K+1+j} w_j + b (zeros before t = 0)."""
    kernel = a(conv.kernel)[:, 0, :]
    size = kernel.shape[0]
    padded = np.concatenate([np.zeros((size - 1, x.shape[1])), x])
    return np.stack([(padded[t:t + size] * kernel).sum(0) for t in range(x.shape[0])]) \
        + a(conv.bias)


def np_slstm_block(block, x, heads):
    """y = x + GN(sLSTM(LN(x))); out = y + W_down(GELU(W_gate LN(y)) ⊙ W_up LN(y))."""
    p = block.cell.params
    hs, _ = np_slstm(np.asarray(p.w_x, np.float64), np.asarray(p.r, np.float64),
                     np.asarray(p.b, np.float64), layer_norm(x, block.norm), heads)
    y = x + head_norm(hs, block.head_norm, heads)
    gate, up = np.split(linear(layer_norm(y, block.ff_norm), block.up), 2, axis=-1)
    return y + linear(gelu_tanh(gate) * up, block.down)


def np_mlstm_block(block, x, heads):
    """a, z = split(W_in LN(x)); c = swish(conv(a)); h = (GN(mLSTM(c)) + s ⊙ c) ⊙ swish(z);
    out = x + W_out h."""
    p = block.cell.params
    branch, z = np.split(linear(layer_norm(x, block.norm), block.proj_in), 2, axis=-1)
    c = swish(causal_depthwise_conv(branch, block.conv))
    hs, _ = np_mlstm(*(np.asarray(a, np.float64) for a in (p.w_x, p.b, p.w_gates, p.b_gates)),
                     c, heads)
    h = (head_norm(hs, block.head_norm, heads) + a(block.skip) * c) * swish(z)
    return x + linear(h, block.proj_out)


def _perturb(module, seed):
    """Move every norm scale, bias and skip off its initial 1 or 0, so the test sees them."""
    rng = np.random.default_rng(seed)
    for path, param in nnx.iter_graph(module):
        if isinstance(param, nnx.Param) and path[-1] in ("scale", "bias", "skip"):
            value = param[...]
            param[...] = value + jnp.asarray(0.3 * rng.standard_normal(value.shape), value.dtype)


BLOCKS = {"slstm": (lambda heads, mode: SLSTMBlock(8, num_heads=heads, rngs=nnx.Rngs(0)),
                     np_slstm_block),
          "mlstm": (lambda heads, mode: MLSTMBlock(8, num_heads=heads, mode=mode, rngs=nnx.Rngs(0)),
                    np_mlstm_block)}


@pytest.mark.parametrize("kind, mode", [("slstm", None), ("mlstm", "recurrent"),
                                        ("mlstm", "chunkwise")])
@pytest.mark.parametrize("heads", [1, 2])
def test_block_matches_the_documented_equations(kind, mode, heads):
    make, reference = BLOCKS[kind]
    block = make(heads, mode)
    _perturb(block, 1)
    xs = np.random.default_rng(2).standard_normal((2, 7, 8)).astype(np.float32)
    out, _ = nnx.jit(lambda m, x: m(x))(block, jnp.asarray(xs))
    for b in range(2):
        np.testing.assert_allclose(out[b], reference(block, xs[b].astype(np.float64), heads),
                                   rtol=RTOL, atol=ATOL)


def np_xlstm(model, x, heads):
    """Input projection, the blocks in order, the output layer norm."""
    h = x if model.proj is None else linear(x, model.proj)
    for kind, block in zip(model.kinds, model.blocks):
        h = (np_mlstm_block if kind == "mlstm" else np_slstm_block)(block, h, heads)
    return layer_norm(h, model.out_norm)


def test_xlstm_stack_matches_the_blocks_composed_and_masks_padding():
    model = XLSTM(3, 8, num_blocks=3, ratio="1:1", num_heads=2, rngs=nnx.Rngs(0))
    assert model.kinds == ["mlstm", "slstm", "mlstm"]
    _perturb(model, 3)
    xs = np.random.default_rng(4).standard_normal((2, 6, 3)).astype(np.float32)
    lengths = np.array([6, 4])
    _, hs = nnx.jit(lambda m, x, n: m(x, lengths=n))(model, jnp.asarray(xs), jnp.asarray(lengths))
    for b, length in enumerate(lengths):
        # every part is causal, so the valid prefix is the reference on the prefix alone
        ref = np_xlstm(model, xs[b, :length].astype(np.float64), 2)
        np.testing.assert_allclose(hs[b, :length], ref, rtol=RTOL, atol=ATOL)
        np.testing.assert_array_equal(hs[b, length:], 0.0)
