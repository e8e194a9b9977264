"""Deprecated path of `jaxlstm.train.lab.schema`."""

from jaxlstm.train.moved import moved

moved(__name__, "jaxlstm.train.lab.schema")
