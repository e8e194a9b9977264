"""Damaged checkpoints: a resume sets the damaged one aside and finishes; eval, generate and
inspect say in one line which step they use instead, or fail in one line.

The damage is the one a full disk or a killed copy leaves: the largest file of a step's
folder truncated. The reference for "finishes correctly" is the same run's own
parameters at that step, read before the damage.
"""

import json

import jax
import numpy as np

from jaxlstm.cli import main
from jaxlstm.train import load_run
from jaxlstm.train.engine.metrics import read_metrics


def _truncate_largest_file(step_dir):
    largest = max((p for p in step_dir.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    size = largest.stat().st_size // 3
    with open(largest, "r+b") as f:
        f.truncate(size)
    return largest.relative_to(step_dir), size


def _ours(err: str) -> list[str]:
    """The lines jaxlstm printed (not JAX's warnings about its shared compilation cache)."""
    return [line for line in err.splitlines() if line.startswith("jaxlstm ")]


def _leaves(run, which="latest"):
    _, trainer = load_run(run, which=which, notify=lambda message: None)
    return trainer.step, [np.asarray(x) for x in jax.tree.leaves(trainer.checkpoint_trees())]


def test_resume_sets_a_damaged_latest_checkpoint_aside_and_finishes(tiny_lm, tmp_path, capsys):
    run = tmp_path / "runs" / "tiny"
    assert main(["train", str(tiny_lm), "--quiet"]) == 0  # checkpoints 10 and 20
    step, reference = _leaves(run)
    assert step == 20
    damaged, size = _truncate_largest_file(run / "checkpoints" / "20")
    capsys.readouterr()

    assert main(["train", str(tiny_lm), "--resume", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "resume: checkpoint step 20" in err and "set aside as 20.corrupt-1; using step 10 instead" in err
    assert (run / "checkpoints" / "20.corrupt-1" / damaged).stat().st_size == size  # kept as it was
    step, resumed = _leaves(run)
    assert step == 20  # retrained from 10 and saved again
    for a, b in zip(reference, resumed):
        np.testing.assert_array_equal(a, b)
    # Every later resume works too (the run is complete: nothing left to do).
    assert main(["train", str(tiny_lm), "--resume", "--quiet"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 20 and summary["final"]["valid/loss"] > 0  # not emptied by the no-op

    # Every checkpoint damaged: all are set aside and the run starts over from step 0.
    for step in (10, 20):
        _truncate_largest_file(run / "checkpoints" / str(step))
    capsys.readouterr()
    assert main(["train", str(tiny_lm), "--resume", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "set aside as 10.corrupt-1; no other checkpoint to use" in err
    assert "no readable checkpoint in" in err and "starting from step 0" in err
    assert {p.name for p in (run / "checkpoints").iterdir()} == {"10", "20", "10.corrupt-1",
                                                                 "20.corrupt-1", "20.corrupt-2"}
    records = read_metrics(run / "metrics.jsonl")
    assert [r["step"] for r in records if r["split"] == "train"] == [5, 10, 15, 20]
    for a, b in zip(reference, _leaves(run)[1]):
        np.testing.assert_array_equal(a, b)


def test_eval_generate_inspect_say_which_step_replaces_a_damaged_one(tiny_lm, tmp_path, capsys):
    run = tmp_path / "runs" / "tiny"
    assert main(["train", str(tiny_lm), "--quiet"]) == 0
    best = json.loads((run / "summary.json").read_text())["best_step"]
    other = ({10, 20} - {best}).pop()
    _truncate_largest_file(run / "checkpoints" / str(best) / "params")  # what every command reads
    capsys.readouterr()

    note = f"note: checkpoint step {best} in {run / 'checkpoints'} could not be read"
    assert main(["eval", str(run)]) == 0
    out, err = capsys.readouterr()
    assert note in err and f"using step {other} instead" in err and len(_ours(err)) == 1
    result = json.loads(out)
    assert result["checkpoint"] == "best" and result["step"] == other

    assert main(["generate", str(run), "--prompt", "the ", "--length", "5"]) == 0
    err = capsys.readouterr().err
    assert _ours(err)[0].startswith("jaxlstm generate: " + note) and len(_ours(err)) == 1
    assert main(["inspect", str(run), "--out", str(tmp_path / "g.png")]) == 0
    err = capsys.readouterr().err
    assert _ours(err)[0].startswith("jaxlstm inspect: " + note) and len(_ours(err)) == 1

    # A run without summary.json (stopped before the end): "best" is not known, and it says so.
    (run / "summary.json").unlink()
    assert main(["eval", str(run), "--which", "best"]) == 0
    out, err = capsys.readouterr()
    assert "has no summary.json" in err and "using the latest checkpoint" in err
    assert json.loads(out)["step"] == other  # the latest readable one

    # Nothing readable: one line, exit code 2.
    _truncate_largest_file(run / "checkpoints" / str(other) / "params")
    for argv in (["eval", str(run)], ["generate", str(run), "--prompt", "a"], ["inspect", str(run)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        *notes, error = _ours(err)
        assert error.startswith(f"jaxlstm {argv[0]}: error: no readable checkpoint in ")
        assert all(": note: " in line for line in notes) and "Traceback" not in err
