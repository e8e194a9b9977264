"""`TrainConfig`: the settings of the step loop, a config's `train:` section and the
`**settings` of `fit_model`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from jaxlstm.data.batches import ORDERS
from jaxlstm.train.engine.config_checks import ConfigError, check_choice, check_positive, check_seed, check_types


@dataclass
class TrainConfig:
    """The loop: steps, batches, evaluation, checkpoints, early stopping."""

    steps: int = 1000
    batch_size: int = 32
    seed: int = 0
    eval_every: int = 100
    log_every: int = 10
    checkpoint_every: int = 200
    keep_checkpoints: int = 2
    early_stopping_patience: Optional[int] = None
    monitor: str = ""
    progress: bool = True
    mesh: Optional[str] = None        # device mesh, e.g. "data=8", "data=4,model=2" (jaxlstm.train.engine.mesh)
    shard_params: bool = False        # split the gate axis of the recurrent weights over "model"
    grad_accum_steps: int = 1         # micro-batches per step, gradients averaged
    distributed: bool = False         # multi-host: jax.distributed.initialize first
    writers: list[str] = field(default_factory=lambda: ["jsonl"])  # + tensorboard, wandb (jaxlstm.train.engine.writers)
    order: str = "replacement"        # replacement: new random rows each step; epochs: each example once per epoch
    bucket: bool = False              # batches of similar lengths, padded to few widths

    def __post_init__(self):
        from jaxlstm.train.engine.writers import WRITERS

        check_types("train", self)
        check_seed("train.seed", self.seed)
        check_choice("train.order", self.order, ORDERS)
        for writer in self.writers:
            check_choice("train.writers", writer, WRITERS)
        if "jsonl" not in self.writers:
            raise ConfigError(f"config key train.writers: must include 'jsonl' (resume and the "
                              f"learning curves read metrics.jsonl), got {list(self.writers)}")
        for name in ("steps", "batch_size", "eval_every", "log_every", "checkpoint_every",
                     "keep_checkpoints", "early_stopping_patience", "grad_accum_steps"):
            check_positive(f"train.{name}", getattr(self, name))
        if self.batch_size % self.grad_accum_steps:
            raise ConfigError(f"config keys train.batch_size/train.grad_accum_steps: batch_size "
                              f"{self.batch_size} must be divisible by grad_accum_steps "
                              f"{self.grad_accum_steps}")
        if self.mesh is not None:
            from jaxlstm.train.engine.mesh import parse_mesh

            if "model" not in parse_mesh(self.mesh) and self.shard_params:
                raise ConfigError(f"config key train.shard_params: needs a 'model' axis in "
                                  f"train.mesh, got mesh {self.mesh!r}")
        elif self.shard_params:
            raise ConfigError("config key train.shard_params: needs train.mesh with a 'model' "
                              "axis (e.g. train.mesh=data=4,model=2), got mesh None")
