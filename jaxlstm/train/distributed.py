"""Deprecated path of `jaxlstm.train.engine.distributed`."""

from jaxlstm.train.moved import moved

moved(__name__, "jaxlstm.train.engine.distributed")
