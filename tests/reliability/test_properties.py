"""Property-based tests (Hypothesis) of the scan over random shapes, variants, activations,
lengths and directions, against the NumPy reference in tests/core/reference.py."""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jaxlstm as J
from tests.core.reference import as_numpy, np_lstm
import pytest

pytestmark = pytest.mark.slow  # minutes on 2 cores: the slow tier (.ci/run)

ACTS = list(J.ACTIVATIONS)


@st.composite
def specs(draw):
    variant = draw(st.sampled_from(J.VARIANTS))
    peep = variant not in ("peephole_full", "shared_preact") and draw(st.booleans())
    return J.CellSpec(variant, peep, draw(st.sampled_from(ACTS)), draw(st.sampled_from(ACTS)),
                      draw(st.sampled_from(ACTS)))


@st.composite
def problems(draw):
    spec = draw(specs())
    T = draw(st.integers(1, 7))
    X = draw(st.integers(1, 4))
    H = draw(st.integers(1, 5))
    proj = draw(st.one_of(st.none(), st.integers(1, 3))) if spec.variant != "peephole_full" else None
    B = draw(st.integers(1, 3))
    lengths = draw(st.lists(st.integers(0, T), min_size=B, max_size=B))
    return spec, T, X, H, proj, np.array(lengths), draw(st.booleans()), draw(st.integers(0, 2**16))


# max_examples: the Hypothesis profile (tests/conftest.py; HYPOTHESIS_PROFILE=thorough for more)
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _make(spec, T, X, H, proj, B, seed):
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    params = J.init_lstm(k1, X, H, spec, proj_size=proj, dtype=jnp.float64,
                         bias_init=jax.nn.initializers.normal(1.0),
                         peephole_init=jax.nn.initializers.normal(1.0))
    xs = jax.random.normal(k2, (B, T, X), jnp.float64)
    return params, xs, k3


@SETTINGS
@given(problems())
def test_scan_equals_numpy_reference_and_vmap_equals_loop(problem):
    spec, T, X, H, proj, lengths, reverse, seed = problem
    with jax.enable_x64(True):
        params, xs, _ = _make(spec, T, X, H, proj, len(lengths), seed)
        run = lambda x, n: J.lstm(params, x, spec=spec, lengths=n, reverse=reverse)
        finals, hs = jax.jit(jax.vmap(run))(xs, jnp.asarray(lengths))
        p = as_numpy(params)
        R = proj or H
        for b, n in enumerate(lengths):
            (h_ref, c_ref), hs_ref = np_lstm(p, np.asarray(xs[b]), np.zeros(R), np.zeros(H), spec, n, reverse)
            np.testing.assert_allclose(hs[b], hs_ref, atol=1e-9, rtol=1e-9)
            np.testing.assert_allclose(finals.h[b], h_ref, atol=1e-9, rtol=1e-9)
            np.testing.assert_allclose(finals.c[b], c_ref, atol=1e-9, rtol=1e-9)


@SETTINGS
@given(problems())
def test_padding_never_leaks_into_valid_outputs_or_final_state(problem):
    spec, T, X, H, proj, lengths, reverse, seed = problem
    with jax.enable_x64(True):
        params, xs, key = _make(spec, T, X, H, proj, len(lengths), seed)
        pad = jnp.arange(T)[None, :, None] >= jnp.asarray(lengths)[:, None, None]
        garbage = jnp.where(pad, jax.random.normal(key, xs.shape, jnp.float64) * 1e3, xs)
        run = jax.vmap(lambda x, n: J.lstm(params, x, spec=spec, lengths=n, reverse=reverse))
        a = run(xs, jnp.asarray(lengths))
        b = run(garbage, jnp.asarray(lengths))
    jax.tree.map(lambda u, v: np.testing.assert_array_equal(u, v), a, b)
    assert np.all(np.asarray(a[1])[np.asarray(pad[..., 0])] == 0.0)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 30), st.data())
def test_valid_prefix_reversal_twice_is_identity(T, data):
    n = data.draw(st.integers(0, T))
    order = np.asarray(J.valid_prefix_reversal(T, jnp.asarray(n)))
    np.testing.assert_array_equal(order[order], np.arange(T))
    np.testing.assert_array_equal(order[:n], np.arange(n)[::-1])
    np.testing.assert_array_equal(order[n:], np.arange(n, T))


@SETTINGS
@given(problems())
def test_reverse_equals_forward_on_the_flipped_valid_prefix(problem):
    spec, T, X, H, proj, lengths, _, seed = problem
    with jax.enable_x64(True):
        params, xs, _ = _make(spec, T, X, H, proj, len(lengths), seed)
        for b, n in enumerate(lengths):
            rev_final, rev_hs = J.lstm(params, xs[b], spec=spec, lengths=jnp.asarray(n), reverse=True)
            flipped = xs[b, :n][::-1]
            if n == 0:
                np.testing.assert_array_equal(rev_hs, 0.0)
                continue
            fw_final, fw_hs = J.lstm(params, flipped, spec=spec)
            np.testing.assert_allclose(rev_hs[:n], fw_hs[::-1], atol=1e-12)
            np.testing.assert_allclose(rev_final.c, fw_final.c, atol=1e-12)
