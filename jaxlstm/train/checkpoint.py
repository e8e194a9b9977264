"""Deprecated path of `jaxlstm.train.engine.checkpoint`."""

from jaxlstm.train.moved import moved

moved(__name__, "jaxlstm.train.engine.checkpoint")
