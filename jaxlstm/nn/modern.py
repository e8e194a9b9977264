"""The modern cells' NNX names (sLSTM, mLSTM, minLSTM, minGRU, ParaLSTM, ParaGRU): they are
the family-driven `FamilyCell` and `FamilyRNN` of `jaxlstm.nn.cell` and
`jaxlstm.nn.recurrent`, which read the family table (`jaxlstm.core.family.FAMILIES`).
"""

from __future__ import annotations

from jaxlstm.nn.cell import FamilyCell
from jaxlstm.nn.recurrent import FamilyRNN

MODERN_CELLS = ("slstm", "mlstm", "minlstm", "mingru", "paralstm", "paragru")

ModernCell = FamilyCell
ModernRNN = FamilyRNN
