"""Logging to a rotating file in the data directory; nothing goes to the terminal."""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
from pathlib import Path

from mdmtui.config import default_data_dir, open_private, private_dir
from mdmtui.formatting import clip, printable

# user:password@ in URLs (database URLs, proxies): the password never reaches the log file
# (A scheme starts a word and is short: otherwise every position of a long run of letters starts a
# match that scans the whole run, and a 200 KB value takes minutes.)
_URL_PASSWORD = re.compile(r"(?P<head>(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,31}://[^:/@\s]*):[^@\s/]*@")
_handler: logging.Handler | None = None
MESSAGE_CHARS = 10_000  # of one log message: a value quoted from a 10 MB file stays a line, not 10 MB


class RedactingFormatter(logging.Formatter):
    """Formats records (tracebacks included) with URL passwords replaced by ``***``.

    A message is one line (control characters escaped, so MDM data cannot forge log lines) of at most
    MESSAGE_CHARS characters; a traceback keeps its line breaks.
    """

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.message = printable(clip(record.message, MESSAGE_CHARS))
        return super().formatMessage(record)

    def formatException(self, ei) -> str:  # noqa: N802 - logging's name
        return "\n".join(printable(clip(line, MESSAGE_CHARS)) for line in super().formatException(ei).split("\n"))


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log whose files are created 0600 (each new file after a rotation too)."""

    def _open(self):
        return open_private(Path(self.baseFilename), self.mode, self.encoding, self.errors)


def redact(text: str) -> str:
    """``text`` with the password of any ``scheme://user:password@host`` replaced."""
    return _URL_PASSWORD.sub(r"\g<head>:***@", text)


def log_file_path() -> Path:
    """The log file: ``$MDMTUI_DATA_DIR/mdmtui.log`` or the platform data directory's."""
    data_dir = os.environ.get("MDMTUI_DATA_DIR")
    return (Path(data_dir) if data_dir else default_data_dir()) / "mdmtui.log"


def current_log_file() -> Path | None:
    """The file log records go to now, or None before ``setup_logging``."""
    name = getattr(_handler, "baseFilename", None)
    return Path(name) if name else None


def setup_logging(*, verbose: bool = False, path: Path | None = None) -> Path:
    """Send mdmtui's log records to ``path`` (default: the data directory's log file); idempotent."""
    global _handler
    path = path or log_file_path()
    root = logging.getLogger("mdmtui")
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # Propagation stays on (pytest's caplog listens at the root); mdmtui never gives the root logger a
    # handler, so nothing reaches the terminal, where it would tear through the console's screen.
    root.propagate = True
    # httpx logs request URLs at INFO; keep them out unless debugging (URLs may carry tokens)
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbose else logging.WARNING)
    if _handler is not None and getattr(_handler, "baseFilename", None) == str(path.absolute()):
        return path
    if _handler is not None:  # another data directory (tests, a second context): switch files
        root.removeHandler(_handler)
        _handler.close()
    private_dir(path.parent)
    _handler = PrivateRotatingFileHandler(path, maxBytes=5_000_000, backupCount=5, encoding="utf-8")
    _handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"))
    root.addHandler(_handler)
    return path
