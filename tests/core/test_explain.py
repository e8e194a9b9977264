"""`J.explain` for every registered family and mode: the form it names is the one the call
runs (its outputs equal, bit for bit, those of the call with that form named), and an
invalid call raises what the layer function raises."""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlstm as J

KEY = jax.random.key(0)
XS = jax.random.normal(jax.random.key(1), (6, 3))

# family name -> (params, spec); every registered family appears (checked below).
CALLS = {
    "lstm": (J.init_lstm(KEY, 3, 4), J.CellSpec()),
    "rnn": (J.init_rnn(KEY, 3, 4), J.FAMILIES["rnn"].spec_type()),
    "gru": (J.init_gru(KEY, 3, 4), J.FAMILIES["gru"].spec_type()),
    "slstm": (J.init_slstm(KEY, 3, 4, J.SLSTMSpec(num_heads=2)), J.SLSTMSpec(num_heads=2)),
    "mlstm": (J.init_mlstm(KEY, 3, 4, J.MLSTMSpec(num_heads=2, chunk_size=4)),
              J.MLSTMSpec(num_heads=2, chunk_size=4)),
    "minlstm": (J.init_minlstm(KEY, 3, 4), J.MinLSTMSpec()),
    "mingru": (J.init_mingru(KEY, 3, 4), J.MinGRUSpec()),
    "paralstm": (J.init_paralstm(KEY, 3, 4), J.ParaLSTMSpec()),
    "paragru": (J.init_paragru(KEY, 3, 4), J.ParaGRUSpec()),
}


def test_every_registered_family_is_covered():
    assert set(CALLS) == set(J.FAMILIES)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_the_named_form_is_the_one_that_runs(name):
    family = J.FAMILIES[name]
    params, spec = CALLS[name]
    layer = jax.jit(family.layer, static_argnames=("spec", "mode"))  # not op by op: one compile
    for mode in (None,) + family.modes:
        plan = J.explain(params, XS, spec=spec, mode=mode, lengths=4)
        assert plan.mode in family.modes and plan.mode != "auto", plan
        assert plan.lengths == "masked"
        kwargs = {} if mode is None else {"mode": mode}
        got = layer(params, XS, spec=spec, lengths=4, **kwargs)
        named = layer(params, XS, spec=spec, lengths=4, mode=plan.mode)
        jax.tree.map(lambda a, b: np.testing.assert_array_equal(a, b), got, named)
        if name != "lstm" or plan.mode != "scan":
            assert plan.backend == "jax", plan


def test_auto_resolves_per_family_and_length():
    params, spec = CALLS["mlstm"]
    assert J.explain(params, XS, spec=spec).mode == "chunkwise"
    assert "default_mode for T=6" in J.explain(params, XS, spec=spec).reason
    minlstm, _ = CALLS["minlstm"]
    assert J.explain(minlstm, XS).mode == J.FAMILIES["minlstm"].default_mode(6)


def test_the_lstm_scan_mode_is_planned_by_dispatch():
    params, _ = CALLS["lstm"]
    assert J.explain(params, XS).backend == "xla_fused"
    assert J.explain(params, XS, mode="newton").backend == "jax"
    assert J.explain(params, XS, mode="newton").mode == "newton"


def _raised(fn):
    with pytest.raises((TypeError, ValueError)) as info:
        fn()
    return type(info.value), str(info.value)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_an_invalid_call_raises_what_the_layer_raises(name):
    family = J.FAMILIES[name]
    params, spec = CALLS[name]
    bad_calls = [
        dict(xs=jnp.ones((6, 5))),                         # wrong input width
        dict(xs=XS, lengths=7),                            # lengths > T
        dict(xs=XS, lengths=1.5),                          # non-integer lengths
        dict(xs=XS, mode="no_such_mode"),
    ]
    for call in bad_calls:
        xs = call.pop("xs")
        assert _raised(lambda: J.explain(params, xs, spec=spec, **call)) == _raised(
            lambda: family.layer(params, xs, spec=spec, **call)), (name, call)


def test_parameters_of_no_family_are_named():
    with pytest.raises(TypeError, match="params must be the parameters of a registered cell "
                                        "family .*got list"):
        J.explain([jnp.ones((3, 4))], XS)


def test_a_batch_checks_lengths_per_sequence():
    params, _ = CALLS["gru"]
    xs = jnp.ones((2, 6, 3))
    assert J.explain(params, xs, lengths=jnp.array([6, 2])).lengths == "masked"
    with pytest.raises(ValueError, match=r"lengths must have shape \(2,\)"):
        J.explain(params, xs, lengths=jnp.array([6, 2, 1]))
