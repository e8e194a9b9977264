"""Deprecated path of `jaxlstm.train.engine.feed`."""

from jaxlstm.train.moved import moved

moved(__name__, "jaxlstm.train.engine.feed")
