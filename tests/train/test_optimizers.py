"""Every optimizer option of the config against its update rule written out in NumPy.

Three steps of `make_optimizer(OptimConfig(...))` on a small parameter tree with fixed
gradients must give the parameters that the textbook equations give (float64, so the
comparison is to 1e-12). The equations are copied from the papers / PyTorch docs, not
from optax: Adam (Kingma & Ba 2015, Alg. 1), AdamW (Loshchilov & Hutter 2019: decay
λ·θ added to the Adam step, scaled by the learning rate), SGD with heavy-ball momentum,
RMSprop (Hinton's lecture 6e, ε inside the square root), global-norm clipping.
"""

import jax
import numpy as np
import optax
import pytest

from jaxlstm.train.lab.config import OptimConfig
from jaxlstm.train.lab.optim import make_optimizer

LR = 0.01
GRADS = [  # one gradient tree per step: a matrix and a vector
    {"w": np.array([[0.5, -1.0], [2.0, 0.25]]), "b": np.array([0.1, -0.3])},
    {"w": np.array([[-0.2, 0.7], [1.5, -0.5]]), "b": np.array([0.4, 0.2])},
    {"w": np.array([[0.3, 0.3], [-1.0, 0.9]]), "b": np.array([-0.6, 0.05])},
]
PARAMS = {"w": np.array([[1.0, -2.0], [0.5, 0.0]]), "b": np.array([0.2, 0.3])}


@pytest.fixture(autouse=True)
def float64():
    with jax.enable_x64(True):
        yield


def run(cfg: OptimConfig, grads=GRADS) -> dict:
    opt = make_optimizer(cfg, total_steps=100)
    params = jax.tree.map(np.asarray, PARAMS)
    state = opt.init(params)
    for g in grads:
        updates, state = opt.update(g, state, params)
        params = optax.apply_updates(params, updates)
    return jax.tree.map(np.asarray, params)


def numpy_steps(step_fn, grads=GRADS) -> dict:
    """Apply `step_fn(name, theta, g, t, slots) -> theta` per leaf over the steps."""
    out = {}
    for name, theta in PARAMS.items():
        theta, slots = theta.copy(), {}
        for t, g in enumerate(grads, start=1):
            theta = step_fn(theta, g[name], t, slots)
        out[name] = theta
    return out


def assert_trees_close(a, b):
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-12, atol=1e-14)


def adam_step(theta, g, t, s, b1=0.9, b2=0.999, eps=1e-8, wd=0.0):
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
    m_hat, v_hat = s["m"] / (1 - b1 ** t), s["v"] / (1 - b2 ** t)
    return theta - LR * (m_hat / (np.sqrt(v_hat) + eps) + wd * theta)


def test_adam():
    got = run(OptimConfig(name="adam", learning_rate=LR, clip_norm=None))
    assert_trees_close(got, numpy_steps(adam_step))


def test_adamw_decays_weights_by_lr_times_lambda():
    got = run(OptimConfig(name="adamw", learning_rate=LR, weight_decay=0.1, clip_norm=None))
    want = numpy_steps(lambda th, g, t, s: adam_step(th, g, t, s, wd=0.1))
    assert_trees_close(got, want)
    # and the decay matters: without it the result differs by more than rounding
    plain = numpy_steps(adam_step)
    assert np.abs(got["w"] - plain["w"]).max() > 1e-5


def test_sgd_with_heavy_ball_momentum():
    def step(theta, g, t, s):
        s["v"] = 0.9 * s.get("v", 0.0) + g          # v_t = μ v_{t-1} + g_t
        return theta - LR * s["v"]

    got = run(OptimConfig(name="sgd", learning_rate=LR, momentum=0.9, clip_norm=None))
    assert_trees_close(got, numpy_steps(step))


def test_sgd_without_momentum_is_plain_gradient_descent():
    got = run(OptimConfig(name="sgd", learning_rate=LR, momentum=0.0, clip_norm=None))
    want = {k: PARAMS[k] - LR * sum(g[k] for g in GRADS) for k in PARAMS}
    assert_trees_close(got, want)


def test_rmsprop_with_momentum():
    def step(theta, g, t, s, rho=0.9, eps=1e-8, mu=0.5):
        s["ms"] = rho * s.get("ms", 0.0) + (1 - rho) * g * g     # mean square, from 0
        s["buf"] = mu * s.get("buf", 0.0) + g / np.sqrt(s["ms"] + eps)
        return theta - LR * s["buf"]

    got = run(OptimConfig(name="rmsprop", learning_rate=LR, momentum=0.5, clip_norm=None))
    assert_trees_close(got, numpy_steps(step))


def test_clip_by_global_norm_rescales_only_large_gradients():
    big = [jax.tree.map(lambda g: 10.0 * g, GRADS[0])]   # global norm ≈ 25 > 1
    small = [jax.tree.map(lambda g: 0.01 * g, GRADS[0])]  # global norm ≈ 0.025 < 1
    for grads in (big, small):
        norm = np.sqrt(sum((g ** 2).sum() for g in grads[0].values()))
        scale = min(1.0, 1.0 / norm)
        want = {k: PARAMS[k] - LR * scale * grads[0][k] for k in PARAMS}
        got = run(OptimConfig(name="sgd", learning_rate=LR, momentum=0.0, clip_norm=1.0), grads)
        assert_trees_close(got, want)
