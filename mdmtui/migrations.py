"""Schema migrations: one step per schema version, applied in order by ``db.migrate``.

How to change the schema (read this before touching models.py)
---------------------------------------------------------------
- **A new column** on an existing table: declare it in models.py, then append ``("table", "column")``
  to ``ADDED_COLUMNS`` under the latest version below. Its type, NULL-ability and default come from
  the model. A NOT NULL column needs a default (existing rows get it).
- **A new table**: add the model to ``models.ALL_MODELS``. Every step creates the tables that are
  missing, so nothing else is needed.
- **A new index** declared in the models (``index=True``, ``unique=True`` or ``Meta.indexes``): nothing
  to do; every step creates the declared indexes that are missing.
- **Anything else** (rename, drop, type change, data rewrite): write it in the latest step's function
  with the ``playhouse.migrate`` migrator it receives.
- **After a release**, never edit a shipped step: add ``ADDED_COLUMNS[N + 1]``, a ``@step(N + 1)``
  function, and bump ``db.CURRENT_VERSION``.

``tests/test_migrations.py`` builds every older schema from a frozen SQL snapshot
(``tests/data/schema_v<N>_<dialect>.sql``), migrates it and compares the result with a fresh
database: a column added to a model without a migration fails that test.

Version history:
1. The first schema (commit 8ad0e9c).
2. ``device.fingerprint``, ``device.search_text`` (and the index on ``device.computer_name``). (Unreleased: add this session's columns here.)
3. ``device.mdm_status`` (the MDM's own device state) and ``collection_run.rechecked`` (devices absent
   from a listing that were asked for one by one before being marked missing).
"""

from __future__ import annotations

import logging

from peewee import Database
from playhouse.migrate import SchemaMigrator, migrate

from mdmtui import db as _db
from mdmtui import models

log = logging.getLogger(__name__)

# version -> columns that version added: ("table", "column"), declared in models.py
ADDED_COLUMNS: dict[int, list[tuple[str, str]]] = {
    2: [
        ("device", "fingerprint"),
        ("device", "search_text"),
    ],
    3: [
        ("device", "mdm_status"),
        ("collection_run", "rechecked"),
    ],
}


def step(version: int):
    """Register a migration that upgrades version-1 to ``version``."""
    def register(fn):
        _db.MIGRATIONS[version] = fn
        return fn
    return register


@step(2)
def _to_v2(db: Database, migrator: SchemaMigrator) -> None:
    """Device fingerprints (and whatever this unreleased version adds)."""
    add_model_columns(db, migrator, ADDED_COLUMNS[2])
    create_missing(db)


@step(3)
def _to_v3(db: Database, migrator: SchemaMigrator) -> None:
    """The MDM's device state on each device; re-checked counts on collection runs."""
    add_model_columns(db, migrator, ADDED_COLUMNS[3])
    create_missing(db)


def add_model_columns(db: Database, migrator: SchemaMigrator, columns: list[tuple[str, str]]) -> None:
    """Add columns as the models declare them; a column already there is left alone."""
    for table, column in columns:
        field = model_field(table, column)
        if column in {c.name for c in db.get_columns(table)}:
            log.info("column %s.%s exists already", table, column)
            continue
        log.info("adding column %s.%s", table, column)
        migrate(migrator.add_column(table, column, field))


def model_field(table: str, column: str):
    """The model field behind ``table.column``; a clear error for a typo in ADDED_COLUMNS."""
    for model in models.ALL_MODELS:
        if model._meta.table_name == table:
            try:
                return model._meta.columns[column]
            except KeyError:
                raise LookupError(f"migrations: model {model.__name__} has no column {column!r}") from None
    raise LookupError(f"migrations: no model has table {table!r}")


def create_missing(db: Database) -> None:
    """Create the models' tables and declared indexes that do not exist yet."""
    db.create_tables(models.ALL_MODELS, safe=True)
    for model in models.ALL_MODELS:
        model._schema.create_indexes(safe=True)
