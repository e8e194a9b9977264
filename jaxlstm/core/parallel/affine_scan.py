"""The linear recurrence δ_t = J_t δ_{t-1} + r_t (δ_0 = 0) by `lax.associative_scan`.

Each step is an affine map δ ↦ J_t δ + r_t; applying (J₁, r₁) then (J₂, r₂) is
(J₂ J₁, J₂ r₁ + r₂), which is associative, so all T prefixes come out in O(log T) depth.
With δ_0 = 0 the offset of the t-th prefix is δ_t. `reverse=True` runs the same recurrence
from t = T down to 1 (λ_t = J_t λ_{t+1} + r_t, λ_{T+1} = 0): the adjoint of the IFT
backward pass. Jacobians use the block layout of `jaxlstm.core.parallel.jacobian`.
"""

from __future__ import annotations

import jax
from jax import lax

from jaxlstm.core.parallel import jacobian as jac_ops


def _then(first, second):
    jac1, r1 = first
    jac2, r2 = second
    return jac_ops.compose(jac2, jac1), jac_ops.apply(jac2, r1) + r2


def solve_affine(jacs: jax.Array, offsets: jax.Array, *, reverse: bool = False) -> jax.Array:
    """δ (T, k, m) of δ_t = J_t δ_{t-1} + r_t, J (T, k, k, m), r (T, k, m), δ_0 = 0.

    With `reverse`, δ_t = J_t δ_{t+1} + r_t from δ_{T+1} = 0."""
    _, deltas = lax.associative_scan(_then, (jacs, offsets), reverse=reverse)
    return deltas
