"""Deprecated path of `jaxlstm.train.lab.config`."""

from jaxlstm.train.moved import moved

moved(__name__, "jaxlstm.train.lab.config")
