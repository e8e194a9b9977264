"""Seed 003's worked example: the values its own equations give, computed by hand."""

import math

import jax
import jax.numpy as jnp
import numpy as np

import jaxlstm as J

SPEC = J.CellSpec(candidate_activation="identity", cell_activation="identity")
XS = [[2.0, -1.0, 1.0], [3.0, 1.0, -1.0], [2.0, 1.0, 1.0], [1.0, 0.0, -1.0]]


def _params():
    # Columns over [x1, x2, x3 | h]: forget [0,100,0|10], input [0,0,100|-10],
    # candidate [1,0,0|0], output [0,0,-100|-10]; stored as blocks i, f, g, o.
    w_x = jnp.array([[0, 0, 1, 0], [0, 100, 0, 0], [100, 0, 0, -100]], jnp.float64)
    w_h = jnp.array([[-10, 10, 0, -10]], jnp.float64)
    return J.LSTMParams(w_x, w_h, jnp.zeros(4, jnp.float64))


def _by_hand():
    """The seed's arithmetic with exact sigmoids (σ(0) = 0.5 at step 4)."""
    s = lambda z: 1.0 / (1.0 + math.exp(-z))
    h, c, hs, cs = 1.0, 1.0, [], []
    for x1, x2, x3 in XS:
        f = s(100 * x2 + 10 * h)
        i = s(100 * x3 - 10 * h)
        g = x1
        o = s(-100 * x3 - 10 * h)
        c = f * c + i * g
        h = o * c
        hs.append(h)
        cs.append(c)
    return hs, cs


def test_worked_example_gives_what_the_equations_give():
    hs_hand, cs_hand = _by_hand()
    # Rounded, the hand computation is h = [0, 2, 0, 2], C = [2, 2, 4, 2].
    np.testing.assert_allclose(hs_hand, [0, 2, 0, 2], atol=1e-30)
    np.testing.assert_allclose(cs_hand, [2, 2, 4, 2], atol=1e-30)
    with jax.enable_x64(True):
        state0 = J.LSTMState(jnp.ones(1, jnp.float64), jnp.ones(1, jnp.float64))
        final, hs = J.lstm(_params(), jnp.array(XS, jnp.float64), state0, spec=SPEC)
    np.testing.assert_allclose(hs[:, 0], hs_hand, rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(final.c, [cs_hand[-1]], rtol=1e-14)
    # The seed prints [0, 2, 0, 0]: it took sigmoid(0) as 0 at step 4.
    assert abs(float(hs[3, 0]) - 0.0) > 1.0


def test_step_four_forget_gate_is_one_half():
    with jax.enable_x64(True):
        state3 = J.LSTMState(jnp.zeros(1, jnp.float64), jnp.full((1,), 4.0, jnp.float64))
        f = J.forget_gate(_params(), state3, jnp.array(XS[3], jnp.float64), SPEC)
    assert float(f[0]) == 0.5
