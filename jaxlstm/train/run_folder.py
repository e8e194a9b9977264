"""Deprecated path of `jaxlstm.train.engine.run_folder`."""

from jaxlstm.train.moved import moved

moved(__name__, "jaxlstm.train.engine.run_folder")
