"""The index behind the device list's text filter, so a keystroke does not cost a scan of the device table.

SQLite: an FTS5 table with the ``trigram`` tokenizer (any substring of three characters or more, Japanese
and digits included, case-folded), its rowid the device's id, kept by triggers on ``device`` so every
writer (collection, asset edits, deletes, migrations, tests that insert rows) keeps it current.
PostgreSQL: a ``pg_trgm`` GIN index on the same text; ``LIKE '%…%'`` on it uses the index.

The indexed text is ``device.search_text`` (written by collection: names, identifiers, the phone's
forms), or, for a row no collection wrote, its searched columns lower-cased and joined by U+001F (a
separator nothing typed contains, so a match never spans two columns) — exactly what the scan reads.
Terms shorter than three characters cannot use a trigram index: they are scanned (``LIKE``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from peewee import SQL, Database, NodeList, PostgresqlDatabase

from mdmtui import identifiers
from mdmtui.storage import sql
from mdmtui.storage.models import Device

log = logging.getLogger(__name__)

MIN_CHARS = 3  # a trigram index finds terms of this length and longer
SEARCHED = ("computer_name", "serial_number", "imei", "udid", "phone_number", "user_name")
FTS_TABLE = "device_fts"
PG_INDEX = "device_search_trgm"
_SEP = "char(31)"  # U+001F on both dialects (SQLite's char(), PostgreSQL's chr())


def document_sql(prefix: str = "", *, postgres: bool = False) -> str:
    """The indexed text of a device row as SQL (``prefix``: ``new.`` in a trigger)."""
    sep = "chr(31)" if postgres else _SEP
    columns = f" || {sep} || ".join(f"COALESCE(lower({prefix}{c}), '')" for c in SEARCHED)
    return f"COALESCE({prefix}search_text, {columns})"


def search_text(values: Mapping[str, Any]) -> str | None:
    """What the device list's text filter searches, lower-cased in one column (see models.Device).

    A phone number is there as sent and in its E.164 and national forms without separators, so
    ``090-1234``, ``09012345678`` and ``+819012345678`` all find ``+81 90-1234-5678``.
    """
    parts: list[str] = []
    for key in SEARCHED:
        value = values.get(key)
        if value is not None:
            parts += identifiers.phone_forms(value) if key == "phone_number" else [str(value)]
    return "\x1f".join(parts).lower() if parts else None


ORDER_INDEX = "device_name_order"  # the device list's default order (services/inventory.py _ordered)


def install(db: Database) -> None:
    """Create the index if it is missing (and fill it from the rows there); safe to call again."""
    sql.execute(db, f"CREATE INDEX IF NOT EXISTS {ORDER_INDEX} ON device ((computer_name IS NULL), computer_name, id)")
    if isinstance(db, PostgresqlDatabase):
        _install_postgres(db)
    else:
        _install_sqlite(db)


def _install_sqlite(db: Database) -> None:
    exists = sql.execute(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (FTS_TABLE,)).fetchone()
    if not exists:
        sql.execute(db, f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(doc, tokenize = 'trigram')")
    doc_new = document_sql("new.")
    sql.execute(db, f"CREATE TRIGGER IF NOT EXISTS device_fts_insert AFTER INSERT ON device BEGIN "
                   f"INSERT INTO {FTS_TABLE}(rowid, doc) VALUES (new.id, {doc_new}); END")
    sql.execute(db, f"CREATE TRIGGER IF NOT EXISTS device_fts_delete AFTER DELETE ON device BEGIN "
                   f"DELETE FROM {FTS_TABLE} WHERE rowid = old.id; END")
    changed = " OR ".join(f"new.{c} IS NOT old.{c}" for c in ("search_text", *SEARCHED))
    sql.execute(db, f"CREATE TRIGGER IF NOT EXISTS device_fts_update AFTER UPDATE ON device WHEN {changed} BEGIN "
                   f"DELETE FROM {FTS_TABLE} WHERE rowid = old.id; "
                   f"INSERT INTO {FTS_TABLE}(rowid, doc) VALUES (new.id, {doc_new}); END")
    if not exists:
        sql.execute(db, f"INSERT INTO {FTS_TABLE}(rowid, doc) SELECT id, {document_sql()} FROM device")


def _install_postgres(db: Database) -> None:
    try:
        with db.atomic():  # a savepoint: a refusal must not abort the migration's transaction
            sql.execute(db, "CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
            sql.execute(db, f"CREATE INDEX IF NOT EXISTS {PG_INDEX} ON device USING gin "
                           f"(({document_sql(postgres=True)}) public.gin_trgm_ops)")
    except Exception as exc:  # noqa: BLE001 - no privilege, or pg_trgm not installed: search still works, by scan
        log.warning("no pg_trgm index for the device search (%s): text filters scan the device table; "
                    "ask the database owner to run CREATE EXTENSION pg_trgm", str(exc).splitlines()[0])


def postgres() -> bool:
    """Whether the models are bound to PostgreSQL."""
    return isinstance(Device._meta.database, PostgresqlDatabase)


def fts_phrase(needle: str) -> str:
    """``needle`` as an FTS5 string: matched as it is, never read as query syntax (``OR``, ``*``, ``NEAR``)."""
    return '"' + needle.replace('"', '""') + '"'


def condition(needle: str) -> Any:
    """Devices whose indexed text contains ``needle`` (lower-cased, at least MIN_CHARS characters), through
    the index; None when the index cannot answer (too short: the caller scans).

    Two characters were tried through the index too (every trigram holding them, from fts5vocab, OR-ed):
    slower than the scan at 100,000 devices (150 ms against 30), so shorter terms are scanned.
    """
    if len(needle) < MIN_CHARS:
        return None
    if postgres():
        pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return NodeList((SQL(document_sql(postgres=True)), SQL("LIKE"), pattern))
    return Device.id.in_(SQL(f"(SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ?)", [fts_phrase(needle)]))
