"""`run_layer`: a family's layer function in its sequential form or a parallel Newton solve."""

from __future__ import annotations

from typing import Any, Callable, Optional

from jaxlstm.core.parallel.newton import PARALLEL_MODES, parallel_scan_cell
from jaxlstm.core.scan import scan_cell


def run_layer(step: Callable, params: Any, xs, state0, *, mode: str, jacobian=None,
              lengths=None, reverse: bool = False, unroll: int = 1, remat: int | bool = False,
              max_iters: Optional[int] = None, tol: Optional[float] = None,
              damping: float = 0.0, fallback: bool = True, return_info: bool = False):
    """`scan_cell(step, ...)` when `mode` is not a parallel mode, else `parallel_scan_cell`.

    `mode` must already be checked against the family's modes. `unroll`/`remat` apply to the
    scan, the solver options to the parallel modes; `return_info` needs a parallel mode.
    """
    if mode in PARALLEL_MODES:
        return parallel_scan_cell(step, params, xs, state0, mode=mode, jacobian=jacobian,
                                  lengths=lengths, reverse=reverse, max_iters=max_iters,
                                  tol=tol, damping=damping, fallback=fallback,
                                  return_info=return_info)
    if return_info:
        raise ValueError(f"return_info needs mode in {list(PARALLEL_MODES)}, got mode={mode!r}")
    return scan_cell(step, params, xs, state0, lengths=lengths, reverse=reverse,
                     unroll=unroll, remat=remat)
