"""The one clock: the current time, aware, in UTC.

Modules import ``utcnow`` from here; a test that fixes the time patches the name in the module that reads it.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)
