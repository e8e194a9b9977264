"""`CellSpec`: the static description of an LSTM cell variant.

A `CellSpec` is a frozen, hashable dataclass, so it can be passed as a static
argument to `jax.jit`. It names the variant, its activations and the forget
bias used at initialisation; everything the cell computes follows from it.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Callable

import jax
import jax.numpy as jnp

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "identity": lambda z: z,
    "hard_sigmoid": jax.nn.hard_sigmoid,
}

# Gate blocks each variant stores, in the contract's order i, f, g, o.
# "x" is the single shared block of the "shared_preact" ablation.
GATE_BLOCKS: dict[str, tuple[str, ...]] = {
    "vanilla": ("i", "f", "g", "o"),
    "peephole_full": ("i", "f", "g", "o"),
    "nig": ("f", "g", "o"),
    "nfg": ("i", "g", "o"),
    "nog": ("i", "f", "g"),
    "niaf": ("i", "f", "g", "o"),
    "noaf": ("i", "f", "g", "o"),
    "cifg": ("f", "g", "o"),
    "shared_preact": ("x",),
}

VARIANTS = tuple(GATE_BLOCKS)


@dataclasses.dataclass(frozen=True)
class CellSpec:
    """Which LSTM cell to compute.

    Attributes:
      variant: one of `VARIANTS`:
        - "vanilla": the standard LSTM (what `torch.nn.LSTM` computes).
        - "peephole_full": the Wikipedia peephole form; the gates read
          U·c_{t-1} in place of U·h_{t-1} and the candidate has no recurrent term.
        - "nig" / "nfg" / "nog": no input / forget / output gate (it is fixed to 1).
        - "niaf" / "noaf": no input (candidate) / output (cell) activation.
        - "cifg": coupled input-forget gate, i = 1 - f.
        - "shared_preact": all gates from one shared pre-activation (ablation).
      peepholes: diagonal peephole connections (Gers & Schmidhuber 2000): the
        input and forget gates see c_{t-1}, the output gate sees c_t.
      gate_activation: activation of the i, f, o gates.
      candidate_activation: activation of the candidate g.
      cell_activation: applied to c_t before the output gate multiplies it.
      forget_bias: added to the forget-gate bias by `init_lstm`.
    """

    variant: str = "vanilla"
    peepholes: bool = False
    gate_activation: str = "sigmoid"
    candidate_activation: str = "tanh"
    cell_activation: str = "tanh"
    forget_bias: float = 1.0

    def __post_init__(self):
        if not isinstance(self.peepholes, bool):
            raise TypeError(f"CellSpec.peepholes must be a bool, got {self.peepholes!r}")
        if (isinstance(self.forget_bias, bool) or not isinstance(self.forget_bias, numbers.Real)
                or not math.isfinite(self.forget_bias)):
            raise ValueError(f"CellSpec.forget_bias must be a finite real number, got "
                             f"{self.forget_bias!r}")
        if self.variant not in GATE_BLOCKS:
            raise ValueError(
                f"CellSpec.variant must be one of {list(VARIANTS)}, got {self.variant!r}"
            )
        for name in ("gate_activation", "candidate_activation", "cell_activation"):
            value = getattr(self, name)
            if value not in ACTIVATIONS:
                raise ValueError(
                    f"CellSpec.{name} must be one of {list(ACTIVATIONS)}, got {value!r}"
                )
        if self.peepholes and self.variant in ("peephole_full", "shared_preact"):
            raise ValueError(
                f"CellSpec.peepholes=True cannot be combined with variant "
                f"{self.variant!r}: it has no separate gates to add diagonal peepholes to"
                if self.variant == "shared_preact"
                else "CellSpec.peepholes=True cannot be combined with variant "
                "'peephole_full', whose gates already read the full cell state"
            )

    @property
    def blocks(self) -> tuple[str, ...]:
        """The gate blocks stored in `w_x`, `w_h` and `b`, in order."""
        return GATE_BLOCKS[self.variant]

    @property
    def num_blocks(self) -> int:
        """G: the number of gate blocks."""
        return len(self.blocks)

    @property
    def recurrent_blocks(self) -> tuple[str, ...]:
        """The blocks `w_h` has columns for ("peephole_full": the gates only)."""
        if self.variant == "peephole_full":
            return ("i", "f", "o")
        return self.blocks

    @property
    def peephole_gates(self) -> tuple[str, ...]:
        """The gates with a diagonal peephole, one row of `w_peep` each."""
        if not self.peepholes:
            return ()
        return tuple(g for g in ("i", "f", "o") if g in self.blocks)

    def activation(self, role: str) -> Callable[[jax.Array], jax.Array]:
        """The activation of `role` in {"gate", "candidate", "cell"}, after the variant."""
        if role == "candidate" and self.variant == "niaf":
            return ACTIVATIONS["identity"]
        if role == "cell" and self.variant == "noaf":
            return ACTIVATIONS["identity"]
        return ACTIVATIONS[getattr(self, f"{role}_activation")]
