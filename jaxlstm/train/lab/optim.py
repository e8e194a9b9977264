"""The Optax optimizer a config names: schedule with warm-up, clipping, optimizer."""

from __future__ import annotations

import optax

from jaxlstm.train.lab.config import OptimConfig


def make_schedule(cfg: OptimConfig, total_steps: int) -> optax.Schedule:
    """Linear warm-up from 0 over `warmup_steps`, then constant, cosine or linear decay."""
    lr, warm = cfg.learning_rate, cfg.warmup_steps
    decay_steps = max(total_steps - warm, 1)
    if cfg.schedule == "constant":
        after = optax.constant_schedule(lr)
    elif cfg.schedule == "cosine":
        after = optax.cosine_decay_schedule(lr, decay_steps, alpha=0.01)
    else:
        after = optax.linear_schedule(lr, 0.0, decay_steps)
    if warm == 0:
        return after
    return optax.join_schedules([optax.linear_schedule(0.0, lr, warm), after], [warm])


def make_optimizer(cfg: OptimConfig, total_steps: int) -> optax.GradientTransformation:
    """Gradient clipping by global norm (seed 001's answer to exploding gradients), then
    adam / adamw / sgd with momentum / rmsprop on the schedule."""
    lr = make_schedule(cfg, total_steps)
    if cfg.name == "adam":
        opt = optax.adam(lr)
    elif cfg.name == "adamw":
        opt = optax.adamw(lr, weight_decay=cfg.weight_decay)
    elif cfg.name == "sgd":
        opt = optax.sgd(lr, momentum=cfg.momentum or None)
    else:
        opt = optax.rmsprop(lr, momentum=cfg.momentum)
    if cfg.clip_norm is None:
        return opt
    return optax.chain(optax.clip_by_global_norm(cfg.clip_norm), opt)
