"""Parallel-in-time solvers: Newton (DEER) and quasi-Newton (quasi-DEER) over associative scans."""

from jaxlstm.core.parallel.layer import run_layer
from jaxlstm.core.parallel.newton import (DEFAULT_MAX_ITERS, PARALLEL_MODES, SolveInfo,
                                          default_tol, parallel_scan_cell)

__all__ = ["DEFAULT_MAX_ITERS", "PARALLEL_MODES", "SolveInfo", "default_tol",
           "parallel_scan_cell", "run_layer"]
