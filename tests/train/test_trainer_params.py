"""The optimizer trains the nnx.Params only: fixed variables (a CRF's constraints) stay fixed."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxlstm.nn import BiLSTMCRF
from jaxlstm.train import Trainer, load_config
from jaxlstm.train.tasks.base import Task


class _Tagging(Task):
    name = "_tagging_probe"

    def make_model(self, rngs):
        return BiLSTMCRF(7, 3, hidden_size=4, embed_dim=4, tag_names=["O", "B-X", "I-X"], rngs=rngs)

    def loss(self, model, batch, key):
        return -model.log_likelihood(batch["tokens"], batch["tags"]).mean(), {}


def test_constraint_biases_are_not_trained(tiny_lm):
    cfg = load_config(tiny_lm)
    task = _Tagging(cfg)
    model = task.make_model(nnx.Rngs(0))
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    trainer = Trainer(cfg, task, graphdef, params, rest, None, None)
    import optax

    trainer.optimizer = optax.sgd(10.0)
    trainer.opt_state = trainer.optimizer.init(trainer.state)
    train_step, _ = trainer.compiled_steps()
    batch = {"tokens": jnp.array([[1, 2, 3]]), "tags": jnp.array([[0, 2, 1]])}  # O -> I-X is illegal
    before = [np.asarray(x) for x in jax.tree.leaves(rest)]
    state, _, loss, _ = train_step(trainer.state, trainer.opt_state, batch, None)
    assert np.isfinite(float(loss))
    changed = [not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(state))]
    assert any(changed)
    assert len(jax.tree.leaves(state)) == len(jax.tree.leaves(params))  # no constraint leaf in the state
    for a, b in zip(jax.tree.leaves(trainer.rest), before):
        np.testing.assert_array_equal(a, b)
    assert min(float(np.min(b)) for b in before) <= -1e4  # there is a constraint to protect
