"""Transactions and connections for services that must not know Peewee.

``with transaction(ctx.db):`` groups writes that exist together or not at all (nested ones become
savepoints, so a service may call another that opens its own).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from peewee import Database


def transaction(db: Database) -> AbstractContextManager[Any]:
    """One transaction (a savepoint inside another) on the calling thread's connection."""
    return db.atomic()


def close_connection(db: Database) -> None:
    """Close the calling thread's connection, if open (a helper thread leaving)."""
    if not db.is_closed():
        db.close()
