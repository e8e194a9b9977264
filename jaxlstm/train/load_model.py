"""Deprecated path of `jaxlstm.train.lab.load_model`."""

from jaxlstm.train.moved import moved

moved(__name__, "jaxlstm.train.lab.load_model")
