"""``python -m mlpbench`` runs the ``mlpbench`` command."""

import sys

from mlpbench.cli.app import main

sys.exit(main())
