"""Deprecated path of `jaxlstm.train.lab.tasks.temporal_order`."""

from jaxlstm.train.moved import moved

moved(__name__, "jaxlstm.train.lab.tasks.temporal_order")
