"""Deprecated path of `jaxlstm.train.engine.provenance`."""

from jaxlstm.train.moved import moved

moved(__name__, "jaxlstm.train.engine.provenance")
