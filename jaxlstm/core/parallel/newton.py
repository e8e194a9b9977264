"""Newton (DEER) and quasi-Newton solves of a recurrence h_t = f(h_{t-1}, x_t) over all t at once.

The T states are the unknowns of the system h_t - f(h_{t-1}, x_t) = 0 (h_0 given). One
Newton step from a guess h linearises f around every h_{t-1} at once,

    δh_t = J_t δh_{t-1} + r_t,   J_t = ∂f/∂h (h_{t-1}, x_t),   r_t = f(h_{t-1}, x_t) - h_t,

and solves that linear recurrence with `lax.associative_scan` (`solve_affine`), so each
iteration has O(log T) depth. `mode="newton"` uses the full Jacobian (dense from
`jax.jacfwd`, or the family's structured one); `mode="quasi_newton"` its diagonal
(quasi-DEER: O(T·n) per iteration, more iterations). `damping=λ > 0` solves
δh_t = (J_t δh_{t-1} + r_t) / (1 + λ) instead: each step's Levenberg–Marquardt problem
min ‖δ - J_t δh_{t-1} - r_t‖² + λ‖δ‖² given δh_{t-1} — the filtering half of ELK's
trust region (ELK solves the whole problem with a Kalman smoother). It shrinks the step
and the Jacobians' gain and leaves the solution unchanged.

Initial guess: one Jacobi sweep from h_t = h_0, i.e. h_t = f(h_0, x_t) for every t (one
parallel evaluation of the step; step 1 is then exact). Undamped Newton makes at least one
more step exact per iteration, so it converges in at most T - 1 iterations in exact
arithmetic; near the solution it converges quadratically.

Convergence is max_t ‖r_t‖_∞ <= tol. A solve that has not converged after `max_iters`
(or whose residual is not finite) is replaced, inside the same jitted call, by the
sequential scan (`fallback=True`). Derivatives come from the implicit function theorem
(`jax.custom_jvp`): the tangent ż_t = J_t ż_{t-1} + (the step's tangent in θ, x_t) is one
linear scan with the exact Jacobians at the solution, so forward mode (`jvp`, `jacfwd`,
Hessians) works, and reverse mode is its transpose, the adjoint
λ_t = ḡ_t + J_{t+1}ᵀ λ_{t+1}: one reverse linear scan. The Newton iterations are never
differentiated.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.flatten_util import ravel_pytree

from jaxlstm.core.parallel import jacobian as jac_ops
from jaxlstm.core.parallel.affine_scan import solve_affine
from jaxlstm.core.parallel.fallback import choose_solution
from jaxlstm.core.scan import reverse_valid_prefix

PARALLEL_MODES = ("newton", "quasi_newton")
DEFAULT_MAX_ITERS = {"newton": 20, "quasi_newton": 100}


class SolveInfo(NamedTuple):
    """What a parallel solve did.

    iterations: Newton updates made (int32; 0 when the initial guess already met tol).
    residual: max_t ‖f(h_{t-1}, x_t) - h_t‖_∞ after them (of the parallel iterate).
    converged: residual <= tol. fell_back: the returned states are the sequential scan's.
    """

    iterations: jax.Array
    residual: jax.Array
    converged: jax.Array
    fell_back: jax.Array


def default_tol(dtype) -> float:
    """100 ulps of 1 in `dtype` (float32: 1.2e-5, float64: 2.2e-14)."""
    return float(100 * jnp.finfo(dtype).eps)


@dataclasses.dataclass(frozen=True, eq=False)
class _Problem:
    """The static part of a solve: the flat masked step, its Jacobians, the options."""

    flat_step: Callable            # (params, z (n,), x, valid) -> z' (n,)
    exact_jacobian: Callable       # (params, z, x, valid) -> (k, k, m), exact
    solve_jacobian: Callable       # the one the iterations use (exact or its diagonal)
    max_iters: int
    tol: float
    damping: float
    fallback: bool


def _masked(fn, identity_value):
    """fn(params, z, x) -> value, as fn(params, z, x, valid) with identity_value(z) where not valid."""
    def masked(params, z, x, valid):
        value = fn(params, z, x)
        return jnp.where(valid, value, identity_value(z, value))
    return masked


def _evaluate(problem: _Problem, params, xs, valid, z0, zs):
    """h_{t-1} (T, n) and f(h_{t-1}, x_t) (T, n) for the guess zs (T, n)."""
    prev = jnp.concatenate([z0[None], zs[:-1]])
    return prev, jax.vmap(problem.flat_step, (None, 0, 0, 0))(params, prev, xs, valid)


def _sequential(problem: _Problem, params, xs, valid, z0):
    def body(z, inputs):
        z = problem.flat_step(params, z, *inputs)
        return z, z
    return lax.scan(body, z0, (xs, valid))[1]


def _newton(problem: _Problem, params, xs, valid, z0):
    """The Newton iterations and the fallback: states zs (T, n) and a SolveInfo."""
    zs = jax.vmap(problem.flat_step, (None, None, 0, 0))(params, z0, xs, valid)
    prev, fz = _evaluate(problem, params, xs, valid, z0, zs)
    num_steps, size = zs.shape
    shrink = 1.0 / (1.0 + problem.damping)

    def residual_of(fz, zs):
        return jnp.max(jnp.abs(fz - zs))

    def keep_going(carry):
        i, _, _, _, res = carry
        return (i < problem.max_iters) & ~(res <= problem.tol) & jnp.isfinite(res)

    def newton_step(carry):
        i, zs, prev, fz, _ = carry
        jacs = jax.vmap(problem.solve_jacobian, (None, 0, 0, 0))(params, prev, xs, valid)
        blocks, units = jacs.shape[-3], jacs.shape[-1]
        offsets = (fz - zs).reshape(num_steps, blocks, units)
        if problem.damping:
            jacs, offsets = shrink * jacs, shrink * offsets
        zs = zs + solve_affine(jacs, offsets).reshape(num_steps, size)
        prev, fz = _evaluate(problem, params, xs, valid, z0, zs)
        return i + 1, zs, prev, fz, residual_of(fz, zs)

    start = (jnp.int32(0), zs, prev, fz, residual_of(fz, zs))
    iterations, zs, _, _, res = lax.while_loop(keep_going, newton_step, start)
    converged = res <= problem.tol
    if problem.fallback:
        zs = choose_solution(functools.partial(_sequential, problem), converged, zs,
                             params, xs, valid, z0)
        fell_back = ~converged
    else:
        fell_back = jnp.zeros((), bool)
    return zs, SolveInfo(iterations, res, converged, fell_back)


def _pack(info: SolveInfo, dtype) -> jax.Array:
    """The SolveInfo as one float vector, so that the solve's outputs all have ordinary
    (zero) tangents, which vary over a mesh like the primal under `shard_map`; the counts
    are small integers, exact in any float dtype."""
    return jnp.stack([jnp.asarray(field).astype(dtype) for field in info])


def _unpack(packed: jax.Array) -> SolveInfo:
    return SolveInfo(packed[0].astype(jnp.int32), packed[1], packed[2] > 0.5, packed[3] > 0.5)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _solve_states(problem: _Problem, params, xs, valid, z0):
    """(zs (T, n), the packed SolveInfo) of the Newton solve."""
    zs, info = _newton(problem, params, xs, valid, z0)
    return zs, _pack(info, zs.dtype)


@_solve_states.defjvp
def _solve_states_jvp(problem, primals, tangents):
    """The tangent of the solution by the implicit function theorem: differentiating
    z_t = f(z_{t-1}, x_t; θ) at the solution gives ż_t = J_t ż_{t-1} + ∂f/∂θ θ̇ + ∂f/∂x ẋ_t
    (ż_0 the initial state's tangent), one linear recurrence with the exact Jacobians at
    the solution, solved by the associative scan. It is linear in the tangents, so reverse
    mode is its transpose: the adjoint λ_t = ḡ_t + J_{t+1}ᵀ λ_{t+1}, one reverse linear scan.
    The Newton iterations are never differentiated, at any order: the rule's Jacobians and
    forcing are plain JAX, and the solution in it is `_solve_states` again."""
    params, xs, valid, z0 = primals
    params_dot, xs_dot, _, z0_dot = tangents
    # The solve itself, not `_newton`: differentiated again (a Hessian), it takes this rule
    # again instead of differentiating the iterations.
    zs, info = _solve_states(problem, params, xs, valid, z0)
    num_steps, size = zs.shape
    prev = jnp.concatenate([z0[None], zs[:-1]])
    jacs = jax.vmap(problem.exact_jacobian, (None, 0, 0, 0))(params, prev, xs, valid)
    blocks, units = jacs.shape[-3], jacs.shape[-1]
    # The forcing: the step's tangent with the previous state fixed, except at t = 1,
    # where the previous state is z_0 and its tangent enters as J_1 ż_0.
    prev_dot = jnp.concatenate([z0_dot[None], jnp.zeros_like(zs[:-1])])
    _, forcing = jax.jvp(
        lambda p, z, x: jax.vmap(problem.flat_step, (None, 0, 0, 0))(p, z, x, valid),
        (params, prev, xs), (params_dot, prev_dot, xs_dot))
    # solve_affine starts from δ_0 = 0, so ż_1 = r_1 = J_1 ż_0 + (the rest), as wanted.
    zs_dot = solve_affine(jacs, forcing.reshape(num_steps, blocks, units)).reshape(
        num_steps, size)
    return (zs, info), (zs_dot, jnp.zeros_like(info))


def parallel_scan_cell(
    step: Callable,
    params: Any,
    xs: Any,
    state0: Any,
    *,
    mode: str = "newton",
    jacobian: Optional[Callable] = None,
    lengths: Optional[jax.Array] = None,
    reverse: bool = False,
    max_iters: Optional[int] = None,
    tol: Optional[float] = None,
    damping: float = 0.0,
    fallback: bool = True,
    return_info: bool = False,
):
    """Run `step(params, state, x) -> (state, out)` over xs (T, ...) by a parallel Newton solve.

    The same result as `scan_cell(step, params, xs, state0, lengths=..., reverse=...)`
    (to the solver's tolerance, or exactly when it falls back): with `lengths`, steps
    t >= lengths keep the state and emit zeros and the final state is the state after step
    lengths - 1; `reverse` runs over the valid prefix backwards, outputs in input order.

    Args:
      mode: "newton" (full Jacobians) or "quasi_newton" (their diagonal).
      jacobian: `jacobian(params, state, x) -> (k, k, m)`, the step's exact ∂state'/∂state
        in the block layout of `jaxlstm.core.parallel.jacobian` over the flat state
        (ravel_pytree order); None: dense, from `jax.jacfwd` (n JVPs per step, O(n³)
        per associative-scan combine).
      max_iters: Newton iterations at most (default 20 for newton, 100 for quasi_newton).
      tol: convergence threshold on max_t ‖f(h_{t-1}, x_t) - h_t‖_∞ (default
        `default_tol(dtype)`).
      damping: λ >= 0 of the damped (Levenberg–Marquardt-style) update (module docstring).
      fallback: run the sequential scan when the solve has not converged (default True);
        False returns the last iterate, which `info.converged` flags.
      return_info: also return a `SolveInfo`.

    Returns:
      `(final_state, outs)`, or `(final_state, outs, info)` with `return_info`.
    """
    if mode not in PARALLEL_MODES:
        raise ValueError(f"mode must be one of {list(PARALLEL_MODES)}, got {mode!r}")
    max_iters = DEFAULT_MAX_ITERS[mode] if max_iters is None else max_iters
    if not isinstance(max_iters, (int, np.integer)) or isinstance(max_iters, bool) or max_iters < 0:
        raise ValueError(f"max_iters must be an int >= 0, got {max_iters!r}")
    if not damping >= 0:
        raise ValueError(f"damping must be >= 0, got {damping!r}")
    z0, unravel = ravel_pytree(state0)
    tol = default_tol(z0.dtype) if tol is None else tol
    if not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol!r}")
    num_steps = jax.tree.leaves(xs)[0].shape[0]
    if reverse:
        xs = jax.tree.map(lambda a: reverse_valid_prefix(a, lengths), xs)
    valid = (jnp.ones((num_steps,), bool) if lengths is None
             else jnp.arange(num_steps) < lengths)

    def flat(params, z, x):
        return ravel_pytree(step(params, unravel(z), x)[0])[0]

    if jacobian is None:
        exact = functools.partial(jac_ops.dense_jacobian, flat)
    else:
        exact = lambda p, z, x: jacobian(p, unravel(z), x).astype(z.dtype)  # noqa: E731
    eye = lambda z, jac: jac_ops.identity(jac.shape[0], jac.shape[2], jac.dtype)  # noqa: E731
    exact_masked = _masked(exact, eye)
    solve_jac = exact_masked if mode == "newton" else (
        lambda p, z, x, v: jac_ops.diagonal_of(exact_masked(p, z, x, v)))
    problem = _Problem(_masked(flat, lambda z, _: z), exact_masked, solve_jac,
                       int(max_iters), float(tol), float(damping), bool(fallback))
    if num_steps == 0:
        zs = jnp.zeros((0, z0.size), z0.dtype)
        info = SolveInfo(jnp.int32(0), jnp.zeros((), z0.dtype), jnp.ones((), bool),
                         jnp.zeros((), bool))
    else:
        zs, packed = _solve_states(problem, params, xs, valid, z0)
        info = _unpack(packed)
    prev = jnp.concatenate([z0[None], zs[:-1]])[:num_steps]
    outs = jax.vmap(lambda z, x: step(params, unravel(z), x)[1])(prev, xs)
    outs = jax.tree.map(
        lambda y: jnp.where(valid.reshape((-1,) + (1,) * (y.ndim - 1)), y, jnp.zeros_like(y)),
        outs)
    if reverse:
        outs = jax.tree.map(lambda y: reverse_valid_prefix(y, lengths), outs)
    final = unravel(zs[-1]) if num_steps else state0
    return (final, outs, info) if return_info else (final, outs)
