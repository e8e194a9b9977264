"""Deprecated path of `jaxlstm.train.engine.progress`."""

from jaxlstm.train.moved import moved

moved(__name__, "jaxlstm.train.engine.progress")
