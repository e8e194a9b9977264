"""Deprecated path of `jaxlstm.train.lab.inspect`."""

from jaxlstm.train.moved import moved

moved(__name__, "jaxlstm.train.lab.inspect")
