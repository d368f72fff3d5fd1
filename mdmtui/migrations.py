"""Schema migrations, one function per version step. Register with ``@step(N)``."""

from __future__ import annotations

from mdmtui import db as _db


def step(version: int):
    """Register a migration that upgrades version-1 to ``version``."""
    def register(fn):
        _db.MIGRATIONS[version] = fn
        return fn
    return register
