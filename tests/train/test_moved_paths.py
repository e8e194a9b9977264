"""The module paths of jaxlstm/train/ before its split into engine/ and lab/ still work:
each is the module it moved to, and importing it warns once (DeprecationWarning) naming
the new path. The rest of the suite imports the new paths only."""

import importlib
import sys
import warnings

import pytest

import jaxlstm.train
from jaxlstm.train.lab import tasks as lab_tasks
from jaxlstm.train.lab.load_model import load_model

ENGINE = ("average", "callbacks", "checkpoint", "config_checks", "distributed", "feed", "interrupt",
          "mesh", "metrics", "plots", "progress", "provenance", "run", "run_folder", "runlock",
          "trainer", "writers")
LAB = {"config": "config", "schema": "schema", "sweep": "sweep", "generate": "generate",
       "inspect": "inspect", "load_model": "load_model", "optim": "optim", "loop": "config_run"}


def _import_afresh(monkeypatch, old: str):
    """(module, its moved-path warnings) of importing `old` as if for the first time."""
    monkeypatch.delitem(sys.modules, old, raising=False)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        exec(compile(f"import {old}", __file__, "exec"), {})  # an import statement of this file
    return sys.modules[old], [w for w in record if issubclass(w.category, DeprecationWarning)
                    and str(w.message).startswith("jaxlstm.train.")]


def _check_moved(monkeypatch, old: str, new: str) -> None:
    module, warned = _import_afresh(monkeypatch, old)
    assert module is importlib.import_module(new)
    assert len(warned) == 1, [str(w.message) for w in warned]
    assert f"moved to {new};" in str(warned[0].message)
    assert warned[0].filename == __file__  # the warning points at the import statement


@pytest.mark.parametrize("name", ENGINE)
def test_an_old_engine_path_is_the_engine_module_and_warns(monkeypatch, name):
    _check_moved(monkeypatch, f"jaxlstm.train.{name}", f"jaxlstm.train.engine.{name}")


@pytest.mark.parametrize("old", sorted(LAB))
def test_an_old_lab_path_is_the_lab_module_and_warns(monkeypatch, old):
    _check_moved(monkeypatch, f"jaxlstm.train.{old}", f"jaxlstm.train.lab.{LAB[old]}")
    assert jaxlstm.train.load_model is load_model  # the function, though a module has its name


def test_the_old_tasks_package_is_the_one_registry_and_warns(monkeypatch):
    old, warned = _import_afresh(monkeypatch, "jaxlstm.train.tasks")
    assert len(warned) == 1 and "moved to jaxlstm.train.lab.tasks;" in str(warned[0].message)
    assert old.TASKS is lab_tasks.TASKS and old.get_task is lab_tasks.get_task
    assert old.register_task is lab_tasks.register_task and old.Task is lab_tasks.Task
    assert old.get_task("adding") is lab_tasks.Adding
    for name in ("adding", "base", "char_lm", "tagging"):
        _check_moved(monkeypatch, f"jaxlstm.train.tasks.{name}", f"jaxlstm.train.lab.tasks.{name}")
    assert len(set(lab_tasks.TASKS.values())) == len(lab_tasks.TASKS)  # each task once


def test_an_old_path_read_as_an_attribute_of_jaxlstm_train_imports_it(monkeypatch):
    monkeypatch.delitem(sys.modules, "jaxlstm.train.mesh", raising=False)
    monkeypatch.delattr(jaxlstm.train, "mesh", raising=False)
    with pytest.warns(DeprecationWarning, match="jaxlstm.train.mesh is deprecated"):
        module = jaxlstm.train.mesh
    assert module is importlib.import_module("jaxlstm.train.engine.mesh")
    with pytest.raises(AttributeError):
        jaxlstm.train.no_such_module
