"""Step Jacobians in one block layout: dense, diagonal, and k×k blocks of diagonals.

A state of n numbers is laid out as v (k, m) with n = k·m, and a Jacobian as
J (k, k, m): (J v)[i, u] = Σ_j J[i, j, u] v[j, u]. One array shape covers

- dense Jacobians: k = n, m = 1 (from `jax.jacfwd` of the step);
- diagonal Jacobians: k = 1, m = n (quasi-Newton);
- ParaLSTM's 2×2 blocks of diagonals over [c, h]: k = 2, m = H (ParaGRU: k = 1, m = H).

The flat state is the one `jax.flatten_util.ravel_pytree` makes (the leaves one after the
other), so for a state of k leaves of shape (H,) row i of v is leaf i.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def compose(later: jax.Array, earlier: jax.Array) -> jax.Array:
    """later @ earlier for block Jacobians (..., k, k, m)."""
    if later.shape[-3] == 1:
        return later * earlier
    return jnp.einsum("...iju,...jlu->...ilu", later, earlier)


def apply(jac: jax.Array, v: jax.Array) -> jax.Array:
    """J v for J (..., k, k, m) and v (..., k, m)."""
    if jac.shape[-3] == 1:
        return jac[..., 0, :, :] * v
    return jnp.einsum("...iju,...ju->...iu", jac, v)


def transpose(jac: jax.Array) -> jax.Array:
    """Jᵀ: (..., k, k, m) with the two block axes swapped."""
    return jnp.swapaxes(jac, -3, -2)


def identity(blocks: int, units: int, dtype) -> jax.Array:
    """I in the layout (k, k, m)."""
    return jnp.broadcast_to(jnp.eye(blocks, dtype=dtype)[:, :, None], (blocks, blocks, units))


def diagonal_of(jac: jax.Array) -> jax.Array:
    """The diagonal of J (..., k, k, m) as a diagonal Jacobian (..., 1, 1, k·m)."""
    diag = jnp.diagonal(jac, axis1=-3, axis2=-2)          # (..., m, k)
    diag = jnp.swapaxes(diag, -1, -2)                      # (..., k, m): flat order i·m + u
    return diag.reshape(*diag.shape[:-2], 1, 1, diag.shape[-2] * diag.shape[-1])


def dense_jacobian(flat_step, params, z: jax.Array, x) -> jax.Array:
    """∂ flat_step(params, z, x) / ∂z for z (n,), as (n, n, 1) (forward mode, n JVPs)."""
    return jax.jacfwd(flat_step, argnums=1)(params, z, x)[:, :, None]
