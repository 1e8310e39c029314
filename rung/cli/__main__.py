"""`python -m rung.cli ...`, as the `rung` command."""

import sys

from rung.cli import main

sys.exit(main())
