"""Logging to a rotating file in the data directory; nothing goes to the terminal."""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

from mdmtui.config import default_data_dir

_configured = False


def log_file_path() -> Path:
    """The log file: ``$MDMTUI_DATA_DIR/mdmtui.log`` or the platform data directory's."""
    data_dir = os.environ.get("MDMTUI_DATA_DIR")
    return (Path(data_dir) if data_dir else default_data_dir()) / "mdmtui.log"


def setup_logging(*, verbose: bool = False, path: Path | None = None) -> Path:
    """Send mdmtui's log records to the log file (once per process)."""
    global _configured
    path = path or log_file_path()
    if _configured:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=5_000_000, backupCount=5, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"))
    root = logging.getLogger("mdmtui")
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False
    # httpx logs request URLs at INFO; keep them out unless debugging (URLs may carry tokens)
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbose else logging.WARNING)
    _configured = True
    return path
