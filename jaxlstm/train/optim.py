"""Deprecated path of `jaxlstm.train.lab.optim`."""

from jaxlstm.train.moved import moved

moved(__name__, "jaxlstm.train.lab.optim")
