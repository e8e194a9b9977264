"""Deprecated path of `jaxlstm.train.engine.config_checks`."""

from jaxlstm.train.moved import moved

moved(__name__, "jaxlstm.train.engine.config_checks")
