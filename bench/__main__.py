"""``python -m bench`` runs the ``mlpbench`` command."""

import sys

from bench.cli import main

sys.exit(main())
