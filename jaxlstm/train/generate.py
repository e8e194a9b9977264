"""Deprecated path of `jaxlstm.train.lab.generate`."""

from jaxlstm.train.moved import moved

moved(__name__, "jaxlstm.train.lab.generate")
