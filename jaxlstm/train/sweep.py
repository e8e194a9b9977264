"""Deprecated path of `jaxlstm.train.lab.sweep`."""

from jaxlstm.train.moved import moved

moved(__name__, "jaxlstm.train.lab.sweep")
