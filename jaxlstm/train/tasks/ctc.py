"""Deprecated path of `jaxlstm.train.lab.tasks.ctc`."""

from jaxlstm.train.moved import moved

moved(__name__, "jaxlstm.train.lab.tasks.ctc")
