"""`python -m rung.cli ...`, as the `rung` command."""

import sys

from rung.cli import main

if __name__ == "__main__":  # not on import (a walk over rung's modules imports this one too)
    sys.exit(main())
