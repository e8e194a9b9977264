"""The optimizer trains the nnx.Params only: fixed variables (a CRF's constraints) stay fixed."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxlstm.nn import BiLSTMCRF
from jaxlstm.train import Trainer


def test_constraint_biases_are_not_trained():
    model = BiLSTMCRF(7, 3, hidden_size=4, embed_dim=4, tag_names=["O", "B-X", "I-X"], rngs=nnx.Rngs(0))

    def loss(model, batch):
        return -model.log_likelihood(batch["tokens"], batch["tags"]).mean()

    batch = {"tokens": jnp.array([[1, 2, 3]]), "tags": jnp.array([[0, 2, 1]])}  # O -> I-X is illegal
    trainer = Trainer(model, loss, [batch], optimizer=optax.sgd(10.0))
    train_step, _ = trainer.compiled_steps()
    before = [np.asarray(x) for x in jax.tree.leaves(trainer.model_state)]
    params, model_state, _, _, loss_value, _ = train_step(
        trainer.params, trainer.model_state, trainer.opt_state, batch, None, None)
    assert np.isfinite(float(loss_value))
    changed = [not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(trainer.params), jax.tree.leaves(params))]
    assert any(changed)
    assert len(jax.tree.leaves(params)) == len(jax.tree.leaves(trainer.params))  # no constraint leaf
    for a, b in zip(jax.tree.leaves(model_state), before):
        np.testing.assert_array_equal(a, b)
    assert min(float(np.min(b)) for b in before) <= -1e4  # there is a constraint to protect
