"""Issue 28, core findings 3, 4, 5, 14, 15, 16: one table of every family and mode, run
through the shared prologue (`jaxlstm.core.scan.prepare_layer`, `check_layer_call`).

The reference is each family's one-step function run in a Python loop over the valid
prefix (the recurrent form, no driver, no lengths, no parallel algebra).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlstm as J

X, H, T, N = 3, 4, 7, 4   # N: the valid length in the padded cases

# name, layer function, init, spec, extra layer kwargs
ROWS = [
    ("lstm", J.lstm, J.init_lstm, J.CellSpec(), {}),
    ("lstm-reference", J.lstm, J.init_lstm, J.CellSpec(), {"backend": "reference"}),
    ("lstm-peepholes", J.lstm, J.init_lstm, J.CellSpec(peepholes=True), {}),
    ("gru", J.gru, J.init_gru, J.get_family("gru").spec_type(), {}),
    ("rnn", J.rnn, J.init_rnn, J.get_family("rnn").spec_type(), {}),
    ("slstm", J.slstm, J.init_slstm, J.SLSTMSpec(num_heads=2), {}),
    ("mlstm-recurrent", J.mlstm, J.init_mlstm, J.MLSTMSpec(num_heads=2), {"mode": "recurrent"}),
    ("mlstm-parallel", J.mlstm, J.init_mlstm, J.MLSTMSpec(num_heads=2), {"mode": "parallel"}),
    ("mlstm-chunkwise", J.mlstm, J.init_mlstm, J.MLSTMSpec(num_heads=2),
     {"mode": "chunkwise", "chunk_size": 3}),
    ("minlstm-sequential", J.minlstm, J.init_minlstm, J.MinLSTMSpec(), {"mode": "sequential"}),
    ("minlstm-parallel", J.minlstm, J.init_minlstm, J.MinLSTMSpec(), {"mode": "parallel"}),
    ("mingru-sequential", J.mingru, J.init_mingru, J.MinGRUSpec(), {"mode": "sequential"}),
    ("mingru-parallel", J.mingru, J.init_mingru, J.MinGRUSpec(), {"mode": "parallel"}),
]
IDS = [r[0] for r in ROWS]
FAMILY_OF = {J.lstm: "lstm", J.gru: "gru", J.rnn: "rnn", J.slstm: "slstm", J.mlstm: "mlstm",
             J.minlstm: "minlstm", J.mingru: "mingru"}


def _make(row, dtype=jnp.float32):
    name, layer, init, spec, kw = row
    family = J.get_family(FAMILY_OF[layer])
    params = family.init(jax.random.key(0), X, H, spec, dtype=dtype)
    # non-trivial biases so that no gate sits at a symmetric point
    params = jax.tree.map(lambda a: a + 0.1 * jax.random.normal(jax.random.key(1), a.shape, a.dtype),
                          params)
    run = functools.partial(layer, spec=spec, **kw)
    return family, spec, params, run


def _xs(seed=2, dtype=jnp.float32):
    return jax.random.normal(jax.random.key(seed), (T, X), dtype)


@functools.partial(jax.jit, static_argnames=("family", "reverse"))
def _loop(family, spec, params, xs, reverse=False):
    """The reference: family.step over the rows of xs in a Python loop, from zeros (unrolled
    under jit: one compile instead of op-by-op dispatch of every step)."""
    state = family.zero_state(params, spec)
    order = range(xs.shape[0] - 1, -1, -1) if reverse else range(xs.shape[0])
    outs = {}
    for t in order:
        state, out = family.step(params, state, xs[t], spec)
        outs[t] = out
    return state, jnp.stack([outs[t] for t in range(xs.shape[0])]) if outs else None


@functools.lru_cache(maxsize=None)
def _compiled(name, reverse, batched):
    """The layer of row `name` with `lengths`, jitted: one compile per case instead of op-by-op
    dispatch, shared by the NaN and inf padding. `batched`: vmapped over (xs, lengths) of shape
    (B, T, X), (B,), as the README calls it."""
    run = _make(ROWS[IDS.index(name)])[3]
    layer = lambda p, x, n: run(p, x, lengths=n, reverse=reverse)  # noqa: E731
    return jax.jit(jax.vmap(layer, in_axes=(None, 0, 0)) if batched else layer)


def _close(a, b, tol=2e-5):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=tol, atol=tol)


# finding 3: padding never reaches valid outputs or the final state
@pytest.mark.parametrize("reverse", [False, True], ids=["fw", "bw"])
@pytest.mark.parametrize("bad", [np.nan, np.inf], ids=["nan", "inf"])
@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_non_finite_padding_never_reaches_valid_outputs_or_the_final_state(row, bad, reverse):
    family, spec, params, _ = _make(row)
    xs = _xs()
    padded = xs.at[N:].set(bad)
    final, hs = _compiled(row[0], reverse, batched=False)(params, padded, N)
    want_final, want_hs = _loop(family, spec, params, xs[:N], reverse=reverse)
    _close(final, want_final)
    _close(hs[:N], want_hs)
    np.testing.assert_array_equal(np.asarray(hs[N:]), 0.0)


# finding 3: in every form a non-finite input at step t reaches no step before t
@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_a_non_finite_input_reaches_no_earlier_step(row):
    family, spec, params, run = _make(row)
    xs = _xs().at[N].set(jnp.nan)
    _, hs = run(params, xs)
    _, want = _loop(family, spec, params, xs[:N])
    _close(hs[:N], want)
    assert not np.isfinite(np.asarray(hs[N])).all()  # and it is not hidden at t itself


# finding 5: NaN in padded steps reaches no gradient
@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_nan_in_padded_steps_reaches_no_gradient(row):
    family, spec, params, run = _make(row)
    xs = _xs()

    def loss(p, x, **kw):
        final, hs = run(p, x, **kw)
        return jnp.sum(hs ** 2) + sum(jnp.sum(leaf) for leaf in jax.tree.leaves(final))

    def reference(p):
        final, hs = _loop(family, spec, p, xs[:N])
        return jnp.sum(hs ** 2) + sum(jnp.sum(leaf) for leaf in jax.tree.leaves(final))

    grads = jax.jit(jax.grad(loss))(params, xs.at[N:].set(jnp.nan), lengths=N)
    assert all(np.isfinite(np.asarray(g)).all() for g in jax.tree.leaves(grads))
    _close(grads, jax.jit(jax.grad(reference))(params), tol=1e-4)


# finding 14: out-of-range lengths raise where concrete, are clamped to [0, T] under jit
@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_out_of_range_lengths_are_an_error_where_concrete(row):
    _, _, params, run = _make(row)
    xs = _xs()
    message = rf"lengths must lie in \[0, T={T}\], got min -3 and max {T + 1}"
    with pytest.raises(ValueError, match=rf"lengths must lie in \[0, T={T}\]"):
        run(params, xs, lengths=-3)
    with pytest.raises(ValueError, match=message):  # eager vmap: the README's pattern
        jax.vmap(lambda x, n: run(params, x, lengths=n))(jnp.stack([xs, xs]),
                                                         jnp.array([-3, T + 1]))


@pytest.mark.parametrize("reverse", [False, True], ids=["fw", "bw"])
@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_out_of_range_lengths_under_jit_are_clamped_to_0_and_t(row, reverse):
    family, spec, params, _ = _make(row)
    xs = _xs()
    final, hs = _compiled(row[0], reverse, batched=True)(params, jnp.stack([xs, xs]),
                                                         jnp.array([-3, T + 30]))
    zero = family.zero_state(params, spec)
    _close(jax.tree.map(lambda a: a[0], final), zero, tol=0)   # -3 acts as 0: no step
    np.testing.assert_array_equal(np.asarray(hs[0]), 0.0)
    want_final, want_hs = _loop(family, spec, params, xs, reverse=reverse)  # T + 30 acts as T
    _close(jax.tree.map(lambda a: a[1], final), want_final)
    _close(hs[1], want_hs)


# finding 16: one dtype rule, jnp.result_type(params, xs)
@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_float32_params_with_float64_inputs_compute_in_float64(row):
    with jax.enable_x64(True):
        family, spec, params, run = _make(row, jnp.float32)
        xs = _xs(dtype=jnp.float64)
        final, hs = jax.jit(run)(params, xs, lengths=N)
        assert hs.dtype == jnp.float64
        assert all(leaf.dtype == jnp.float64 for leaf in jax.tree.leaves(final))
        params64 = jax.tree.map(lambda a: a.astype(jnp.float64), params)
        want_final, want_hs = _loop(family, spec, params64, xs[:N])
        _close(final, want_final, tol=1e-10)
        _close(hs[:N], want_hs, tol=1e-10)


# finding 15: a spec or params of another family, lists as inputs
OTHER_SPEC = {"lstm": J.MLSTMSpec(), "gru": J.CellSpec(), "rnn": J.MinGRUSpec(),
              "slstm": J.MLSTMSpec(), "mlstm": J.SLSTMSpec(), "minlstm": J.MinGRUSpec(),
              "mingru": J.MinLSTMSpec()}
OTHER_PARAMS = {"lstm": "gru", "gru": "lstm", "rnn": "gru", "slstm": "mlstm", "mlstm": "slstm",
                "minlstm": "mingru", "mingru": "minlstm"}


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_another_familys_spec_or_params_or_a_list_is_one_clear_error(row):
    name, layer, _, _, kw = row
    family = J.get_family(FAMILY_OF[layer])
    _, spec, params, run = _make(row)
    xs = _xs()
    other = OTHER_SPEC[family.name]
    with pytest.raises(TypeError, match=rf"spec must be a {family.spec_type.__name__} for "
                                        rf"{family.name}, got {type(other).__name__}\("):
        layer(params, xs, spec=other, **kw)
    wrong = J.get_family(OTHER_PARAMS[family.name]).init(jax.random.key(0), X, H)
    with pytest.raises(TypeError, match=rf"params must be (an )?{type(params).__name__}.*"
                                        rf"got {type(wrong).__name__}"):
        run(wrong, xs)
    with pytest.raises(TypeError, match=r"xs must be a JAX or NumPy array of shape \(T, X\), "
                                        r"got list"):
        run(params, np.asarray(xs).tolist())
    with pytest.raises(TypeError, match=r"lengths must be a JAX or NumPy array .* got list"):
        run(params, xs, lengths=[N])


def _error_of(call):
    with pytest.raises((TypeError, ValueError)) as info:
        call()
    return type(info.value), str(info.value)


LSTM_P = J.init_lstm(jax.random.key(0), X, H)
BAD_LSTM_CALLS = [  # (name, params, xs, kwargs): calls lstm refuses (GRU params: explain
    # explains the GRU's call, tests/core/test_explain.py)
    ("mlstm spec", LSTM_P, np.ones((T, X), np.float32), {"spec": J.MLSTMSpec()}),
    ("wrong X", LSTM_P, np.ones((T, X + 1), np.float32), {}),
    ("integer xs", LSTM_P, np.ones((T, X), np.int32), {}),
    ("lengths > T", LSTM_P, np.ones((T, X), np.float32), {"lengths": T + 1}),
    ("lengths < 0", LSTM_P, np.ones((T, X), np.float32), {"lengths": np.int32(-3)}),
    ("float lengths", LSTM_P, np.ones((T, X), np.float32), {"lengths": np.float32(2)}),
    ("list lengths", LSTM_P, np.ones((T, X), np.float32), {"lengths": [2]}),
    ("bad remat", LSTM_P, np.ones((T, X), np.float32), {"remat": -1}),
]


# finding 15: explain raises what lstm raises (the reference: lstm's own error)
@pytest.mark.parametrize("params,xs,kw", [c[1:] for c in BAD_LSTM_CALLS],
                         ids=[c[0] for c in BAD_LSTM_CALLS])
def test_explain_of_a_call_lstm_refuses_raises_the_same_error(params, xs, kw):
    want = _error_of(lambda: J.lstm(params, xs, **kw))
    assert _error_of(lambda: J.explain(params, xs, **kw)) == want


def test_explain_of_a_list_names_both_layouts_it_takes():
    with pytest.raises(TypeError, match=r"xs must be a JAX or NumPy array of shape \(T, X\) or "
                                        r"\(B, T, X\), got list; convert it with jnp.asarray"):
        J.explain(LSTM_P, np.ones((T, X)).tolist())


@pytest.mark.parametrize("lengths", [np.array([2, T + 1], np.int32), np.array([-1, 2], np.int32),
                                     np.array([1, 2, 3], np.int32)], ids=["above", "below", "shape"])
def test_explain_of_a_batch_checks_lengths_as_vmap_of_lstm(lengths):
    xs = np.ones((2, T, X), np.float32)
    message = _error_of(lambda: J.explain(LSTM_P, xs, lengths=lengths))[1]
    if lengths.shape == (2,):  # vmap checks each example: the same range error
        assert _error_of(lambda: jax.vmap(lambda x, n: J.lstm(LSTM_P, x, lengths=n))(
            xs, lengths)) == (ValueError, message)
    else:
        assert message == "lengths must have shape (2,) (one per sequence), got shape (3,)"
    assert J.explain(LSTM_P, xs, lengths=np.array([2, T], np.int32)).lengths is not None


# finding 4: parameters made for one spec, used with another
MISMATCHES = [
    ("slstm heads", J.slstm, J.init_slstm(jax.random.key(0), X, 8, J.SLSTMSpec(num_heads=2)),
     J.SLSTMSpec(num_heads=4), r"params.r must have shape \(4, 2, 8\) for SLSTMSpec\(num_heads=4"),
    ("slstm heads not dividing", J.slstm, J.init_slstm(jax.random.key(0), X, 8),
     J.SLSTMSpec(num_heads=3), r"hidden_size=8 must be a positive multiple of "
                               r"SLSTMSpec.num_heads=3"),
    ("mlstm heads", J.mlstm, J.init_mlstm(jax.random.key(0), X, 16, J.MLSTMSpec(num_heads=16)),
     J.MLSTMSpec(num_heads=15), r"params.w_gates must have shape \(X, 2K\) with "
                                r"K=MLSTMSpec.num_heads=15, got \(3, 32\); were the parameters "
                                r"made for num_heads=16\?"),
    # H=16, K=1 and H=15, K=3 had the same fused width 4H + 2K = 66: read as H=15 before
    ("mlstm heads, same fused width", J.mlstm,
     J.init_mlstm(jax.random.key(0), X, 16, J.MLSTMSpec(num_heads=1)), J.MLSTMSpec(num_heads=3),
     r"params.w_gates must have shape \(X, 2K\) with K=MLSTMSpec.num_heads=3, got \(3, 2\)"),
    ("mlstm heads, same fused width, step",
     lambda p, xs, spec: J.mlstm_step(p, J.MLSTMState(jnp.zeros((3, 5, 5)), jnp.zeros((3, 5)),
                                                      jnp.zeros(3)), xs[0], spec),
     J.init_mlstm(jax.random.key(0), X, 16, J.MLSTMSpec(num_heads=1)), J.MLSTMSpec(num_heads=3),
     r"params.w_gates must have shape \(X, 2K\) with K=MLSTMSpec.num_heads=3, got \(3, 2\)"),
    ("paralstm heads", J.paralstm, J.init_paralstm(jax.random.key(0), 4, 8,
                                                   J.ParaLSTMSpec(num_heads=2)),
     J.ParaLSTMSpec(num_heads=4), r"params.w_x must have shape \(num_heads=4, X/K, 3H/K\), "
                                  r"got \(2, 2, 12\)"),
    ("mlstm heads not dividing", J.mlstm, J.init_mlstm(jax.random.key(0), X, 6,
                                                       J.MLSTMSpec(num_heads=2))._replace(
        w_gates=jnp.zeros((X, 8)), b_gates=jnp.zeros(8)),
     J.MLSTMSpec(num_heads=4), r"hidden_size=6 must be a positive multiple of "
                               r"MLSTMSpec.num_heads=4"),
    ("gru recurrent width", J.gru, J.GRUParams(*J.init_gru(jax.random.key(0), X, H)[:1],
                                               jnp.zeros((H, 2 * H)),
                                               *J.init_gru(jax.random.key(0), X, H)[2:]),
     None, r"params.w_h must have shape \(4, 12\) for GRUSpec\(\), got \(4, 8\)"),
    ("rnn bias", J.rnn, J.init_rnn(jax.random.key(0), X, H)._replace(b=jnp.zeros(H + 1)),
     None, r"params.b must have shape \(4,\) for RNNSpec\(\), got \(5,\)"),
    ("minlstm width", J.minlstm, J.init_minlstm(jax.random.key(0), X, H)._replace(
        b=jnp.zeros(3 * H + 1)), J.MinLSTMSpec(), r"params.b must have shape \(3H,\)"),
    ("mingru input rank", J.mingru, J.init_mingru(jax.random.key(0), X, H)._replace(
        w_x=jnp.zeros((X, 2, H))), J.MinGRUSpec(), r"params.w_x must have rank 2, got shape"),
    ("lstm peepholes", J.lstm, J.init_lstm(jax.random.key(0), X, H, J.CellSpec(peepholes=True)),
     J.CellSpec(), r"params.w_peep has shape \(3, 4\) but CellSpec\(variant='vanilla', "
                   r"peepholes=False\)"),
]


@pytest.mark.parametrize("layer,params,spec,message", [m[1:] for m in MISMATCHES],
                         ids=[m[0] for m in MISMATCHES])
def test_params_made_for_another_spec_are_one_clear_error(layer, params, spec, message):
    kw = {} if spec is None else {"spec": spec}
    with pytest.raises(ValueError, match=message):
        layer(params, _xs(), **kw)
