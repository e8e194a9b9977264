"""Parameter counts and initialisation."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlstm as J
from tests.core.specs import all_specs, spec_id


@pytest.mark.parametrize("spec", all_specs(), ids=spec_id)
@pytest.mark.parametrize("proj", [None, 3])
def test_param_count_matches_init_leaves(spec, proj):
    params = J.init_lstm(jax.random.key(0), 7, 5, spec, proj_size=proj)
    assert J.param_count(spec, 7, 5, proj) == sum(int(np.prod(l.shape)) for l in jax.tree.leaves(params))


@pytest.mark.parametrize("x,h", list(itertools.product([1, 3, 64], [1, 8, 256])))
def test_vanilla_param_count_is_seed_000_formula(x, h):
    assert J.param_count(J.CellSpec(), x, h) == 4 * h * (h + x + 1)


def test_param_count_matches_torch_lstm():
    torch = pytest.importorskip("torch")
    for proj in (0, 4):
        m = torch.nn.LSTM(10, 8, proj_size=proj)
        # torch keeps two bias vectors (bias_ih + bias_hh) where one suffices.
        torch_count = sum(p.numel() for n, p in m.named_parameters() if n != "bias_hh_l0")
        assert J.param_count(J.CellSpec(), 10, 8, proj or None) == torch_count


def test_init_defaults():
    spec = J.CellSpec(forget_bias=1.0)
    p = J.init_lstm(jax.random.key(0), 4, 6, spec)
    H = 6
    np.testing.assert_array_equal(p.b[H:2 * H], np.ones(H))  # forget block (i, f, g, o)
    np.testing.assert_array_equal(p.b[:H], np.zeros(H))
    # Orthogonal recurrent weights: each H×H block... the whole (H, 4H) has orthonormal rows.
    np.testing.assert_allclose(p.w_h @ p.w_h.T, np.eye(H), atol=1e-5)
    limit = np.sqrt(6.0 / (4 + 4 * H))  # Glorot-uniform over (X, 4H)
    assert np.all(np.abs(p.w_x) <= limit)
    assert p.w_x.dtype == jnp.float32


def test_init_overrides_and_forget_bias_position():
    spec = J.CellSpec(variant="cifg", forget_bias=2.5)  # blocks f, g, o: f is first
    p = J.init_lstm(jax.random.key(0), 2, 3, spec, recurrent_init=jax.nn.initializers.zeros,
                    dtype=jnp.float64 if jax.config.jax_enable_x64 else jnp.float32)
    np.testing.assert_array_equal(p.b[:3], np.full(3, 2.5))
    np.testing.assert_array_equal(p.b[3:], np.zeros(6))
    np.testing.assert_array_equal(p.w_h, np.zeros((3, 9)))


@pytest.mark.parametrize("bad", [0, -1, 2.5, "3"])
def test_bad_sizes_name_the_argument(bad):
    with pytest.raises(ValueError, match="hidden_size"):
        J.init_lstm(jax.random.key(0), 3, bad)
    with pytest.raises(ValueError, match="input_size"):
        J.param_count(J.CellSpec(), bad, 3)
