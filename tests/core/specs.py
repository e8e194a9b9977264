"""The variant grid the core tests sweep."""

import itertools

from jaxlstm import VARIANTS, CellSpec


def all_specs():
    """Every variant, with and without peepholes where they combine, plus activation swaps."""
    specs = []
    for variant, peep in itertools.product(VARIANTS, (False, True)):
        if peep and variant in ("peephole_full", "shared_preact"):
            continue
        specs.append(CellSpec(variant=variant, peepholes=peep))
    specs += [
        CellSpec(gate_activation="hard_sigmoid", candidate_activation="identity",
                 cell_activation="identity"),
        CellSpec(peepholes=True, cell_activation="identity"),
    ]
    return specs


def spec_id(spec):
    return f"{spec.variant}{'+peep' if spec.peepholes else ''}-{spec.gate_activation[:4]}-{spec.candidate_activation[:4]}-{spec.cell_activation[:4]}"
