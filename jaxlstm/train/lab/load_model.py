"""`load_model(run_dir)`: a trained model back from its run folder, without its data.

A config run's folder names its task (config.yaml) and the sizes the model takes from
the data (model.json), so the model is rebuilt from those alone (`Task.build_model`) and
its `params` and `model_state` trees are read from a checkpoint; nothing else of the
checkpoint (optimizer state, carry) is read. For a `fit_model` run, pass a model of the
same structure (e.g. freshly constructed) and it is filled in.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Callable, Optional

from flax import nnx

from jaxlstm.train.engine.checkpoint import CheckpointError, Checkpoints
from jaxlstm.train.lab.config import load_config
from jaxlstm.train.lab.tasks import get_task

WHICH = ("best", "latest")


def _best_step(run_dir: Path, steps: list[int], notify: Callable[[str], None]) -> Optional[int]:
    """The best step summary.json names, if its checkpoint is kept; else None (and a note)."""
    path = run_dir / "summary.json"
    latest = f"using the latest checkpoint, step {steps[-1]}"
    try:
        best = json.loads(path.read_text(encoding="utf-8")).get("best_step")
    except FileNotFoundError:
        notify(f"{run_dir} has no summary.json (the run has not finished), so its best step is "
               f"not known; {latest}")
        return None
    except (OSError, ValueError, AttributeError) as e:
        notify(f"{path} could not be read ({type(e).__name__}); {latest}")
        return None
    if best not in steps:
        notify(f"the best step {best} of {run_dir} has no checkpoint; {latest}")
        return None
    return best


def restore_checkpoint(run_dir, template: dict, *, which: str = "best", monitor: str = "valid/loss",
                       monitor_mode: str = "min", notify: Optional[Callable[[str], None]] = None,
                       from_leaves: Optional[Callable[[list], dict]] = None):
    """(step, trees) of the `which` checkpoint of `run_dir` ("best": the step summary.json
    names; "latest"), the named trees shaped like `template` ({"params": ..., ...}).

    When that checkpoint is missing or damaged the next older readable one is used and
    `notify` (default `warnings.warn`) gets one line saying which step replaces which.

    Raises:
      ValueError: `which` is not "best" or "latest".
      CheckpointError: no checkpoint of the run can be read.
    """
    if which not in WHICH:
        raise ValueError(f"which: must be one of {list(WHICH)}, got {which!r}")
    notify = notify or (lambda message: warnings.warn(message, stacklevel=3))
    run_dir = Path(run_dir)
    checkpoints = Checkpoints(run_dir / "checkpoints", 1, monitor, monitor_mode)
    try:
        steps = checkpoints.steps()
        if not steps:
            raise CheckpointError(f"no checkpoint in {checkpoints.directory}")
        step = _best_step(run_dir, steps, notify) if which == "best" else None
        restored = checkpoints.restore(template, step, notify=notify, from_leaves=from_leaves)
    finally:
        checkpoints.close()
    if restored is None:
        raise CheckpointError(f"no readable checkpoint in {checkpoints.directory} (steps {steps} "
                              f"are all damaged)")
    step, trees, _ = restored
    return step, trees


def load_model(run_dir, model: Optional[nnx.Module] = None, *, which: str = "best",
               notify: Optional[Callable[[str], None]] = None) -> nnx.Module:
    """The trained model of `run_dir`, in `eval()` mode.

    Args:
      run_dir: a run folder written by `fit` / `jaxlstm train` or by `fit_model`.
      model: for a `fit_model` run, a model of the same structure to fill in (it is
        updated in place and returned); for a config run None (rebuilt from
        config.yaml and model.json).
      which: "best" (the checkpoint of the best evaluation, the default) or "latest".
      notify: receives one line when a damaged or missing checkpoint is replaced by an
        older one (default `warnings.warn`).

    Raises:
      FileNotFoundError: `run_dir` is not a run folder, or is a `fit_model` run and no
        `model` was given.
      CheckpointError: no checkpoint of the run can be read.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "checkpoints").is_dir():
        raise FileNotFoundError(f"{run_dir} is not a run folder: no checkpoints/ in it")
    if model is None:
        if not (run_dir / "model.json").is_file():
            raise FileNotFoundError(
                f"{run_dir} has no model.json: it is not a config run (or was written by jaxlstm 0.1); "
                f"pass model=, a model of the same structure, e.g. load_model(run_dir, MyModel(...))")
        cfg = load_config(run_dir / "config.yaml")
        spec = json.loads((run_dir / "model.json").read_text(encoding="utf-8"))
        model = get_task(spec["task"]).build_model(cfg, spec["dims"], nnx.Rngs(params=0))
    _, params, model_state = nnx.split(model, nnx.Param, ...)
    template = {"params": nnx.to_pure_dict(params), "model_state": nnx.to_pure_dict(model_state)}
    _, trees = restore_checkpoint(run_dir, template, which=which, notify=notify)
    for state, pure in ((params, trees["params"]), (model_state, trees["model_state"])):
        nnx.replace_by_pure_dict(state, pure)
    nnx.update(model, params, model_state)
    model.eval()
    return model
