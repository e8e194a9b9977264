"""Deprecated path of `jaxlstm.train.engine.mesh`."""

from jaxlstm.train.moved import moved

moved(__name__, "jaxlstm.train.engine.mesh")
