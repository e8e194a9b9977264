"""Deprecated path of `jaxlstm.train.lab.tasks.stream_lm`."""

from jaxlstm.train.moved import moved

moved(__name__, "jaxlstm.train.lab.tasks.stream_lm")
