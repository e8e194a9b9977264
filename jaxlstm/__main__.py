"""`python -m jaxlstm ...` is the `jaxlstm` command (jaxlstm/cli.py)."""

import sys

from jaxlstm.cli import main

sys.exit(main())
