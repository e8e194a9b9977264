"""Deprecated path of `jaxlstm.train.engine.plots`."""

from jaxlstm.train.moved import moved

moved(__name__, "jaxlstm.train.engine.plots")
