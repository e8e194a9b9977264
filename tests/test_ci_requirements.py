"""tests/ci_requirements.py: under CI=true a missing torch, xlstm or wandb is reported (conftest then
stops the session with an error); outside CI nothing is required; and here, in CI, all import."""

import os

import pytest

from tests.ci_requirements import missing_in_ci


def test_in_ci_each_module_that_does_not_import_is_named():
    absent = {"xlstm"}
    missing = missing_in_ci({"CI": "true"}, lambda m: m not in absent)
    assert missing == ["xlstm (needed by the sLSTM/mLSTM tests against the xlstm package's pure-PyTorch cells)"]
    every = missing_in_ci({"CI": "TRUE"}, lambda m: False)
    assert [m.split()[0] for m in every] == ["torch", "xlstm", "wandb"]


def test_outside_ci_nothing_is_required():
    assert missing_in_ci({}, lambda m: False) == []
    assert missing_in_ci({"CI": "false"}, lambda m: False) == []


@pytest.mark.skipif(os.environ.get("CI", "").lower() != "true", reason="CI=true only")
def test_this_ci_run_has_every_required_package():
    assert missing_in_ci(os.environ) == []
