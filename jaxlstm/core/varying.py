"""Inputs that vary over the same manual mesh axes, for `jax.shard_map` with `check_vma`.

Inside `shard_map`, every value has a type that says over which mesh axes it varies (a
batch sharded over "data" varies over it; replicated parameters and a zero initial state
made from them do not). A `lax.scan` carry must keep its type, and a layer's inputs
must agree: `match_varying` casts each array to vary over the union of the axes of all
of them (`jax.lax.pcast(..., to="varying")`, whose transpose sums the cotangents of
replicated values over those axes, so gradients of replicated parameters are right).
Outside `shard_map` (or with `check_vma=False`) no array varies and nothing is cast.
"""

from __future__ import annotations

import jax


def varying_axes(a) -> frozenset:
    """The manual mesh axes the array `a` varies over (empty outside `shard_map`)."""
    aval = jax.typeof(a)
    mat = getattr(aval, "mat", None)
    if mat is not None:
        return frozenset(mat.varying)
    return frozenset(getattr(aval, "vma", frozenset()))


def _cast_varying(a, axes: tuple):
    if hasattr(jax.lax, "pcast"):
        return jax.lax.pcast(a, axes, to="varying")
    return jax.lax.pvary(a, axes)


def match_varying(*arrays):
    """`arrays` (None passes through), each cast to vary over the union of their axes."""
    present = [a for a in arrays if a is not None]
    union = frozenset().union(*(varying_axes(a) for a in present)) if present else frozenset()
    if not union:
        return arrays
    out = []
    for a in arrays:
        missing = None if a is None else tuple(sorted(union - varying_axes(a), key=str))
        out.append(_cast_varying(a, missing) if missing else a)
    return tuple(out)


def match_varying_tree(tree, *like):
    """`tree`'s leaves cast to vary over the axes of the arrays `like` and of each other."""
    leaves, treedef = jax.tree.flatten(tree)
    matched = match_varying(*leaves, *like)[:len(leaves)]
    return jax.tree.unflatten(treedef, matched)
