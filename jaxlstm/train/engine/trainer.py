"""`Trainer`: a model, its loss, its data and its optimizer as one trainable state.

The model is split (`nnx.split`) into its graph, its parameters (`nnx.Param`, what the
optimizer trains) and the rest of its state (`model_state`: e.g. BatchNorm statistics,
the counters of `nnx.Rngs` streams the model holds, a CRF's fixed constraint biases).
A step is one compiled function of (params, model_state, opt_state, batch, key[, carry]);
the model's `train()` mode is used for steps and its `eval()` mode for evaluation.

The loss function is `loss(model, batch)`, `loss(model, batch, key)` or, for truncated
BPTT, `loss(model, batch, key, carry)`, and returns `loss`, `(loss, metrics)` or, with a
carry, `(loss, metrics, carry)`. `key` is the step's dropout PRNG key (None when
evaluating); the loss and every metric may be scalars or `Average`s (see
`jaxlstm.train.engine.average`).

Step s gets the key `fold_in(key(seed), s)`; with the batches of `Feed` this makes a
resumed run continue exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxlstm.train.engine import mesh as meshlib
from jaxlstm.train.engine.average import Average, mean_over_batches, values_of
from jaxlstm.train.engine.feed import Feed


def _positional_arity(fn: Callable) -> Optional[int]:
    """How many positional arguments `fn` takes; None when it takes any number (*args) or
    its signature cannot be read."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return None
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)


def _split_loss_output(out, stateful: bool):
    """(loss, metrics, carry) from what a loss function returned."""
    if stateful:
        if not (isinstance(out, tuple) and len(out) == 3):
            raise TypeError(f"loss: with initial_carry it must return (loss, metrics, carry), got "
                            f"{type(out).__name__}{'' if not isinstance(out, tuple) else f' of {len(out)}'}")
        return out
    if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict):
        return out[0], out[1], None
    if isinstance(out, dict):
        raise TypeError("loss: must return a scalar loss or (loss, metrics), got a dict")
    if isinstance(out, (tuple, list)) and not isinstance(out, Average):
        raise TypeError(f"loss: must return a scalar loss or (loss, metrics dict), got a "
                        f"{type(out).__name__} of {len(out)}"
                        + (" (a third value, the carry, needs initial_carry)" if len(out) == 3 else ""))
    return out, {}, None


def _check_scalars(loss, metrics: dict) -> None:
    """TypeError naming the loss or metric that is not a scalar (traced shapes are known)."""
    for name, value in [("the loss", loss), *((f"metric {k!r}", v) for k, v in metrics.items())]:
        shape = np.shape(value.total if isinstance(value, Average) else value)
        if shape != ():
            raise TypeError(f"loss: {name} must be a scalar (reduce it, e.g. with .mean(), or "
                            f"return an Average), got shape {shape}")


def _replaced(state: nnx.State, pure: dict) -> nnx.State:
    """A copy of `state` with the values of the nested dict `pure` (`nnx.to_pure_dict`'s form)."""
    state = jax.tree.map(lambda x: x, state)
    nnx.replace_by_pure_dict(state, pure)
    return state


def all_finite(tree) -> jax.Array:
    """A scalar bool: no inf or NaN in any floating-point leaf of `tree`."""
    checks = [jnp.isfinite(x).all() for x in jax.tree.leaves(tree)
              if jnp.issubdtype(jnp.result_type(x), jnp.inexact)]
    return jnp.all(jnp.stack(checks)) if checks else jnp.array(True)


def accumulate_gradients(grad_fn, steps: int, params, batch, key, carry):
    """`grad_fn(params, batch, key, carry) -> ((loss, aux), grads)` over the batch as
    `steps` micro-batches, one `lax.scan` step each; loss, aux and grads are the
    micro-batch means (aux's carry is joined back instead), so for a loss that is a
    mean over rows they equal the full batch's. Micro-batch j holds rows j, j + steps,
    j + 2·steps, ... (a strided split keeps every micro-batch spread evenly over the
    `data` shards); its dropout key is `fold_in(key, j)`. Only one micro-batch's
    activations are alive at a time.
    """

    def split(x):  # (B, ...) -> (steps, B / steps, ...)
        return x.reshape(x.shape[0] // steps, steps, *x.shape[1:]).swapaxes(0, 1)

    def join(x):  # the inverse of split
        return x.swapaxes(0, 1).reshape(-1, *x.shape[2:])

    micro_batches, micro_carries = jax.tree.map(split, (batch, carry))

    def micro_step(total, inputs):
        j, micro_batch, micro_carry = inputs
        micro_key = None if key is None else jax.random.fold_in(key, j)
        (loss, (metrics, rest, new_carry)), grads = grad_fn(params, micro_batch, micro_key, micro_carry)
        total = jax.tree.map(jnp.add, total, (loss, metrics, grads))
        return total, (rest, new_carry)

    first = jax.tree.map(lambda x: x[0], (micro_batches, micro_carries))
    (loss_shape, (metrics_shape, _, _)), grads_shape = jax.eval_shape(grad_fn, params, first[0], key, first[1])
    zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), (loss_shape, metrics_shape, grads_shape))
    total, (rests, new_carries) = jax.lax.scan(micro_step, zeros,
                                               (jnp.arange(steps), micro_batches, micro_carries))
    loss, metrics, grads = jax.tree.map(lambda t: t / steps, total)
    rest = jax.tree.map(lambda x: x[-1], rests)
    return (loss, (metrics, rest, jax.tree.map(join, new_carries))), grads


class Trainer:
    """The trainable state of a run and its compiled steps.

    Args:
      model: any `nnx.Module`.
      loss: the loss function (see the module docstring).
      train_data: the training batches, in any form `Feed` takes.
      optimizer: an `optax.GradientTransformation`.
      evaluate: `evaluate(model, eval_step) -> {name: float}`, where `eval_step(batch)`
        is the compiled loss in eval mode returning (loss, metrics); or None.
      eval_data: an iterable of held-out batches, evaluated with the loss as the
        pooled mean of `jaxlstm.train.engine.average.mean_over_batches` (when `evaluate` is None).
      seed: the dropout keys' seed. grad_accum_steps: micro-batches per step.
      mesh: a `jax.sharding.Mesh` with a "data" axis, or None (one device).
      shard_params: split recurrent weights' gate axis over the mesh's "model" axis.
      initial_carry: the carried state of truncated BPTT (leaves (B, ...)), or None.
    """

    def __init__(self, model: nnx.Module, loss: Callable, train_data: Any, *,
                 optimizer: optax.GradientTransformation, evaluate: Optional[Callable] = None,
                 eval_data: Any = None, seed: int = 0, grad_accum_steps: int = 1,
                 mesh=None, shard_params: bool = False, initial_carry: Any = None):
        if not isinstance(model, nnx.Module):
            raise TypeError(f"model: expected a flax.nnx.Module, got {type(model).__name__}")
        if not callable(loss):
            raise TypeError(f"loss: expected a function loss(model, batch[, key]), got {type(loss).__name__}")
        if evaluate is not None and eval_data is not None:
            raise ValueError("evaluate / eval_data: give one of them, got both")
        if eval_data is not None and (not hasattr(eval_data, "__iter__") or iter(eval_data) is eval_data):
            raise TypeError(f"eval_data: expected a list or another iterable that can be iterated "
                            f"again at every evaluation, got {type(eval_data).__name__} (a one-shot "
                            f"iterator would be empty from the second evaluation on)")
        self.loss_fn, self.stateful = loss, initial_carry is not None
        need = (4,) if self.stateful else (2, 3)
        self.arity = _positional_arity(loss) or need[-1]
        if self.arity not in need:
            raise TypeError(f"loss: expected positional arguments (model, batch{', key, carry' if self.stateful else '[, key]'}), "
                            f"got a function of {self.arity}")
        self.evaluate_fn, self.eval_data = evaluate, eval_data
        self.feed = Feed(train_data)
        self.optimizer, self.seed, self.accum = optimizer, seed, grad_accum_steps
        self.shard_params = shard_params
        model.eval()
        self.eval_graphdef = nnx.graphdef(model)
        model.train()
        self.graphdef, self.params, self.model_state = nnx.split(model, nnx.Param, ...)
        self.opt_state = optimizer.init(self.params)
        self.carry = initial_carry
        self.mesh = mesh
        self.step = 0          # completed steps
        self.stop = False      # set by a callback: end the run after this step
        if mesh is not None:
            self.params, self.model_state, self.opt_state, self.carry = meshlib.put(
                self.train_state(), self.shardings())

    # -- state ------------------------------------------------------------------------
    def train_state(self):
        """(params, model_state, opt_state, carry): everything a step updates."""
        return self.params, self.model_state, self.opt_state, self.carry

    def set_train_state(self, tree) -> None:
        self.params, self.model_state, self.opt_state, self.carry = tree

    def checkpoint_trees(self) -> dict:
        """The named trees a checkpoint holds (see `jaxlstm.train.engine.checkpoint`)."""
        return {"params": nnx.to_pure_dict(self.params), "model_state": nnx.to_pure_dict(self.model_state),
                "opt_state": self.opt_state, "carry": self.carry}

    def restore_trees(self, trees: dict) -> None:
        """Set the state from `checkpoint_trees`-shaped `trees`."""
        self.set_train_state((_replaced(self.params, trees["params"]),
                              _replaced(self.model_state, trees["model_state"]),
                              trees["opt_state"], trees["carry"]))

    def trees_from_leaves(self, leaves: list) -> dict:
        """`checkpoint_trees` from the leaves of (params, opt_state, carry) in order, as
        jaxlstm 0.1 saved them (model_state was not saved: it keeps its value)."""
        treedef = jax.tree.structure((self.params, self.opt_state, self.carry))
        if treedef.num_leaves != len(leaves):
            raise ValueError(f"checkpoint: expected {treedef.num_leaves} leaves for this model and "
                             f"optimizer, got {len(leaves)}")
        params, opt_state, carry = jax.tree.unflatten(treedef, leaves)
        return {**self.checkpoint_trees(), "params": nnx.to_pure_dict(params), "opt_state": opt_state,
                "carry": carry}

    def shardings(self):
        """Shardings of `train_state()` on the mesh."""
        mesh = self.mesh
        params = meshlib.param_shardings(mesh, self.params, self.shard_params)
        opt = meshlib.opt_state_shardings(mesh, self.optimizer, self.opt_state, params)
        rest = jax.tree.map(lambda _: meshlib.replicated(mesh), self.model_state)
        carry = jax.tree.map(lambda x: meshlib.row_sharding(mesh, x.shape), self.carry)
        return params, rest, opt, carry

    @property
    def model(self) -> nnx.Module:
        """The current model (in train mode)."""
        return nnx.merge(self.graphdef, self.params, self.model_state)

    def host_model(self) -> nnx.Module:
        """The current model with NumPy leaves (gathered from every process)."""
        if jax.process_count() == 1:
            return self.model
        return nnx.merge(self.graphdef, meshlib.to_host(self.params), meshlib.to_host(self.model_state))

    def param_count(self) -> int:
        return int(sum(np.prod(x.shape) for x in jax.tree.leaves(self.params)))

    # -- data ---------------------------------------------------------------------------
    def batch(self, step: int):
        """The training batch of `step` (on the mesh's devices when there is one)."""
        batch = self.feed.next(step)
        return batch if self.mesh is None else meshlib.put_rows(self.mesh, batch)

    def key(self, step: int):
        """The dropout key of `step`."""
        key = jax.random.fold_in(jax.random.key(self.seed), step)
        return key if self.mesh is None else meshlib.put_replicated(self.mesh, key)

    # -- compiled steps -------------------------------------------------------------------
    def _call_loss(self, model, batch, key, carry):
        args = (model, batch, key, carry)[: self.arity]
        return _split_loss_output(self.loss_fn(*args), self.stateful)

    def compiled_steps(self):
        """(train_step, eval_step), jitted.

        train_step(params, model_state, opt_state, batch, key, carry) -> (params,
        model_state, opt_state, carry, loss, metrics), metrics holding "grad_norm" and
        "finite" (every floating leaf of the new state is finite); Averages are reduced
        to their values. eval_step(params, model_state, batch, carry) -> (loss,
        metrics, carry), Averages kept (they are pooled over batches).
        """
        graphdef, eval_graphdef, optimizer, accum = self.graphdef, self.eval_graphdef, self.optimizer, self.accum
        shardings = self.shardings() if self.mesh is not None else None

        def loss_of(params, model_state, batch, key, carry):
            model = nnx.merge(graphdef, params, model_state, copy=True)  # Variables of this trace
            loss, metrics, carry = self._call_loss(model, batch, key, carry)
            _, _, model_state = nnx.split(model, nnx.Param, ...)
            loss, metrics = values_of({"loss": loss})["loss"], values_of(metrics)
            _check_scalars(loss, metrics)
            return loss, (metrics, model_state, carry)

        @jax.jit
        def train_step(params, model_state, opt_state, batch, key, carry):
            def grad_fn(p, b, k, c):
                return jax.value_and_grad(loss_of, has_aux=True)(p, model_state, b, k, c)

            if accum == 1:
                (loss, (metrics, model_state_, carry_)), grads = grad_fn(params, batch, key, carry)
            else:
                (loss, (metrics, model_state_, carry_)), grads = accumulate_gradients(
                    grad_fn, accum, params, batch, key, carry)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
            state = (params, model_state_, opt_state, carry_)
            if shardings is not None:
                state = jax.lax.with_sharding_constraint(state, shardings)
            metrics = {**metrics, "grad_norm": optax.tree.norm(grads), "finite": all_finite(state)}
            return (*state, loss, metrics)

        @jax.jit
        def eval_step(params, model_state, batch, carry):
            model = nnx.merge(eval_graphdef, params, model_state)
            return self._call_loss(model, batch, None, carry)

        return train_step, eval_step

    def evaluate(self, eval_step) -> dict:
        """{"valid/<name>": float} of the current model (empty without evaluation data)."""
        if self.evaluate_fn is None and self.eval_data is None:
            return {}

        def step(batch, *carry):
            if self.mesh is not None:
                batch, carry = meshlib.put_rows(self.mesh, (batch, carry))
            loss, metrics, new_carry = eval_step(self.params, self.model_state, batch,
                                                 carry[0] if carry else None)
            return (loss, metrics, new_carry) if carry else (loss, metrics)

        if self.evaluate_fn is not None:
            model = nnx.merge(self.eval_graphdef, self.params, self.model_state)
            metrics = self.evaluate_fn(model, step)
        else:
            metrics = mean_over_batches(self.eval_data, step)
        return {k if k.startswith("valid/") else f"valid/{k}": float(v) if np.ndim(v) == 0 else v
                for k, v in metrics.items()}
