"""Deprecated path of `jaxlstm.train.engine.run`."""

from jaxlstm.train.moved import moved

moved(__name__, "jaxlstm.train.engine.run")
