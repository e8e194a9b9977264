"""Deprecated path of `jaxlstm.train.engine.metrics`."""

from jaxlstm.train.moved import moved

moved(__name__, "jaxlstm.train.engine.metrics")
