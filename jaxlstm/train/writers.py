"""Deprecated path of `jaxlstm.train.engine.writers`."""

from jaxlstm.train.moved import moved

moved(__name__, "jaxlstm.train.engine.writers")
