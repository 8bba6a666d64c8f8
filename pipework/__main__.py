"""``python -m pipework``: the same as the ``pipework`` command."""

import sys

from .cli.main import main

sys.exit(main())
