"""Deprecated path of `jaxlstm.train.lab.config_run` (`fit`, `TaskTrainer`, `load_run`)."""

from jaxlstm.train.moved import moved

moved(__name__, "jaxlstm.train.lab.config_run")
