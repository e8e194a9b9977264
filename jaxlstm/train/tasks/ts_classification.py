"""Deprecated path of `jaxlstm.train.lab.tasks.ts_classification`."""

from jaxlstm.train.moved import moved

moved(__name__, "jaxlstm.train.lab.tasks.ts_classification")
