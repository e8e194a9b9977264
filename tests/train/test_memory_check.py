"""The batch-memory check: hand-computed lower bounds, and a refusal that names
train.batch_size before anything is allocated (the overcommitting-kernel case, where the
allocation itself would succeed and the process be killed later)."""

import numpy as np
import pytest

from jaxlstm.train.engine import memory_check
from jaxlstm.train.engine.memory_check import batch_bytes_lower_bound, check_batch_fits


def _row(T=16):
    return {"inputs": np.zeros((1, T), np.int32), "targets": np.zeros((1, T), np.int32)}


def test_lower_bound_is_rows_plus_stored_states():
    # one row: 2 arrays x 16 int32 = 128 bytes; states: 16 steps x 64 floats x 4 bytes = 4096
    assert batch_bytes_lower_bound(_row(), 10, 64) == 10 * (128 + 4096)


def test_a_batch_that_fits_passes():
    check_batch_fits(_row(), 10, 64, available=10 * (128 + 4096))


def test_a_batch_that_does_not_fit_names_the_key_and_both_sizes():
    # 2e9 x (128 + 4096) bytes = 7867.8 GiB
    with pytest.raises(MemoryError, match=r"train.batch_size: one batch of 2000000000 rows needs at "
                                          r"least 7867.8 GiB .* has 8.0 GiB available"):
        check_batch_fits(_row(), 2_000_000_000, 64, available=8 * 2**30)


def test_unknown_available_memory_checks_nothing(monkeypatch):
    monkeypatch.setattr(memory_check, "available_bytes", lambda: None)
    check_batch_fits(_row(), 2_000_000_000, 64)


def test_available_bytes_is_positive_on_linux():
    found = memory_check.available_bytes()
    assert found is None or found > 0


def test_the_cli_refuses_before_building_a_batch(tiny_lm, tmp_path, capsys, monkeypatch):
    """With little memory available, an ordinary batch is refused, in one line, no folder."""
    from jaxlstm.cli import main

    monkeypatch.setattr(memory_check, "available_bytes", lambda: 1000)
    assert main(["train", str(tiny_lm), "--quiet", "train.batch_size=64"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "out of memory" in err[0] and "train.batch_size" in err[0], err
    assert not (tmp_path / "runs" / "tiny").exists()
