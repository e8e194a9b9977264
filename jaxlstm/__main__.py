"""`python -m jaxlstm ...` is the `jaxlstm` command (jaxlstm/cli.py)."""

import sys

from jaxlstm.cli import main

if __name__ == "__main__":
    sys.exit(main())
