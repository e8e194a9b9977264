"""Deprecated path of `jaxlstm.train.engine.runlock`."""

from jaxlstm.train.moved import moved

moved(__name__, "jaxlstm.train.engine.runlock")
