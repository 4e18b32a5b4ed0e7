"""``python -m mlal_core``: the command line (see ``mlal_core.cli``)."""

import sys

from mlal_core.cli import main

sys.exit(main())
