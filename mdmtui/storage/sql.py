"""Raw SQL for the few statements Peewee's query builder cannot say (DDL, triggers, dialect extras)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from peewee import Database


def execute(db: Database, sql: str, params: Sequence[Any] = ()) -> Any:
    """``sql`` with ``params`` on ``db``: its cursor."""
    return db.execute_sql(sql, params)
