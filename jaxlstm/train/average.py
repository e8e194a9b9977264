"""Deprecated path of `jaxlstm.train.engine.average`."""

from jaxlstm.train.moved import moved

moved(__name__, "jaxlstm.train.engine.average")
