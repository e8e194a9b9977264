"""Bad input to the core gives one clear error naming the argument and both shapes."""

import jax
import jax.numpy as jnp
import pytest

import jaxlstm as J

P = J.init_lstm(jax.random.key(0), 3, 4)
XS = jnp.ones((5, 3))

CASES = [
    ("feature size", lambda: J.lstm(P, jnp.ones((5, 2))), ValueError, r"xs must have shape \(T, input_size=3\), got shape \(5, 2\)"),
    ("rank 1", lambda: J.lstm(P, jnp.ones(3)), ValueError, r"xs must have shape \(T, X\) \(rank 2\), got shape \(3,\)"),
    ("rank 3 hints vmap", lambda: J.lstm(P, jnp.ones((2, 5, 3))), ValueError, "jax.vmap"),
    ("int input", lambda: J.lstm(P, jnp.ones((5, 3), jnp.int32)), TypeError, "xs must be a floating-point array, got dtype int32"),
    ("state h size", lambda: J.lstm(P, XS, J.LSTMState(jnp.zeros(3), jnp.zeros(4))), ValueError, r"state0 must have leaf shapes \[\(4,\), \(4,\)\], got \[\(3,\), \(4,\)\]"),
    ("state structure", lambda: J.lstm(P, XS, (jnp.zeros(4),)), ValueError, "state0 must have structure"),
    ("negative length", lambda: J.lstm(P, XS, lengths=jnp.asarray(-1)), ValueError, r"lengths must lie in \[0, T=5\], got min -1"),
    ("too long", lambda: J.lstm(P, XS, lengths=jnp.asarray(6)), ValueError, r"lengths must lie in \[0, T=5\], got min 6 and max 6"),
    ("float lengths", lambda: J.lstm(P, XS, lengths=jnp.asarray(2.0)), TypeError, "lengths must be an integer array"),
    ("batched lengths", lambda: J.lstm(P, XS, lengths=jnp.array([1, 2])), ValueError, r"lengths must have shape \(\)"),
    ("unknown variant", lambda: J.CellSpec(variant="gru"), ValueError, r"CellSpec.variant must be one of \['vanilla', 'peephole_full', .*got 'gru'"),
    ("unknown activation", lambda: J.CellSpec(cell_activation="relu"), ValueError, r"CellSpec.cell_activation must be one of \['sigmoid', 'tanh', 'identity', 'hard_sigmoid'\], got 'relu'"),
    ("bad combination", lambda: J.CellSpec(variant="peephole_full", peepholes=True), ValueError, "peephole_full"),
    ("params of another variant", lambda: J.lstm(P, XS, spec=J.CellSpec(variant="cifg")), ValueError, r"params.w_x has shape \(3, 16\) but CellSpec\(variant='cifg'"),
    ("step x size", lambda: J.cell_step(P, J.zero_state(P), jnp.ones(2)), ValueError, r"x must have last dimension input_size=3, got shape \(2,\)"),
    ("step batch mismatch", lambda: J.cell_step(P, J.zero_state(P, (2,)), jnp.ones((3, 3))), ValueError, r"leading \(batch\) dimensions differ: x \(3, 3\), state.h \(2, 4\)"),
    ("stack states", lambda: J.lstm_stack([P], XS, [None, None]), ValueError, "states0 must hold one state per layer"),
    ("dropout", lambda: J.lstm_stack([P], XS, dropout_rate=1.5), ValueError, r"dropout_rate must lie in \[0, 1\)"),
    ("rnn input size", lambda: J.rnn(J.init_rnn(jax.random.key(0), 3, 4), jnp.ones((5, 2))), ValueError, "input_size=3"),
    ("layers", lambda: J.init_lstm_stack(jax.random.key(0), 3, 4, 0), ValueError, "num_layers must be a positive int"),
]


@pytest.mark.parametrize("call,exc,message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_clear_error(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


def test_errors_raise_at_trace_time_under_jit():
    run = jax.jit(J.lstm)
    with pytest.raises(ValueError, match="input_size=3"):
        run(P, jnp.ones((5, 2)))
