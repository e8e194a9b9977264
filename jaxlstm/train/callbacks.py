"""Deprecated path of `jaxlstm.train.engine.callbacks`."""

from jaxlstm.train.moved import moved

moved(__name__, "jaxlstm.train.engine.callbacks")
