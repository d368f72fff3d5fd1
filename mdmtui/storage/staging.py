"""A collection run's staging area and its apply: all the SQL of a collection, on both dialects.

A ``Stage`` lives on the run's own connection (its writer thread): the temporary tables hold what the
run will write (new rows, updates, history, software) while the MDM talks, so nothing the console reads
changes and no write lock is held. ``applying()`` then opens the one short transaction in which the
``apply_*`` methods move everything into the inventory. Values come in and go out as plain dicts of
column values (datetimes as the models give them), never ORM rows.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, cast

from peewee import Database, PostgresqlDatabase, SqliteDatabase

from mdmtui.records import COLLECTED_FIELDS, STATUS_UNKNOWN, STATUS_WARNING
from mdmtui.storage import search_index, software
from mdmtui.storage.models import Device, DeviceAction
from mdmtui.storage.sql import execute

# Columns a run writes. New rows get all of them; changed rows get UPDATE_COLUMNS.
ROW_COLUMNS: tuple[str, ...] = COLLECTED_FIELDS + (
    "os_class", "mdm_device_id", "linkage_id", "linkage_name", "change_marker", "fingerprint",
    "management_type", "management_status", "device_status", "consumes_license", "managed",
    "first_seen_at", "last_collected_at", "missing_since", "duplicate_of", "orphaned", "search_text",
)
UPDATE_COLUMNS: tuple[str, ...] = COLLECTED_FIELDS + (
    "os_class", "mdm_device_id", "linkage_name", "change_marker", "fingerprint", "management_type",
    "management_status", "consumes_license", "last_collected_at", "missing_since", "orphaned", "search_text",
)
# What a page's comparison reads of each stored device (the narrow row)
KNOWN_COLUMNS = ("id", "mdm_device_id", "fingerprint", "change_marker", "missing_since", "device_status",
                 "management_type", "management_status", "linkage_name")
LABEL_COLUMNS = ("id", "computer_name", "serial_number", "mdm_device_id")  # what names a device in an event
NEW, UPD, HIST, SW, SWDEV = ("mdmtui_stage_new", "mdmtui_stage_upd", "mdmtui_stage_hist",
                             "mdmtui_stage_sw", "mdmtui_stage_swdev")
CHUNK = 500  # ids per IN list
# SQLite: an apply that inserts at least this many software rows, and at least as many as the table holds
# already (a first collection, a big tenant added), builds the software table's indexes after the insert
# instead of row by row (see _insert_software)
REBUILD_MIN_ROWS = 50_000
_SQLITE_APPLY_GATE = threading.Lock()  # this process's SQLite applies queue here, not on busy_timeout

Row = dict[str, Any]
History = tuple[int, str, "str | None", "str | None"]  # device id, field, old text, new text


class Stage:
    """The staging tables of one run of one linkage, on the connection of the calling thread."""

    def __init__(self, db: Database, linkage_id: int, linkage_name: str) -> None:
        self.db = db
        self.linkage_id = linkage_id
        self.linkage_name = linkage_name
        self.software_rows = 0  # software items staged so far

    # --- the tables ---------------------------------------------------------------------------
    def create(self) -> None:
        """The run's temporary tables (private to this connection; gone when it closes)."""
        self.drop()
        columns = ", ".join(ROW_COLUMNS)
        self._sql(f"CREATE TEMPORARY TABLE {NEW} AS SELECT {columns} FROM device WHERE 1 = 0")
        self._sql(f"CREATE INDEX {NEW}_mdm ON {NEW} (mdm_device_id)")
        self._sql(f"CREATE TEMPORARY TABLE {UPD} AS SELECT id, {', '.join(UPDATE_COLUMNS)}, "
                       f"CAST(NULL AS INTEGER) AS reregistered FROM device WHERE 1 = 0")
        self._sql(f"CREATE TEMPORARY TABLE {HIST} (device_id INTEGER, field VARCHAR(255), old_value TEXT, "
                       "new_value TEXT)")
        self._sql(f"CREATE TEMPORARY TABLE {SW} (mdm_device_id TEXT, name TEXT, version TEXT, vendor TEXT)")
        self._sql(f"CREATE TEMPORARY TABLE {SWDEV} (mdm_device_id TEXT)")

    def drop(self) -> None:
        """Drop the staging tables (if any)."""
        for table in (NEW, UPD, HIST, SW, SWDEV):
            self._sql(f"DROP TABLE IF EXISTS {table}")

    @contextmanager
    def page(self) -> Iterator[None]:
        """One transaction per staged page: it writes only this connection's temporary tables (no lock on the
        inventory), and SQLite would otherwise commit every staged row on its own."""
        with self.db.atomic():
            yield

    # --- reading the stored state -----------------------------------------------------------
    def markers(self) -> dict[str, str | None]:
        """MDM id -> stored change marker of every device of the linkage (for the connector)."""
        query = Device.select(Device.mdm_device_id, Device.change_marker).where(Device.linkage == self.linkage_id)
        return dict(cast("Iterable[tuple[str, str | None]]", query.tuples().iterator()))

    def stored(self, mdm_ids: Sequence[str], extra: Sequence[str] = ()) -> dict[str, Row]:
        """MDM id -> the narrow row (``KNOWN_COLUMNS`` plus ``extra`` collected items) of the stored devices."""
        columns = (*KNOWN_COLUMNS, *extra)
        found: dict[str, Row] = {}
        p = self.db.param
        for start in range(0, len(mdm_ids), CHUNK):
            chunk = list(mdm_ids[start:start + CHUNK])
            # Plain SQL: this runs for every device of every page, and model conversion is 3x slower.
            sql = (f"SELECT {', '.join(columns)} FROM device WHERE linkage_id = {p} "
                   f"AND mdm_device_id IN ({', '.join([p] * len(chunk))})")
            for raw in self._sql(sql, [self.linkage_id, *chunk]).fetchall():
                values = dict(zip(columns, raw, strict=True))
                for name in extra:
                    values[name] = _python(name, values[name])
                found[values["mdm_device_id"]] = values
        return found

    def full_rows(self, device_ids: Sequence[int]) -> dict[int, Row]:
        """Device id -> every column of the stored device."""
        rows: dict[int, Row] = {}
        for start in range(0, len(device_ids), CHUNK):
            query = Device.select().where(Device.id.in_(list(device_ids[start:start + CHUNK])))
            for row in cast("Iterable[Row]", query.dicts()):
                rows[row["id"]] = row
        return rows

    def wipe_confirmations(self, device_ids: Sequence[int]) -> dict[int, datetime]:
        """Device id -> when its latest successful wipe was confirmed."""
        found: dict[int, datetime] = {}
        for start in range(0, len(device_ids), CHUNK):
            query = DeviceAction.select(DeviceAction.device, DeviceAction.updated_at).where(
                DeviceAction.device.in_(list(device_ids[start:start + CHUNK])), DeviceAction.action == "wipe",
                DeviceAction.outcome == "succeeded")
            for device_id, at in cast("Iterable[tuple[int, datetime]]", query.tuples()):
                if device_id not in found or at > found[device_id]:
                    found[device_id] = at
        return found

    def present(self) -> list[tuple[int, str]]:
        """(id, MDM id) of the linkage's devices not marked missing."""
        query = Device.select(Device.id, Device.mdm_device_id).where(Device.linkage == self.linkage_id,
                                                                     Device.missing_since.is_null())
        return list(cast("Iterable[tuple[int, str]]", query.tuples().iterator()))

    def labels(self, device_ids: Sequence[int]) -> dict[int, Row]:
        """Device id -> ``LABEL_COLUMNS`` (what names a device in an event)."""
        query = Device.select(*(getattr(Device, c) for c in LABEL_COLUMNS)).where(
            Device.id.in_(list(device_ids) or [-1]))
        return {row["id"]: row for row in cast("Iterable[Row]", query.dicts())}

    def linkage_names(self, device_ids: Sequence[int]) -> dict[int, str | None]:
        """Device id -> the linkage name it is stored under (any linkage)."""
        query = Device.select(Device.id, Device.linkage_name).where(Device.id.in_(list(device_ids)))
        return dict(cast("Iterable[tuple[int, str | None]]", query.tuples()))

    # --- staging ------------------------------------------------------------------------------
    def stage_new(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """New devices (every ``ROW_COLUMNS`` value)."""
        self._insert(NEW, ROW_COLUMNS, [[_db(r[c]) for c in ROW_COLUMNS] for r in rows])

    def stage_updates(self, updates: Iterable[tuple[int, Mapping[str, Any], bool]]) -> None:
        """(device id, row of ``UPDATE_COLUMNS``, re-registered) of stored devices to rewrite."""
        self._insert(UPD, ("id", *UPDATE_COLUMNS, "reregistered"),
                     [[i, *(_db(row[c]) for c in UPDATE_COLUMNS), int(again)] for i, row, again in updates])

    def stage_history(self, entries: Iterable[History]) -> None:
        """History entries of the updates."""
        self._insert(HIST, ("device_id", "field", "old_value", "new_value"), [list(e) for e in entries])

    def stage_software(self, devices: Sequence[str], items: Sequence[tuple[str, str, str | None, str | None]]) -> None:
        """The devices whose software is replaced, and their new items (MDM id, name, version, vendor)."""
        self._insert(SWDEV, ("mdm_device_id",), [[d] for d in devices])
        self._insert(SW, ("mdm_device_id", "name", "version", "vendor"), [list(i) for i in items])
        self.software_rows += len(items)

    def staged_new(self, mdm_id: str) -> Row:
        """The staged new row of ``mdm_id``."""
        cursor = self._sql(f"SELECT {', '.join(ROW_COLUMNS)} FROM {NEW} WHERE mdm_device_id = "
                                     f"{self.db.param}", (mdm_id,))
        values = cursor.fetchone()
        return {c: _python(c, v) for c, v in zip(ROW_COLUMNS, values, strict=True)}

    def unstage_new(self, mdm_id: str) -> None:
        """Take ``mdm_id`` out of the new rows (it is a stored device after all)."""
        self._sql(f"DELETE FROM {NEW} WHERE mdm_device_id = {self.db.param}", (mdm_id,))

    def mark_duplicate(self, mdm_id: str, device_id: int) -> None:
        """The staged new row ``mdm_id`` is the same hardware as stored ``device_id``."""
        p = self.db.param
        self._sql(f"UPDATE {NEW} SET duplicate_of = {p} WHERE mdm_device_id = {p}", (device_id, mdm_id))

    # --- the apply ----------------------------------------------------------------------------
    @contextmanager
    def applying(self) -> Iterator[None]:
        """The apply's one transaction (SQLite: this process's applies queue first, then the write lock is
        taken at BEGIN, so no deadlock on a reader's upgrade)."""
        if isinstance(self.db, SqliteDatabase):
            with _SQLITE_APPLY_GATE, self.db.atomic("IMMEDIATE"):
                yield
        else:
            with self.db.atomic():
                yield

    def apply_missing(self, device_ids: Sequence[int], now: datetime) -> None:
        """Mark devices missing (never deleted)."""
        for start in range(0, len(device_ids), CHUNK):
            Device.update(missing_since=now).where(Device.id.in_(list(device_ids[start:start + CHUNK]))).execute()

    def apply_new(self) -> int:
        """Insert the staged new devices; how many."""
        columns = ", ".join(ROW_COLUMNS)
        cursor = self._sql(f"INSERT INTO device ({columns}) SELECT {columns} FROM {NEW}")
        return cursor.rowcount if cursor.rowcount is not None and cursor.rowcount >= 0 else 0

    def first_seen(self, now: datetime) -> list[Row]:
        """``LABEL_COLUMNS`` of the linkage's devices first seen at ``now`` (this run's new ones)."""
        query = Device.select(*(getattr(Device, c) for c in LABEL_COLUMNS)).where(
            Device.linkage == self.linkage_id, Device.first_seen_at == now)
        return list(cast("Iterable[Row]", query.dicts()))

    def apply_updates(self) -> None:
        """Rewrite the staged updates; a wiped device's "Warning" ends when it re-registered."""
        p = self.db.param
        sets = ", ".join(f"{c} = s.{c}" for c in UPDATE_COLUMNS)
        status = (f"device_status = CASE WHEN device.device_status = {p} AND s.reregistered = 0 "
                  f"THEN {p} ELSE {p} END")
        self._sql(f"UPDATE device SET {sets}, {status} FROM {UPD} s WHERE device.id = s.id",
                            (STATUS_WARNING, STATUS_WARNING, STATUS_UNKNOWN))

    def settle_search_index(self) -> None:
        """The run's new and renamed rows into the search index now, instead of waiting in its queue (SQLite;
        the search scans the queue meanwhile); every key spread again if a row found no room for one."""
        if not search_index.renumber_if_unkeyed(self.db):
            search_index.drain(self.db)

    def apply_history_and_software(self, run_id: int, now: datetime) -> None:
        """Write the history entries and replace the staged devices' software (counts kept)."""
        p = self.db.param
        self._sql(
            f"INSERT INTO device_history (device_id, run_id, at, field, old_value, new_value) "
            f"SELECT h.device_id, {p}, {p}, h.field, h.old_value, h.new_value FROM {HIST} h "
            f"JOIN device d ON d.id = h.device_id", (run_id, _db(now)))
        # the fleet's software counts follow by the delta of the rows replaced (storage/software.py)
        devices = (f"SELECT d.id FROM device d JOIN {SWDEV} s ON d.mdm_device_id = s.mdm_device_id "
                   f"WHERE d.linkage_id = {p}")
        software.remove(self.db, devices, (self.linkage_id,), linkage=self.linkage_name)
        self._sql(f"DELETE FROM software WHERE device_id IN ({devices})", (self.linkage_id,))
        self._insert_software()
        software.add(self.db, devices, (self.linkage_id,), linkage=self.linkage_name)
        software.settle(self.db)

    def _insert_software(self) -> None:
        """The staged software into the inventory. On SQLite a bulk insert (``REBUILD_MIN_ROWS`` and at least
        the rows already there) drops the table's indexes, inserts, and creates them again from their own
        stored definitions, all inside the apply's transaction: a sorted build instead of millions of
        inserts at random places in two B-trees that outgrow the page cache (1.6x faster at 1.4 million
        rows, more beyond). Readers keep their snapshot with the indexes (WAL), a failure rolls the drop
        back with the rest. Not on PostgreSQL: DROP INDEX locks the table against every reader until the
        commit."""
        p = self.db.param
        dropped = self._drop_software_indexes() if self._bulk_software() else []
        self._sql(
            f"INSERT INTO software (device_id, name, version, vendor) SELECT d.id, s.name, s.version, s.vendor "
            f"FROM {SW} s JOIN device d ON d.mdm_device_id = s.mdm_device_id AND d.linkage_id = {p}",
            (self.linkage_id,))
        for definition in dropped:
            self._sql(definition)

    def _bulk_software(self) -> bool:
        if not isinstance(self.db, SqliteDatabase) or self.software_rows < REBUILD_MIN_ROWS:
            return False
        highest = self._sql("SELECT MAX(id) FROM software").fetchone()[0]  # an upper bound of the rows, at once
        return self.software_rows >= (highest or 0)

    def _drop_software_indexes(self) -> list[str]:
        """Drop the software table's own indexes (not an automatic one of a constraint); their definitions."""
        rows = self._sql("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'software' "
                         "AND sql IS NOT NULL").fetchall()
        for name, _definition in rows:
            quoted = name.replace('"', '""')
            self._sql(f'DROP INDEX "{quoted}"')
        return [definition for _name, definition in rows]

    # --- helpers --------------------------------------------------------------------------------
    def _insert(self, table: str, columns: Sequence[str], rows: list[list[Any]]) -> None:
        """Many rows at once: executemany on SQLite, multi-row VALUES on PostgreSQL (one round trip per 1000)."""
        if not rows:
            return
        names = ", ".join(columns)
        if isinstance(self.db, PostgresqlDatabase):
            from psycopg2.extras import execute_values

            execute_values(self._cursor(), f"INSERT INTO {table} ({names}) VALUES %s", rows, page_size=1000)
            return
        marks = ", ".join("?" * len(columns))
        self._cursor().executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)


    def _sql(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """One statement on the run's connection; its cursor."""
        return execute(self.db, sql, params)

    def _cursor(self) -> Any:
        return self.db.cursor()


def _python(column: str, value: Any) -> Any:
    """A raw database value back as the model gives it (SQLite returns dates as text)."""
    return Device._meta.columns[column].python_value(value) if value is not None else None


def _db(value: Any) -> Any:
    """A value as the models store it: datetimes naive UTC."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value
