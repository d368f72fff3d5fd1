"""``python -m mdmtui``: the same as the ``mdmtui`` command."""

import sys

from mdmtui.cli import main

sys.exit(main())
