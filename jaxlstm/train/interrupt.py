"""Deprecated path of `jaxlstm.train.engine.interrupt`."""

from jaxlstm.train.moved import moved

moved(__name__, "jaxlstm.train.engine.interrupt")
