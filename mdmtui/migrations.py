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
4. IMEI and ICCID without separators; the search text recomputed (phone numbers in every form).
6. ``approval_request`` (the two-person rule) and ``audit_event.approval_id``.
"""

from __future__ import annotations

import logging

from peewee import Database
from playhouse.migrate import SchemaMigrator, migrate

from mdmtui import db as _db
from mdmtui import identifiers, models

log = logging.getLogger(__name__)

# version -> columns that version added: ("table", "column"), declared in models.py
ADDED_COLUMNS: dict[int, list[tuple[str, str]]] = {
    2: [
        ("device", "fingerprint"),
        ("device", "search_text"),
    ],
    6: [
        ("audit_event", "approval_id"),
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


@step(4)
def _to_v4(db: Database, migrator: SchemaMigrator) -> None:
    """Identifiers stored as MDMs sent them (``35 391808 912345 6``) become digits; search text follows."""
    create_missing(db)
    normalise_identifiers(db)


_ID_COLUMNS = ("imei", "iccid")
_NORMALISE_CHUNK = 1000


def normalise_identifiers(db: Database) -> int:
    """Rewrite the device rows whose IMEI, ICCID or search text is not in today's form; returns how many."""
    from mdmtui.services.collection import SEARCHED, search_text  # the one definition of the search text

    Device = models.Device
    columns = tuple(dict.fromkeys(("id", *_ID_COLUMNS, *SEARCHED, "search_text")))
    sets = ", ".join(f"{c} = {db.param}" for c in (*_ID_COLUMNS, "search_text"))
    last, changed = 0, 0
    while True:
        rows = list(Device.select(*[Device._meta.columns[c] for c in columns]).where(Device.id > last)
                    .order_by(Device.id).limit(_NORMALISE_CHUNK).dicts())
        if not rows:
            return changed
        updates = [u for u in (_normalised(r, search_text) for r in rows) if u is not None]
        if updates:  # one statement per chunk: 100,000 single UPDATEs take a minute on SQLite
            db.cursor().executemany(f"UPDATE device SET {sets} WHERE id = {db.param}", updates)
            changed += len(updates)
        last = rows[-1]["id"]


def _normalised(row: dict, search_text) -> tuple | None:
    """(imei, iccid, search text, id) of a row that must change, else None."""
    new = {c: identifiers.hardware_id(row[c]) for c in _ID_COLUMNS}
    # rows no collection wrote keep a NULL search text (the search looks at their columns)
    new["search_text"] = search_text({**row, **new}) if row["search_text"] is not None else None
    if all(new[c] == row[c] for c in new):
        return None
    return (*new.values(), row["id"])


@step(6)
def _to_v6(db: Database, migrator: SchemaMigrator) -> None:
    """The two-person rule: approval requests, and the request id on audit entries."""
    add_model_columns(db, migrator, ADDED_COLUMNS[6])
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


# Steps 3-5 belong to other branches developed in parallel with step 6. Until they are merged, a
# version they would have reached is a no-op here, so the chain 2 -> 6 stays unbroken; a real step
# registered above for that number is never replaced.
def _no_change(db: Database, migrator: SchemaMigrator) -> None:
    """A step of another branch, not merged into this one: nothing to change."""


for _version in range(3, _db.CURRENT_VERSION):
    _db.MIGRATIONS.setdefault(_version, _no_change)
