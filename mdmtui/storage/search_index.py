"""The index behind the device list's text filter, so a keystroke does not cost a scan of the device table.

SQLite: every device has a ``name_key``, an integer that grows with the device list's default order
(``(computer_name IS NULL), computer_name, id``), and two FTS5 tables with the ``trigram`` tokenizer are
keyed by it (rowid = name_key): ``device_fts`` over the indexed text (terms of three characters and more:
any substring, Japanese and digits included, case-folded) and ``device_fts_short`` over the same text with
GAP between every two characters (a term of one or two characters is then one trigram). The default-order
page joins the FTS table to the device table on the key and reads the matches in key order, so it stops
after a page of them however many rows match. Triggers on ``device`` keep all of it for every writer
(collection, asset edits, deletes, migrations, tests that insert rows): a new or renamed row takes a key
between its neighbours' and waits in ``device_fts_queue`` (the search scans the queue) until the FTS tables
take a batch in key order. A row for which no key is left between its neighbours stays unkeyed and
queued (found by the scan; the page sorts instead of streaming) until ``renumber`` (migration 12, or
``renumber_if_unkeyed``, for a collection's end) spreads every key again.
``name_key`` is not a model field and exists on SQLite only: PostgreSQL has a ``pg_trgm`` GIN index on
the same text (``LIKE '%…%'`` on it uses the index; terms under three characters are scanned there).

The indexed text is ``device.search_text`` (written by collection: names, identifiers, the phone's
forms), or, for a row no collection wrote, its searched columns lower-cased and joined by U+001F (a
separator nothing typed contains, so a match never spans two columns) — exactly what the scan reads.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from peewee import SQL, Column, Database, NodeList, PostgresqlDatabase

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

# SQLite: every device's place in the default order as a number, and both FTS tables keyed by it
KEY = "name_key"
KEY_INDEX = "device_name_key"
UNKEYED_INDEX = "device_unkeyed"  # partial: the rows left without a key (there are normally none)
SHORT_TABLE = "device_fts_short"  # the interleaved text: terms of one and two characters
QUEUE_TABLE = "device_fts_queue"  # rows written since the FTS tables took them (ids), and unkeyed rows
QUEUE_SIZE = 500  # the triggers move the queue into the FTS tables at every QUEUE_SIZE-th device id
INTERLEAVE_FN = "mdmtui_interleave"
GAP = "\ue000"  # a private-use character between every two characters of the interleaved text
SPACING = 2**40  # between neighbours' keys after a renumbering (less when 2**21 rows would not fit)
RUN = 64  # a neighbour among the last RUN rows written: the new row continues a run in name order
STEP = 2**16  # a run's smallest step between two neighbours
RUN_STEP = 2**28  # ... and at either end of the order
KEY_LIMIT = 2**61  # keys stay in (-KEY_LIMIT, KEY_LIMIT): differences fit in 63 bits
_TRIGGERS = ("device_search_insert", "device_search_update", "device_search_delete")
_OLD_TRIGGERS = ("device_fts_insert", "device_fts_update", "device_fts_delete")  # version 11: keyed by id


def interleave(text: str | None) -> str | None:
    """``text`` with GAP between every two characters and at both ends (the short table's document)."""
    return GAP + GAP.join(text) + GAP if text else None


def short_needle(needle: str) -> str:
    """A term as the short table holds it: ``ip`` -> ``i<GAP>p``, ``0`` -> ``<GAP>0<GAP>`` (three characters
    or more, so one trigram or more)."""
    return GAP.join(needle) if len(needle) > 1 else GAP + needle + GAP


def register(db: Database) -> None:
    """Give ``db``'s connections (now and later) the interleaving function the triggers call (SQLite)."""
    if not isinstance(db, PostgresqlDatabase) and hasattr(db, "register_function"):
        db.register_function(interleave, INTERLEAVE_FN, 1, deterministic=True)


def install(db: Database) -> None:
    """Create the index if it is missing (and fill it from the rows there); safe to call again."""
    sql.execute(db, f"CREATE INDEX IF NOT EXISTS {ORDER_INDEX} ON device ((computer_name IS NULL), computer_name, id)")
    if isinstance(db, PostgresqlDatabase):
        _install_postgres(db)
    else:
        _install_sqlite(db)


def _install_sqlite(db: Database) -> None:
    register(db)
    sql.execute(db, f"CREATE TABLE IF NOT EXISTS {QUEUE_TABLE} (id INTEGER PRIMARY KEY)")
    if KEY not in {c.name for c in db.get_columns("device")}:
        sql.execute(db, f"ALTER TABLE device ADD COLUMN {KEY} INTEGER")
    sql.execute(db, f"CREATE UNIQUE INDEX IF NOT EXISTS {KEY_INDEX} ON device ({KEY})")
    sql.execute(db, f"CREATE INDEX IF NOT EXISTS {UNKEYED_INDEX} ON device (id) WHERE {KEY} IS NULL")
    built = _table_exists(db, SHORT_TABLE)
    if not built:  # none yet, or version 11's table keyed by the device id: built again, keyed by name_key
        for trigger in _OLD_TRIGGERS:
            sql.execute(db, f"DROP TRIGGER IF EXISTS {trigger}")
        sql.execute(db, f"DROP TABLE IF EXISTS {FTS_TABLE}")
        for table in (FTS_TABLE, SHORT_TABLE):
            sql.execute(db, f"CREATE VIRTUAL TABLE {table} USING fts5(doc, tokenize = 'trigram')")
    for trigger in _trigger_sql():
        sql.execute(db, trigger)
    if not built:
        renumber(db)


def _table_exists(db: Database, name: str) -> bool:
    found = sql.execute(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone()
    return found is not None


def _fts_fill(where: str, source: str = "device AS r") -> list[str]:
    """INSERTs of both FTS tables' rows for the keyed device rows ``r`` that ``where`` selects, in key order."""
    doc = document_sql("r.")
    return [f"INSERT INTO {table}(rowid, doc) SELECT r.{KEY}, {value} FROM {source} "
            f"WHERE ({where}) AND r.{KEY} IS NOT NULL ORDER BY r.{KEY}"
            for table, value in ((FTS_TABLE, doc), (SHORT_TABLE, f"{INTERLEAVE_FN}({doc})"))]


def _fts_drop(key: str) -> str:
    return "; ".join(f"DELETE FROM {t} WHERE rowid = {key}" for t in (FTS_TABLE, SHORT_TABLE))


def _drain_sql(when: str) -> list[str]:
    """Move the queued rows that have a key into both FTS tables, in key order, when ``when`` holds."""
    # CROSS JOIN: the queue drives (SQLite keeps that order), not a walk of the device table in key order
    return [*_fts_fill(when, f"{QUEUE_TABLE} AS q CROSS JOIN device AS r ON r.id = q.id"),
            f"DELETE FROM {QUEUE_TABLE} WHERE ({when}) AND id IN "
            f"(SELECT id FROM device WHERE id IN (SELECT id FROM {QUEUE_TABLE}) AND {KEY} IS NOT NULL)"]


def _trigger_sql() -> list[str]:
    """The triggers that keep name_key, the queue and both FTS tables current for every writer of ``device``.

    A written row gets its key at once (an UPDATE of name_key alone, which fires none of them) and waits
    in the queue; at every QUEUE_SIZE-th id the queue moves into the FTS tables in key order. FTS5 flushes its pending data at
    every row whose rowid is not above the previous one: written one by one in name order (random in
    rowid), a 100,000-row collection made it write 100,000 tiny segments and merge them (~6x slower and
    growing); about QUEUE_SIZE rows at a time in key order, one segment each. A row that leaves (deleted, or
    its text changed) leaves the FTS tables at once.
    """
    insert, update, delete = _TRIGGERS
    enqueue = f"INSERT OR IGNORE INTO {QUEUE_TABLE}(id) VALUES (new.id)"
    drain = "; ".join(_drain_sql(f"new.id % {QUEUE_SIZE} = 0"))  # a constant in the trigger: no count per row
    changed = " OR ".join(f"new.{c} IS NOT old.{c}" for c in ("search_text", *SEARCHED))
    columns = ", ".join(dict.fromkeys(("search_text", *SEARCHED)))
    return [
        f"CREATE TRIGGER IF NOT EXISTS {insert} AFTER INSERT ON device BEGIN "
        f"UPDATE device SET {KEY} = {key_sql()} WHERE id = new.id; {enqueue}; {drain}; END",
        f"CREATE TRIGGER IF NOT EXISTS {update} AFTER UPDATE OF {columns} ON device WHEN {changed} BEGIN "
        f"{_fts_drop('old.' + KEY)}; "
        f"UPDATE device SET {KEY} = {key_sql()} WHERE id = new.id AND new.computer_name IS NOT old.computer_name; "
        f"{enqueue}; {drain}; END",
        f"CREATE TRIGGER IF NOT EXISTS {delete} AFTER DELETE ON device BEGIN {_fts_drop('old.' + KEY)}; "
        f"DELETE FROM {QUEUE_TABLE} WHERE id = old.id; END",
    ]


def _neighbour(before: bool) -> str:
    """The key of the nearest keyed row before (or after) ``new`` in the default order, as SQL."""
    less, desc = ("<", " DESC") if before else (">", "")
    keyed = f"{KEY} IS NOT NULL"

    def nearest(where: str, order: str) -> str:
        return f"(SELECT {KEY} FROM device WHERE {where} AND {keyed} ORDER BY {order} LIMIT 1)"

    same_name = nearest(f"computer_name = new.computer_name AND id {less} new.id", f"id{desc}")
    other_name = nearest(f"computer_name {less} new.computer_name", f"computer_name{desc}, id{desc}")
    same_null = nearest(f"computer_name IS NULL AND id {less} new.id", f"id{desc}")
    if before:  # a named row: named ones before it; an unnamed row: unnamed ones, then the last named one
        named = f"COALESCE({same_name}, {other_name})"
        unnamed = f"COALESCE({same_null}, {nearest('computer_name IS NOT NULL', 'computer_name DESC, id DESC')})"
    else:
        named = f"COALESCE({same_name}, {other_name}, {nearest('computer_name IS NULL', 'id')})"
        unnamed = same_null
    return f"CASE WHEN new.computer_name IS NULL THEN {unnamed} ELSE {named} END"


def key_sql() -> str:
    """A key for the row ``new`` between its keyed neighbours' (p, n), as SQL; NULL when there is no room.

    Halfway between them, the best place for rows that come in no particular order (an MDM listing by
    its own ids); but a row that continues a run in name order (its neighbour was written within the
    last RUN rows and its name starts as the neighbour's in its first half: ``PC-000124`` after
    ``PC-000123``) lands a small part of the gap (``_RUN_SHIFT``, at least STEP)
    from that neighbour: halving, a gap would hold only ~40 rows of such a run. At either end of the
    order a recent neighbour is enough (a listing sorted by name appends at the end).
    """
    half = "(n - p) / 2"
    run = f"min({half}, max({STEP}, (n - p) >> {_RUN_SHIFT}))"
    up, down = f"({KEY_LIMIT} - p)", f"(n + {KEY_LIMIT})"
    choose = (f"CASE WHEN p IS NULL AND n IS NULL THEN 0 "
              f"WHEN n IS NULL THEN (CASE WHEN p < {KEY_LIMIT - 1} THEN p + (CASE WHEN pid > old "
              f"THEN min({up} / 2, max({RUN_STEP}, {up} >> {_END_SHIFT})) ELSE {up} / 2 END) END) "
              f"WHEN p IS NULL THEN (CASE WHEN n > {1 - KEY_LIMIT} THEN n - (CASE WHEN nid > old "
              f"THEN min({down} / 2, max({RUN_STEP}, {down} >> {_END_SHIFT})) ELSE {down} / 2 END) END) "
              f"WHEN n - p < 2 THEN NULL "
              f"WHEN nid > old AND nlike AND (nid > pid OR NOT plike) THEN n - {run} "
              f"WHEN pid > old AND plike THEN p + {run} "
              f"ELSE p + {half} END")
    same = "substr(new.computer_name, 1, max(length(new.computer_name) / 2, 1))"

    def alike(key: str) -> str:
        return (f"(SELECT computer_name IS NULL AND new.computer_name IS NULL OR substr(computer_name, 1, "
                f"max(length(new.computer_name) / 2, 1)) = {same} FROM device WHERE {KEY} = {key})")

    ids = (f"SELECT p, n, (SELECT id FROM device WHERE {KEY} = p) AS pid, (SELECT id FROM device WHERE {KEY} = n) "
           f"AS nid, {alike('p')} AS plike, {alike('n')} AS nlike, (SELECT max(id) FROM device) - {RUN} AS old "
           f"FROM (SELECT {_neighbour(True)} AS p, {_neighbour(False)} AS n)")
    return f"(SELECT {choose} FROM ({ids}))"


_RUN_SHIFT = 12  # a run's row lands 1/4096 of the gap from its neighbour ...
_END_SHIFT = 16  # ... and 1/65536 of the room left at either end


def renumber(db: Database) -> None:
    """Give every device a key SPACING apart in the default order and rebuild both FTS tables from them:
    after a migration, or when rows were left without a key (``unkeyed``)."""
    (rows,) = sql.execute(db, "SELECT count(*) FROM device").fetchone()
    spacing = min(SPACING, KEY_LIMIT // (int(rows) + 1))
    for table in (FTS_TABLE, SHORT_TABLE, QUEUE_TABLE):
        sql.execute(db, f"DELETE FROM {table}")
    sql.execute(db, f"UPDATE device SET {KEY} = NULL WHERE {KEY} IS NOT NULL")  # no clash with the new keys
    sql.execute(db, f"UPDATE device SET {KEY} = r.k FROM (SELECT id, (row_number() OVER "
                    f"(ORDER BY computer_name IS NULL, computer_name, id) - 1) * {spacing} AS k FROM device) AS r "
                    f"WHERE r.id = device.id")
    for statement in _fts_fill("1"):
        sql.execute(db, statement)


def drain(db: Database) -> None:
    """Move every queued row that has a key into the FTS tables now (SQLite; the triggers do it per
    QUEUE_SIZE rows): the keyed page then needs no look at the queue."""
    if not isinstance(db, PostgresqlDatabase):
        for statement in _drain_sql("1"):
            sql.execute(db, statement)


def queue_ids() -> Any:
    """The ids in the queue, as a subquery."""
    return SQL(f"(SELECT id FROM {QUEUE_TABLE})")


def queued(db: Database | None = None) -> bool:
    """Whether some rows wait in the queue (not yet in the FTS tables: the search scans them)."""
    db = db or Device._meta.database
    if isinstance(db, PostgresqlDatabase):
        return False
    return sql.execute(db, f"SELECT 1 FROM {QUEUE_TABLE} LIMIT 1").fetchone() is not None


def unkeyed(db: Database | None = None) -> bool:
    """Whether some device was left without a key (SQLite: a gap ran out; ``renumber`` gives it one)."""
    db = db or Device._meta.database
    if isinstance(db, PostgresqlDatabase):
        return False
    return sql.execute(db, f"SELECT 1 FROM device WHERE {KEY} IS NULL LIMIT 1").fetchone() is not None


def renumber_if_unkeyed(db: Database) -> bool:
    """Renumber when some device has no key (a collection's end can call this); whether it did."""
    if not unkeyed(db):
        return False
    renumber(db)
    return True


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


def key_column(model: Any = Device) -> Any:
    """The device's name_key (SQLite only; not a model field: no model write can carry a stale one)."""
    return Column(model, KEY)


def match(needles: Sequence[str]) -> tuple[str, str]:
    """(FTS table, MATCH expression) of one term: rows containing any of ``needles`` (lower-cased).

    Terms of MIN_CHARS characters and more go to the plain trigram table; a term with a shorter needle to
    the interleaved one, where every needle is one trigram or more.
    """
    if all(len(n) >= MIN_CHARS for n in needles):
        return FTS_TABLE, " OR ".join(fts_phrase(n) for n in needles)
    return SHORT_TABLE, " OR ".join(fts_phrase(short_needle(n)) for n in needles)


def condition(needles: Sequence[str]) -> Any:
    """Devices whose indexed text contains any of ``needles`` (lower-cased), through the index; None when
    the index cannot answer (PostgreSQL, a term shorter than MIN_CHARS: the caller scans).

    SQLite answers every length (the interleaved table for one or two characters); rows left without a key
    are not in it (the caller adds them by a scan when ``unkeyed``).
    """
    if postgres():
        if any(len(n) < MIN_CHARS for n in needles):
            return None
        cond: Any = None
        for needle in needles:
            pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            one = NodeList((SQL(document_sql(postgres=True)), SQL("LIKE"), pattern))
            cond = one if cond is None else (cond | one)
        return cond
    table, expression = match(needles)
    return key_column().in_(SQL(f"(SELECT rowid FROM {table} WHERE {table} MATCH ?)", [expression]))
