"""Seed 003's hand-computed LSTM example, run through jaxlstm.

The seed (一步步理解LSTM网络) feeds X1..X4 = [2,-1,1], [3,1,-1], [2,1,1], [1,0,-1]
through a one-unit LSTM with h0 = C0 = 1, no biases, identity in place of tanh,
and weights over [x1, x2, x3, h_{t-1}]:

    forget  σ1: [0, 100, 0,  10]      input  σ2: [0, 0,  100, -10]
    cand.    ∫: [1,   0, 0,   0]      output σ3: [0, 0, -100, -10]

It prints the outputs [0, 2, 0, 0]. Its step 4 takes sigmoid(0) as 0; sigmoid(0)
is 0.5, so the forget gate keeps half of C3 = 4, C4 = 2 and h4 = 1 · 2 = 2: the
equations give [0, 2, 0, 2]. Run: python experiments/worked_example.py
"""

import jax
import jax.numpy as jnp

import jaxlstm as J

SPEC = J.CellSpec(candidate_activation="identity", cell_activation="identity")
XS = jnp.array([[2.0, -1.0, 1.0], [3.0, 1.0, -1.0], [2.0, 1.0, 1.0], [1.0, 0.0, -1.0]])
SEED_PRINTED = [0.0, 2.0, 0.0, 0.0]


def seed003_params(dtype=jnp.float32) -> J.LSTMParams:
    """The seed's hand-set weights in jaxlstm's layout: blocks i, f, g, o."""
    #                   i      f      g     o
    w_x = jnp.array([[0.0,   0.0,  1.0,    0.0],
                     [0.0, 100.0,  0.0,    0.0],
                     [100.0, 0.0,  0.0, -100.0]], dtype)
    w_h = jnp.array([[-10.0, 10.0, 0.0, -10.0]], dtype)
    return J.LSTMParams(w_x=w_x, w_h=w_h, b=jnp.zeros(4, dtype))


def main():
    params = seed003_params()
    state = J.LSTMState(h=jnp.ones(1), c=jnp.ones(1))
    print("step  f      i      g      o      C_t    h_t")
    for t, x in enumerate(XS, start=1):
        f = J.forget_gate(params, state, x, SPEC)
        i = J.input_gate(params, state, x, SPEC)
        g = J.candidate(params, state, x, SPEC)
        c = f * state.c + i * g
        o = J.output_gate(params, state, x, SPEC, c_new=c)
        state, h = J.cell_step(params, state, x, SPEC)
        print(f"{t:>4}  {float(f[0]):.3f}  {float(i[0]):.3f}  {float(g[0]):+.2f}  "
              f"{float(o[0]):.3f}  {float(c[0]):+.2f}  {float(h[0]):+.2f}")
    _, hs = J.lstm(params, XS, J.LSTMState(jnp.ones(1), jnp.ones(1)), spec=SPEC)
    print("outputs from the equations:", [round(float(v), 4) for v in hs[:, 0]])
    print("outputs printed by the seed:", SEED_PRINTED)
    print("They differ at step 4: the seed takes sigmoid(0) = 0, but sigmoid(0) = 0.5, so\n"
          "C4 = 0.5 * C3 + 0 * 1 = 2 (not 0) and h4 = sigmoid(100) * C4 = 2.")


if __name__ == "__main__":
    main()
