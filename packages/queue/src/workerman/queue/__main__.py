"""``python -m workerman.queue``: see _cli."""

import sys

from ._cli import main

sys.exit(main())
