"""Take the sequential scan's result only where the parallel solve did not converge.

`lax.cond` on a batched predicate becomes a `select` that runs both branches, so under
`jax.vmap` a plain cond would always pay for the sequential scan. `choose_solution` has its
own batching rule: one cond for the whole batch (the scan runs, batched, only when some
sequence did not converge), then a per-sequence select. Nested `vmap`s handle the
innermost batch axis this way; outer ones become a select as usual.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from jax import lax


def choose_solution(sequential: Callable, converged, solution, *args):
    """`solution` where `converged`, else `sequential(*args)` (same shape as `solution`).

    `sequential` must be a function of `args` only (no traced values closed over)."""

    @jax.custom_batching.custom_vmap
    def choose(converged, solution, *args):
        return lax.cond(converged, lambda: solution, lambda: sequential(*args))

    @choose.def_vmap
    def choose_batched(axis_size, in_batched, converged, solution, *args):
        converged_b, solution_b, *args_b = in_batched
        converged = _batched(converged, converged_b, axis_size)
        solution = _batched(solution, solution_b, axis_size)
        axes = [jax.tree.map(lambda b: 0 if b else None, a) for a in args_b]

        def run_sequential():
            fresh = jax.vmap(sequential, in_axes=tuple(axes), axis_size=axis_size)(*args)
            return jax.tree.map(
                lambda s, f: jnp.where(converged.reshape((-1,) + (1,) * (s.ndim - 1)), s, f),
                solution, fresh)

        out = lax.cond(jnp.all(converged), lambda: solution, run_sequential)
        return out, jax.tree.map(lambda _: True, solution)

    return choose(converged, solution, *args)


def _batched(tree, batched, axis_size):
    return jax.tree.map(lambda a, b: a if b else jnp.broadcast_to(a, (axis_size,) + a.shape),
                        tree, batched)
