"""Deprecated path of `jaxlstm.train.engine.trainer`."""

from jaxlstm.train.moved import moved

moved(__name__, "jaxlstm.train.engine.trainer")
