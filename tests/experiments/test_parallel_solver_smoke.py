"""The parallel-solver reproductions (experiments/parallel_solver.py --quick) run and their
printed numbers say what the docs claim; references are the sequential scan (and max_iters)."""

import importlib.util
import re
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # minutes on 2 cores: .ci/run's slow tier


EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


def _run(capsys, *argv):
    sys.path.insert(0, str(EXPERIMENTS))
    spec = importlib.util.spec_from_file_location("parallel_solver", EXPERIMENTS / "parallel_solver.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main([*argv, "--quick"])
    out = capsys.readouterr().out
    assert "Machine: " in out
    lines = out.splitlines()
    headers = {i - 1 for i, line in enumerate(lines) if line.startswith("|---")}
    return [line.strip("| ").split(" | ") for i, line in enumerate(lines)
            if line.startswith("| ") and i not in headers]


def test_iters_paralstm_converges_in_few_newton_iterations(capsys):
    rows = _run(capsys, "iters")
    assert {r[0] for r in rows} == {"paralstm", "paragru"} and len(rows) == 8
    for cell, _, _, mode, iters, _, converged in rows:
        assert converged == "True"
        assert int(iters) <= (5 if mode == "newton" else 100)  # source: about 3 Newton steps


def test_deer_and_bench_report_times_and_bounded_iterations(capsys):
    for what in ("deer", "bench"):
        for row in _run(capsys, what):
            assert float(row[3]) > 0 and float(row[4]) > 0          # scan fwd, train ms
            assert int(row[5].split()[0]) <= 20                      # newton max_iters
            assert int(row[10].split()[0]) <= 100                    # quasi_newton max_iters
            assert all(float(row[i]) > 0 for i in (6, 7, 8, 9, 11, 12, 13, 14))


def test_lyapunov_contracting_converges_fast(capsys):
    rows = _run(capsys, "lyapunov")
    (scale, lam, newton, *_), *rest = rows
    assert float(scale) == 0.5 and float(lam) < 0 and int(newton) <= 10
    # the exponent grows with the recurrent weights' scale
    assert float(rest[-1][1]) > float(lam)


def test_train_parallel_loss_curve_equals_sequential(capsys):
    rows = _run(capsys, "train")
    same = [r for r in rows if r[1] in ("newton", "quasi_newton")]
    assert {(r[0], r[1]) for r in same} == {(c, m) for c in ("paralstm", "lstm")
                                            for m in ("newton", "quasi_newton")}
    for row in same:
        assert float(row[-1]) <= 1e-4, row      # max |loss(solver) - loss(scan)| over steps
    parity = [r for r in rows if r[1] not in ("newton", "quasi_newton")]
    assert [r[0] for r in parity] == ["paralstm", "paragru", "lstm", "slstm", "minlstm"]
    assert all(0.0 <= float(r[-1]) <= 1.0 for r in parity)
