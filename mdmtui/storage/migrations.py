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
4. IMEI and ICCID without separators; the search text recomputed (phone numbers in every form).
5. What an MDM sends is stored as TEXT (``WIDENED_TO_TEXT``): PostgreSQL refused a whole collection
   for one name longer than 255 characters. ``collection_lock.host`` and ``.pid``: a lock held by a
   dead process on this host is taken over at once.
6. ``approval_request`` (the two-person rule) and ``audit_event.approval_id``.
7. Two speeds: ``collection_run.kind`` (full | changed) and ``.mdm_started_at`` (the MDM's clock at a
   run's start, the next changed-only run's lower bound); ``linkage.changed_schedule`` and
   ``.last_changed_run_at`` (the changed-only schedule beside the full one).
9. ``software_title`` and ``software_version``: the fleet's software counted (kept by every write to
   ``software``, back-filled here); the index on ``software(name, version, device_id)``; software names
   and versions longer than ``storable.SOFTWARE_LIMITS`` cut (they must fit that index).
10. ``collection_run.inventory_total`` (the linkage's devices in the inventory at the run's end: the
    overview's sparklines draw from the runs, never from the device table).
11. The device search's trigram index: an FTS5 table ``device_fts`` kept by triggers on SQLite, a
    ``pg_trgm`` GIN index on PostgreSQL (``storage/search_index.py``); fresh databases get it too.
12. SQLite: ``device.name_key`` (each device's place in the default order, kept by triggers; not a model
    field, so PostgreSQL, which keeps its pg_trgm route, has no such column) and both FTS tables keyed by
    it: ``device_fts`` again and ``device_fts_short`` (the interleaved text, for terms of one and two
    characters); version 11's id-keyed table is rebuilt.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, cast

from peewee import Database, Field, PostgresqlDatabase
from playhouse.migrate import PostgresqlMigrator, SchemaMigrator, SqliteMigrator, migrate

from mdmtui import identifiers
from mdmtui.errors import ConfigurationError
from mdmtui.storage import models

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
    5: [
        ("collection_lock", "host"),
        ("collection_lock", "pid"),
    ],
    6: [
        ("audit_event", "approval_id"),
    ],
    7: [
        ("collection_run", "kind"),
        ("collection_run", "mdm_started_at"),
        ("linkage", "changed_schedule"),
        ("linkage", "last_changed_run_at"),
    ],
    10: [
        ("collection_run", "inventory_total"),
    ],
}

# version -> VARCHAR(255) columns that version made TEXT (MDM data: no MDM documents its limits)
WIDENED_TO_TEXT: dict[int, dict[str, tuple[str, ...]]] = {
    5: {
        "device": (
            "mdm_device_id", "computer_name", "host_name", "manufacturer", "model", "serial_number",
            "bios_serial_number", "os_name", "os_version", "network_adapter_name", "mac_address", "wifi_mac",
            "ethernet_mac", "imei", "udid", "imsi", "iccid", "phone_number", "email", "carrier", "user_name",
            "compliance", "change_marker"),
        "software": ("name", "version", "vendor"),
        "device_action": ("mdm_device_id", "device_name", "mdm_code", "request_id", "reference"),
        "audit_event": ("device_name", "device_serial", "mdm_device_id", "request_id"),
    },
}


# Any constant: serialises concurrent migrations (console and daemon starting together)
_PG_MIGRATION_LOCK = 0x6D646D74
Migration = Callable[[Database, SchemaMigrator], None]
MIGRATIONS: dict[int, Migration] = {}  # version -> step from version-1 (@step below)
CURRENT_VERSION = 12


def step(version: int) -> Callable[[Migration], Migration]:
    """Register a migration that upgrades to ``version``; a number registered twice is a merge mistake."""
    def register(fn: Migration) -> Migration:
        if version in MIGRATIONS:
            raise RuntimeError(f"migration step {version} is registered twice ({fn.__name__})")
        MIGRATIONS[version] = fn
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


@step(4)
def _to_v4(db: Database, migrator: SchemaMigrator) -> None:
    """Identifiers stored as MDMs sent them (``35 391808 912345 6``) become digits; search text follows."""
    create_missing(db)
    normalise_identifiers(db)


_ID_COLUMNS = ("imei", "iccid")
_NORMALISE_CHUNK = 1000


def normalise_identifiers(db: Database) -> int:
    """Rewrite the device rows whose IMEI, ICCID or search text is not in today's form; returns how many."""
    from mdmtui.storage.search_index import SEARCHED, search_text  # the one definition of the search text

    Device = models.Device
    columns = tuple(dict.fromkeys(("id", *_ID_COLUMNS, *SEARCHED, "search_text")))
    sets = ", ".join(f"{c} = {db.param}" for c in (*_ID_COLUMNS, "search_text"))
    last, changed = 0, 0
    while True:
        query = (Device.select(*[Device._meta.columns[c] for c in columns]).where(Device.id > last)
                 .order_by(Device.id).limit(_NORMALISE_CHUNK).dicts())
        rows = list(cast("Iterable[dict[str, Any]]", query))
        if not rows:
            return changed
        updates = [u for u in (_normalised(r, search_text) for r in rows) if u is not None]
        if updates:  # one statement per chunk: 100,000 single UPDATEs take a minute on SQLite
            db.cursor().executemany(f"UPDATE device SET {sets} WHERE id = {db.param}", updates)
            changed += len(updates)
        last = rows[-1]["id"]


def _normalised(row: dict[str, Any], search_text: Callable[[Mapping[str, Any]], str | None]
                ) -> tuple[str | int | None, ...] | None:
    """(imei, iccid, search text, id) of a row that must change, else None."""
    new = {c: identifiers.hardware_id(row[c]) for c in _ID_COLUMNS}
    # rows no collection wrote keep a NULL search text (the search looks at their columns)
    new["search_text"] = search_text({**row, **new}) if row["search_text"] is not None else None
    if all(new[c] == row[c] for c in new):
        return None
    return (*new.values(), row["id"])


@step(5)
def _to_v5(db: Database, migrator: SchemaMigrator) -> None:
    """MDM data as TEXT; the collection lock's holder host and pid."""
    widen_to_text(db, migrator, WIDENED_TO_TEXT[5])
    add_model_columns(db, migrator, ADDED_COLUMNS[5])
    create_missing(db)


def widen_to_text(db: Database, migrator: SchemaMigrator, tables: dict[str, tuple[str, ...]]) -> None:
    """Make VARCHAR columns TEXT, in place; a column that is TEXT already is left alone."""
    for table, columns in tables.items():
        narrow = [c.name for c in db.get_columns(table) if c.name in columns and c.data_type.lower() != "text"]
        if not narrow:
            continue
        log.info("widening %s.%s to TEXT", table, ", ".join(narrow))
        if isinstance(db, PostgresqlDatabase):  # binary-compatible: no table rewrite, indexes kept
            migrate(*(migrator.alter_column_type(table, c, model_field(table, c)) for c in narrow))
        else:
            _sqlite_retype_text(db, table, narrow)


_DECLARED_VARCHAR = r'("{}") VARCHAR\(\d+\)'


def _sqlite_retype_text(db: Database, table: str, columns: list[str]) -> None:
    """SQLite: rewrite the declared types in the stored CREATE TABLE (already inside a transaction).

    VARCHAR(n) and TEXT have the same affinity, so the stored rows do not change: this is the
    procedure of sqlite.org/lang_altertable.html for schema changes that leave the data as it is. A
    rebuild of the table instead would cascade-delete software and history (foreign keys cannot be
    switched off inside the migration's transaction) and copy the whole inventory once per column.
    """
    (sql,) = db.execute_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
    for column in columns:
        sql, found = re.subn(_DECLARED_VARCHAR.format(re.escape(column)), r"\1 TEXT", sql)
        if found != 1:
            raise RuntimeError(f"migrations: cannot find the declared type of {table}.{column} in SQLite's schema")
    (version,) = db.execute_sql("PRAGMA schema_version").fetchone()
    db.execute_sql("PRAGMA writable_schema = ON")
    try:
        db.execute_sql("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?", (sql, table))
        db.execute_sql(f"PRAGMA schema_version = {int(version) + 1}")  # other connections re-read the schema
    finally:
        db.execute_sql("PRAGMA writable_schema = OFF")


@step(6)
def _to_v6(db: Database, migrator: SchemaMigrator) -> None:
    """The two-person rule: approval requests, and the request id on audit entries."""
    add_model_columns(db, migrator, ADDED_COLUMNS[6])
    create_missing(db)


@step(7)
def _to_v7(db: Database, migrator: SchemaMigrator) -> None:
    """Two speeds: the run's kind and MDM start time, the linkage's changed-only schedule."""
    add_model_columns(db, migrator, ADDED_COLUMNS[7])
    create_missing(db)


@step(9)
def _to_v9(db: Database, migrator: SchemaMigrator) -> None:
    """The fleet's software counted per title and version; software indexed by (name, version, device)."""
    from mdmtui.storage import software, storable

    for column, limit in storable.SOFTWARE_LIMITS.items():  # what collections now cut, cut before indexing
        db.execute_sql(f"UPDATE software SET {column} = SUBSTR({column}, 1, {limit}) WHERE LENGTH({column}) > {limit}")
    create_missing(db)
    software.backfill(db)
@step(10)
def _to_v10(db: Database, migrator: SchemaMigrator) -> None:
    """The overview's history: each run's inventory total (NULL for the runs before it)."""
    add_model_columns(db, migrator, ADDED_COLUMNS[10])
    create_missing(db)


@step(11)
def _to_v11(db: Database, migrator: SchemaMigrator) -> None:
    """The device search's trigram index (FTS5 / pg_trgm), filled from the rows there."""
    create_missing(db)


@step(12)
def _to_v12(db: Database, migrator: SchemaMigrator) -> None:
    """SQLite: every device keyed by its place in the default order; both FTS tables keyed by it (the
    search streams matches in name order); PostgreSQL: nothing (its pg_trgm index stays)."""
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


def model_field(table: str, column: str) -> Field:
    """The model field behind ``table.column``; a clear error for a typo in ADDED_COLUMNS."""
    for model in models.ALL_MODELS:
        if model._meta.table_name == table:
            fields: dict[str, Field] = model._meta.columns  # Incomplete in peewee-stubs
            try:
                return fields[column]
            except KeyError:
                raise LookupError(f"migrations: model {model.__name__} has no column {column!r}") from None
    raise LookupError(f"migrations: no model has table {table!r}")


def create_missing(db: Database) -> None:
    """Create the models' tables and declared indexes that do not exist yet, and the search index."""
    from mdmtui.storage import search_index

    db.create_tables(models.ALL_MODELS, safe=True)
    for model in models.ALL_MODELS:  # _schema: set by peewee's metaclass, absent from its stubs
        model._schema.create_indexes(safe=True)  # type: ignore[attr-defined]
    search_index.install(db)


def schema_version(db: Database) -> int | None:
    """The stored schema version, or None for a database without mdmtui tables."""
    if not db.table_exists(models.SchemaVersion._meta.table_name):
        return None
    row = models.SchemaVersion.select().order_by(models.SchemaVersion.version.desc()).first()
    return row.version if row else None


def migrator_for(db: Database) -> SchemaMigrator:
    """The Peewee schema migrator of ``db``'s dialect."""
    if isinstance(db, PostgresqlDatabase):
        return PostgresqlMigrator(db)
    return SqliteMigrator(db)


@contextmanager
def _migration_transaction(db: Database) -> Iterator[None]:
    """One transaction that only one process at a time can hold for migrating."""
    if isinstance(db, PostgresqlDatabase):
        with db.atomic():
            db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_PG_MIGRATION_LOCK,))
            yield
    else:
        with db.atomic("IMMEDIATE"):  # takes SQLite's write lock at once
            yield


def migrate_schema(db: Database) -> int:
    """Create a fresh schema or upgrade an older one; returns the version reached (``db.migrate``)."""
    from mdmtui.storage import search_index

    _check_steps()
    search_index.register(db)  # the search triggers' function, on every connection of this database
    with _migration_transaction(db):
        version = schema_version(db)
        if version is None:
            create_missing(db)
            models.SchemaVersion.delete().execute()
            models.SchemaVersion.create(version=CURRENT_VERSION)
            return CURRENT_VERSION
        if version > CURRENT_VERSION:
            raise ConfigurationError(
                f"the database schema is version {version}, newer than this mdmtui understands "
                f"({CURRENT_VERSION}): upgrade mdmtui")
        for target in sorted(v for v in MIGRATIONS if v > version):
            log.info("migrating schema to version %s", target)
            MIGRATIONS[target](db, migrator_for(db))
            models.SchemaVersion.update(version=target).execute()
        if search_index.renumber_if_unkeyed(db):  # SQLite: a gap ran out since (a cheap look otherwise)
            log.info("device search: every device renumbered in name order")
    return CURRENT_VERSION


def _check_steps() -> None:
    # Parallel branches are each given a step number, so a number may be unused (none shipped).
    steps = sorted(MIGRATIONS)
    if not steps or steps[-1] != CURRENT_VERSION or steps[0] < 2:
        raise RuntimeError(f"migration steps {steps} do not lead to version {CURRENT_VERSION}")
