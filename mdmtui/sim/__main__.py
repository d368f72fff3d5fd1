"""python -m mdmtui.sim [--devices N] [--port P] ... (same options as `mdmtui sim`)."""

from .cli import main

raise SystemExit(main())
