"""Collection runs: stream a linkage's devices from its MDM into the inventory, atomically.

How a run goes (``collect``):
1. Take the linkage's collection lock (``services.locks``; ``Busy`` when another process collects it)
   and record a ``CollectionRun`` "running" (outside any transaction, so a failure is recorded too).
2. Stream the MDM's pages. Each page is compared with the stored devices *by fingerprint* (a hash of
   the collected items) and only new or changed devices are staged, in temporary tables of the run's
   own connection: nothing the console reads changes, and no write lock is held while the MDM talks.
3. When the stream completed: ask the MDM directly about each stored device the listing did not show
   (``Connector.device_gone``): only those it confirms gone become *missing* — an offset-paged list that
   changed while it was read skips live devices. Then resolve re-enrolments and duplicates
   (``services.identity``), and apply
   everything in ONE short transaction — missing marks, inserts, updates, history, software, events,
   audit and the run's "succeeded". A failure or a cancel before that leaves the inventory untouched.

All database work of a run happens on one dedicated thread (Peewee connections and temporary tables
are per connection); the event loop only awaits it, one page behind the network.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from peewee import PostgresqlDatabase, SqliteDatabase, fn

from mdmtui import capabilities, identifiers
from mdmtui.storage import storable
from mdmtui.connectors.base import Connector, LinkageConfig, connector_for
from mdmtui.errors import ActionRefused, Busy, Cancelled, MdmtuiError, NotFoundError
from mdmtui.storage.models import CollectionRun, Device, DeviceAction, Linkage, utcnow
from mdmtui.storage import search_index
from mdmtui.records import (
    COLLECTED_FIELDS, MANAGEMENT_STATUS, MANAGEMENT_TYPE, STATUS_UNKNOWN, STATUS_WARNING, CollectionSummary,
    DeviceRecord, OsClass, Progress, SoftwareItem,
)
from mdmtui.services import audit, events, identity, locks, roles, software
from mdmtui.services.context import Context

log = logging.getLogger(__name__)

ProgressCallback = Callable[[Progress], None]
ConnectorFactory = Callable[[LinkageConfig], Connector]

# Items that change at nearly every contact: they update the row but write no history entry.
HISTORY_SKIP = frozenset({"last_alive_at", "ram_free_bytes", "storage_free_bytes", "sd_free_bytes"})
HARDWARE_IDS = ("imei", "iccid")  # stored without separators, whichever connector built the record
# Per-kind events beyond this many in one run become one summary event (a first collection of
# 100,000 devices must not bury the events view).
EVENT_DETAIL_LIMIT = 20
# Values adjusted to fit the database are named one by one up to this many per run, then counted.
ADJUSTMENT_DETAIL_LIMIT = 10
_CHUNK = 500  # ids per IN list
# Up to this many devices absent from a listing are asked for one by one; more are checked by listing
# again (a linkage pointed at another server must not cost 100,000 requests)
RECHECK_ONE_BY_ONE = 2000
# a changed-only run lists from the last run's start on the MDM's clock minus this: a device whose check-in
# landed while that run listed, or whose time the MDM wrote a little late, is still listed
CHANGED_MARGIN = timedelta(minutes=10)

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
_DIFF_FIELDS = COLLECTED_FIELDS + ("os_class", "mdm_device_id")
_KNOWN_COLUMNS = ("id", "mdm_device_id", "fingerprint", "change_marker", "missing_since", "device_status",
                  "management_type", "management_status", "linkage_name")
_NEW, _UPD, _HIST, _SW, _SWDEV = ("mdmtui_stage_new", "mdmtui_stage_upd", "mdmtui_stage_hist",
                                  "mdmtui_stage_sw", "mdmtui_stage_swdev")
_SQLITE_APPLY_GATE = threading.Lock()  # this process's SQLite applies queue here, not on busy_timeout


# ------------------------------------------------------------------------------------------ public API


async def collect(ctx: Context, name: str, *, trigger: str = "immediate", progress: ProgressCallback | None = None,
                  cancel: asyncio.Event | None = None, connector_factory: ConnectorFactory | None = None,
                  changed_only: bool = False) -> CollectionSummary:
    """Collect one linkage now; the summary says succeeded, failed (with the reason) or cancelled.

    ``changed_only`` lists only the devices whose last contact moved since the last successful run
    began (on the MDM's clock, minus ``CHANGED_MARGIN``) and never marks anything missing.

    Raises ``NotFoundError`` for an unknown linkage, ``Busy`` when the linkage is being collected
    elsewhere and ``ActionRefused`` in read-only mode; every other failure is a recorded, failed run.
    """
    if trigger not in ("immediate", "scheduled"):
        raise ValueError(f"trigger must be 'immediate' or 'scheduled', got {trigger!r}")
    if ctx.read_only:
        raise ActionRefused("read-only mode: collection is disabled")
    roles.require(ctx, roles.Permission.COLLECT, target=f"collection of {name}")
    writer = _Writer(ctx)
    try:
        run = await writer.call(_Run.begin, ctx, name, trigger, "changed" if changed_only else "full")
        return await _stream_and_apply(run, writer, connector_factory or connector_for, progress, cancel)
    finally:
        await writer.close()


async def collect_many(ctx: Context, names: Sequence[str] | None = None, *, trigger: str = "immediate",
                       progress: ProgressCallback | None = None, cancel: asyncio.Event | None = None,
                       connector_factory: ConnectorFactory | None = None,
                       changed_only: bool = False) -> list[CollectionSummary]:
    """Collect several linkages concurrently (None: every enabled one); one summary each, in order.

    A linkage being collected elsewhere gives a "skipped" summary; the others go on.
    """
    if ctx.read_only:
        raise ActionRefused("read-only mode: collection is disabled")
    roles.require(ctx, roles.Permission.COLLECT, target="collection")
    chosen = await asyncio.to_thread(_linkage_names, ctx, names)
    slots = asyncio.Semaphore(ctx.settings.collect_concurrency)

    async def one(linkage_name: str) -> CollectionSummary:
        async with slots:
            if cancel is not None and cancel.is_set():
                return CollectionSummary(linkage_name, status="cancelled", reason="cancelled before it started")
            try:
                return await collect(ctx, linkage_name, trigger=trigger, progress=progress, cancel=cancel,
                                     connector_factory=connector_factory, changed_only=changed_only)
            except Busy as exc:
                return CollectionSummary(linkage_name, status="skipped", reason=str(exc))

    return list(await asyncio.gather(*(one(n) for n in chosen)))


def summary_of(run: CollectionRun) -> CollectionSummary:
    """A stored run as a summary."""
    return CollectionSummary(
        linkage=run.linkage_name, run_id=run.id, status=run.status, reason=run.reason, new=run.new,
        changed=run.changed, unchanged=run.unchanged, missing=run.missing, returned=run.returned,
        software_items=run.software_items, pages=run.pages, devices_seen=run.devices_seen,
        rechecked=run.rechecked, kind=run.kind, started_at=run.started_at, finished_at=run.finished_at)


def recent_runs(limit: int = 50, linkage: str | None = None) -> list[CollectionRun]:
    """The newest collection runs first."""
    query = CollectionRun.select().order_by(CollectionRun.id.desc()).limit(limit)
    if linkage:
        query = query.where(CollectionRun.linkage_name == linkage)
    return list(query)


def _linkage_names(ctx: Context, names: Sequence[str] | None) -> list[str]:
    with ctx.db.connection_context():
        if names is None:
            return [lk.name for lk in Linkage.select(Linkage.name).where(Linkage.enabled == True)  # noqa: E712
                    .order_by(Linkage.name)]
        known = {lk.name for lk in Linkage.select(Linkage.name).where(Linkage.name.in_(list(names)))}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise NotFoundError("no linkage named " + ", ".join(f"'{n}'" for n in unknown)
                            + " (see `mdmtui linkage list`)")
    return list(dict.fromkeys(names))


# ---------------------------------------------------------------------------------------- the stream


async def _stream_and_apply(run: _Run, writer: _Writer, factory: ConnectorFactory,
                            progress: ProgressCallback | None, cancel: asyncio.Event | None) -> CollectionSummary:
    """Stream, stage page by page, apply; every ending is recorded by the writer thread."""
    try:
        connector = factory(await writer.call(run.config))
        try:
            await _stream(run, writer, connector, progress, cancel)
            warnings = list(getattr(connector, "warnings", []) or [])
        finally:
            await connector.aclose()
        _check_cancel(cancel)
        return await writer.call(run.apply, warnings)
    except (Cancelled, asyncio.CancelledError) as exc:
        summary = await asyncio.shield(writer.call(run.finish, "cancelled", _cancel_reason(exc)))
        if isinstance(exc, asyncio.CancelledError):
            raise
        return summary
    except MdmtuiError as exc:
        return await writer.call(run.finish, "failed", str(exc))
    except Exception as exc:  # noqa: BLE001 - a bug must still end as a recorded failed run
        log.exception("collection of %s crashed", run.name)
        return await writer.call(run.finish, "failed", f"unexpected error: {exc.__class__.__name__}: {exc} "
                                                       "(details in the log file)")


async def _stream(run: _Run, writer: _Writer, connector: Connector, progress: ProgressCallback | None,
                  cancel: asyncio.Event | None) -> None:
    """Stage each page while the next one is fetched (one page in flight at the writer)."""
    known = await writer.call(run.prepare)
    started, pages, devices = time.monotonic(), 0, 0
    stream = aiter(connector.iter_device_pages(known))
    try:
        while (page := await _next_page(stream, cancel)) is not _END:
            await writer.call(run.stage_page, page)
            pages, devices = pages + 1, devices + len(page)
            if progress is not None:
                elapsed = max(time.monotonic() - started, 1e-6)
                progress(Progress(run.name, pages, devices, None, devices / elapsed))
    finally:
        aclose = getattr(stream, "aclose", None)  # an async generator: close it even when abandoned mid-page
        if aclose is not None:
            await aclose()
    _check_cancel(cancel)
    run.mdm_started_at = getattr(connector, "listed_at", None)  # before a re-check lists again
    if run.kind == "full":  # a changed-only listing leaves out every quiet device: absence proves nothing
        await _recheck_absent(run, writer, connector, known)


_END = object()


async def _next_page(stream, cancel: asyncio.Event | None) -> Any:
    """The stream's next page, or ``_END``; a cancel (a signal) stops waiting for a slow MDM at once."""
    if cancel is None:
        return await anext(stream, _END)
    _check_cancel(cancel)
    fetch = asyncio.ensure_future(anext(stream, _END))
    stop = asyncio.ensure_future(cancel.wait())
    try:
        await asyncio.wait((fetch, stop), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        if not fetch.done():
            fetch.cancel()  # the request in flight is abandoned; nothing of the run is written
            await asyncio.gather(fetch, return_exceptions=True)
    _check_cancel(cancel)
    return fetch.result()


async def _recheck_absent(run: _Run, writer: _Writer, connector: Connector, known: dict[str, str | None]) -> None:
    """Ask the MDM about each stored device the listing did not show; only confirmed ones go missing.
    Beyond RECHECK_ONE_BY_ONE devices a second complete listing is cheaper: absent from both is gone."""
    absent = await writer.call(run.absent)
    if not absent:
        return
    if len(absent) > RECHECK_ONE_BY_ONE:
        listed = await _listed_ids(connector, known)
        gone = {device_id for device_id, mdm_id in absent if mdm_id not in listed}
    else:
        answers = await asyncio.gather(*(_gone_or_none(connector, mdm_id) for _, mdm_id in absent))
        gone = {device_id for (device_id, _), answer in zip(absent, answers) if answer is True}
    await writer.call(run.confirm_absent, gone, len(absent))


async def _listed_ids(connector: Connector, known: dict[str, str | None]) -> set[str]:
    """The MDM ids of a second complete listing (unchanged devices cost no per-device call)."""
    listed: set[str] = set()
    kept = list(getattr(connector, "warnings", None) or [])  # the run's warnings are the first listing's
    async for page in connector.iter_device_pages(known):
        listed.update(r.mdm_device_id for r in page)
    if hasattr(connector, "warnings"):
        connector.warnings = kept
    return listed


async def _gone_or_none(connector: Connector, mdm_id: str) -> bool | None:
    """True/False as the MDM answers; None when it could not be asked (the device stays as it was)."""
    try:
        return await connector.device_gone(mdm_id)
    except MdmtuiError as exc:
        log.info("could not confirm that %s is gone: %s", mdm_id, exc)
    except Exception:  # noqa: BLE001 - one odd answer must not fail the run; the device is left alone
        log.exception("could not confirm that %s is gone", mdm_id)
    return None


def _check_cancel(cancel: asyncio.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("cancelled by the admin; the inventory was left as it was")


def _cancel_reason(exc: BaseException) -> str:
    if isinstance(exc, Cancelled):
        return str(exc)
    return "interrupted; the inventory was left as it was"


class _Writer:
    """One thread (hence one connection) for all of a run's database work."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="collect-writer")

    def submit(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future:
        return asyncio.wrap_future(self.pool.submit(fn, *args))

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await self.submit(fn, *args)

    async def close(self) -> None:
        try:
            await asyncio.shield(self.call(self._close_connection))
        finally:
            self.pool.shutdown(wait=False)

    def _close_connection(self) -> None:
        if not self.ctx.db.is_closed():
            self.ctx.db.close()


# ------------------------------------------------------------------------------------------- the run


@dataclass
class _Known:
    """What a page needs of one stored device (the narrow row)."""

    id: int
    values: dict[str, Any]


@dataclass
class _Change:
    """A stored device whose row must be rewritten."""

    known: _Known
    row: dict[str, Any]  # the merged values to write (ROW_COLUMNS)
    software: list[SoftwareItem] | None


@dataclass
class _Run:
    """One collection of one linkage; every method runs on the writer thread."""

    ctx: Context
    linkage: Linkage
    trigger: str
    kind: str  # full | changed
    held: locks.HeldLock
    row: CollectionRun
    summary: CollectionSummary
    now: datetime
    seen: set[int] = field(default_factory=set)  # stored devices this run saw
    gone: set[int] = field(default_factory=set)  # not seen, and confirmed gone by the MDM: these go missing
    new_ids: set[str] = field(default_factory=set)  # MDM ids staged as new
    events: dict[str, list[tuple[str, int | None]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # the run's own (the connector has its list)
    warning_cleared: int = 0
    adjustments: list[storable.Adjustment] = field(default_factory=list)  # the first few, for the warnings
    adjusted: int = 0
    heartbeat: Any = None
    since: float | None = None  # a changed-only run's lower bound on the MDM's clock (epoch seconds)
    mdm_started_at: float | None = None  # the MDM's clock at this run's first listing answer

    @property
    def name(self) -> str:
        return self.linkage.name

    @property
    def db(self):
        return self.ctx.db

    # --- start -------------------------------------------------------------------------------------
    @classmethod
    def begin(cls, ctx: Context, name: str, trigger: str, kind: str = "full") -> _Run:
        """Lock the linkage, record the run as running and create the staging tables."""
        linkage = Linkage.get_or_none(Linkage.name == name)
        if linkage is None:
            raise NotFoundError(f"no linkage named '{name}' (see `mdmtui linkage list`)")
        held = locks.acquire(ctx, linkage)
        now = utcnow()
        try:
            _close_abandoned_runs(ctx, linkage)
            row = CollectionRun.create(linkage=linkage, linkage_name=linkage.name, trigger=trigger, kind=kind,
                                       status="running", started_at=now, host=ctx.host, pid=os.getpid())
        except Exception:
            locks.release(held)
            raise
        run = cls(ctx, linkage, trigger, kind, held, row,
                  CollectionSummary(linkage.name, run_id=row.id, kind=kind, started_at=now), now)
        if kind == "changed":
            run.since = changed_since(linkage)
            if run.since is None:
                run.warnings.append("no earlier successful run with the MDM's start time: every device was "
                                    "listed (a changed-only run still marks nothing missing)")
        run.heartbeat = locks.Heartbeat(ctx, held, locks.HEARTBEAT_S)
        run.heartbeat.start()
        return run

    def config(self) -> LinkageConfig:
        """The connector's configuration (secrets decrypted; SDM database from the properties)."""
        from mdmtui.services.linkages import linkage_config

        config = linkage_config(self.ctx, self.linkage)
        # facts no list shows (passcode state, software) are refreshed on this rolling period (churn.py)
        config.extra.setdefault("refresh_days", self.ctx.settings.refresh_days)
        # Intune's list or export route (connectors/intune.py; the other connectors ignore these)
        settings = self.ctx.settings
        config.extra.setdefault("intune_route", settings.intune_route)
        config.extra.setdefault("export_threshold", settings.intune_export_threshold)
        config.extra.setdefault("export_wait_s", settings.intune_export_wait_s)
        config.extra["changed_since"] = self.since
        return config

    def prepare(self) -> dict[str, str | None]:
        """Create the staging tables; MDM id -> stored change marker, for the connector."""
        _create_stage(self.db)
        query = Device.select(Device.mdm_device_id, Device.change_marker).where(Device.linkage == self.linkage.id)
        return dict(query.tuples().iterator())

    # --- a page ------------------------------------------------------------------------------------
    def stage_page(self, records: list[DeviceRecord]) -> None:
        """Compare one page with storage and stage what is new or changed."""
        # One transaction per page: it writes only this connection's temporary tables (no lock on
        # the inventory), and SQLite would otherwise commit every staged row on its own.
        with self.db.atomic():
            self._stage_page(records)

    def _stage_page(self, records: list[DeviceRecord]) -> None:
        self.summary.pages += 1
        self.summary.devices_seen += len(records)
        records = [r for r in records if self._storable(r)]
        stored = self._stored(records)
        new_rows, changes = [], []
        for record in records:
            known = stored.get(record.mdm_device_id)
            if known is None:
                if record.mdm_device_id not in self.new_ids:  # a repeat the connector let through
                    self.new_ids.add(record.mdm_device_id)
                    new_rows.append(self._new_row(record))
                continue
            if known.id in self.seen:
                continue
            self.seen.add(known.id)
            change = self._compare(known, record)
            if change is None:
                self.summary.unchanged += 1
            else:
                changes.append(change)
        self._stage_new(new_rows, records)
        self._stage_changes(changes)

    def _storable(self, record: DeviceRecord) -> bool:
        """Fit the record to the database (one odd value never fails the run); False: skip the device."""
        keep, adjustments = storable.device(record)
        for adjustment in adjustments:
            self.adjusted += 1
            if len(self.adjustments) < ADJUSTMENT_DETAIL_LIMIT:
                self.adjustments.append(adjustment)
                log.warning("collection of %s: %s", self.name, adjustment)
        return keep

    def _adjustment_warnings(self) -> list[str]:
        shown = [str(a) for a in self.adjustments]
        if self.adjusted > len(shown):
            shown.append(f"and {self.adjusted - len(shown):,} more values adjusted to fit the database")
        return shown

    def _stored(self, records: list[DeviceRecord]) -> dict[str, _Known]:
        """The page's stored devices: the narrow columns plus the items the connector did not fetch."""
        extra = sorted({f for r in records for f in r.unfetched if f in COLLECTED_FIELDS})
        columns = (*_KNOWN_COLUMNS, *extra)
        ids = [r.mdm_device_id for r in records]
        found: dict[str, _Known] = {}
        p = self.db.param
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start:start + _CHUNK]
            # Plain SQL: this runs for every device of every page, and model conversion is 3x slower.
            sql = (f"SELECT {', '.join(columns)} FROM device WHERE linkage_id = {p} "
                   f"AND mdm_device_id IN ({', '.join([p] * len(chunk))})")
            for raw in self.db.execute_sql(sql, [self.linkage.id, *chunk]).fetchall():
                values = dict(zip(columns, raw))
                for name in extra:
                    values[name] = _python(name, values[name])
                found[values["mdm_device_id"]] = _Known(values["id"], values)
        return found

    def _values(self, record: DeviceRecord, stored: dict[str, Any] | None) -> dict[str, Any]:
        """The record's collected items; the ones it did not fetch keep the stored value (None if new)."""
        values = {f: getattr(record, f) for f in COLLECTED_FIELDS}
        for name in HARDWARE_IDS:  # records not built by mapping too: stored without separators
            values[name] = identifiers.hardware_id(values[name])
        for name in record.unfetched:
            if name in values:
                values[name] = stored.get(name) if stored is not None else None
        return values

    def _new_row(self, record: DeviceRecord) -> dict[str, Any]:
        row = self._values(record, None)
        row.update(_set_values(record), mdm_device_id=record.mdm_device_id, linkage_id=self.linkage.id,
                   linkage_name=self.linkage.name, change_marker=record.change_marker,
                   fingerprint=fingerprint(row, _software_hash(record.software)),
                   device_status=STATUS_UNKNOWN, managed=bool(self.linkage.auto_manage), first_seen_at=self.now,
                   last_collected_at=self.now, missing_since=None, duplicate_of=None, orphaned=False,
                   search_text=search_text(row))
        return row

    def _compare(self, known: _Known, record: DeviceRecord) -> _Change | None:
        """None when the stored row already says everything; else the row to write."""
        stored = known.values
        values = self._values(record, stored)
        software_hash = _software_hash(record.software) if record.software is not None \
            else _stored_software_hash(stored["fingerprint"])
        fp = fingerprint(values, software_hash)
        if (fp == stored["fingerprint"] and record.change_marker == stored["change_marker"]
                and stored["missing_since"] is None and _set_values_ok(stored, self.linkage.name)):
            return None
        values.update(_set_values(record), mdm_device_id=record.mdm_device_id, linkage_name=self.linkage.name,
                      change_marker=record.change_marker, fingerprint=fp, last_collected_at=self.now,
                      missing_since=None, orphaned=False, search_text=search_text(values))
        software = record.software if record.software is not None and \
            software_hash != _stored_software_hash(stored["fingerprint"]) else None
        return _Change(known, values, software)

    # --- staging ------------------------------------------------------------------------------------
    def _stage_new(self, rows: list[dict[str, Any]], records: list[DeviceRecord]) -> None:
        if not rows:
            return
        _insert(self.db, _NEW, ROW_COLUMNS, [[_db(r[c]) for c in ROW_COLUMNS] for r in rows])
        fresh = {r["mdm_device_id"] for r in rows}
        self._stage_software([(r.mdm_device_id, r.software) for r in records
                              if r.mdm_device_id in fresh and r.software is not None])

    def _stage_changes(self, changes: list[_Change]) -> None:
        if not changes:
            return
        old_rows = _full_rows([c.known.id for c in changes])
        wiped = _wipe_confirmations([c.known.id for c in changes if c.known.values["device_status"] == STATUS_WARNING])
        updates, history = [], []
        for change in changes:
            old = old_rows.get(change.known.id)
            if old is None:
                continue  # deleted by the admin meanwhile: nothing to update
            history += self._history(change.known.id, old, change.row)
            again = _reregistered(old, change.row, wiped.get(change.known.id))
            updates.append([change.known.id] + [_db(change.row[c]) for c in UPDATE_COLUMNS] + [int(again)])
            self._note_change(change, old, again)
        _insert(self.db, _UPD, ("id",) + UPDATE_COLUMNS + ("reregistered",), updates)
        _insert(self.db, _HIST, ("device_id", "field", "old_value", "new_value"), history)
        self._stage_software([(c.row["mdm_device_id"], c.software) for c in changes if c.software is not None])

    def _history(self, device_id: int, old: dict[str, Any], new: dict[str, Any]) -> list[list[Any]]:
        return [[device_id, name, _text(old.get(name)), _text(new.get(name))] for name in _DIFF_FIELDS
                if name not in HISTORY_SKIP and _differs(old.get(name), new.get(name))]

    def _note_change(self, change: _Change, old: dict[str, Any], reregistered: bool) -> None:
        """Count the change and keep the events it calls for."""
        label = _label(old)
        if change.known.values["missing_since"] is not None:
            self.summary.returned += 1
            self._event("returned", f"{label} is back in {self.name}", change.known.id)
        else:
            self.summary.changed += 1
        swapped = identity.sim_swap(old, change.row)
        if swapped:
            what = ", ".join(f"{f.replace('_', ' ')} {o} → {n}" for f, o, n in swapped)
            self._event("sim_swap", f"SIM swapped on {label} (IMEI {old.get('imei')}): {what}", change.known.id)
        if reregistered and old.get("device_status") == STATUS_WARNING:
            self.warning_cleared += 1

    def _stage_software(self, pairs: Iterable[tuple[str, list[SoftwareItem]]]) -> None:
        devices, items = [], []
        for mdm_id, found in pairs:
            devices.append([mdm_id])
            items += [[mdm_id, s.name, s.version, s.vendor] for s in found]
        _insert(self.db, _SWDEV, ("mdm_device_id",), devices)
        _insert(self.db, _SW, ("mdm_device_id", "name", "version", "vendor"), items)
        self.summary.software_items += len(items)

    def _event(self, kind: str, message: str, device_id: int | None) -> None:
        self.events.setdefault(kind, []).append((message, device_id))

    # --- the end of the stream ----------------------------------------------------------------------
    def absent(self) -> list[tuple[int, str]]:
        """(id, MDM id) of the linkage's present devices this run's listing did not show."""
        present = Device.select(Device.id, Device.mdm_device_id).where(Device.linkage == self.linkage.id,
                                                                       Device.missing_since.is_null())
        return [(i, mdm_id) for i, mdm_id in present.tuples().iterator() if i not in self.seen]

    def confirm_absent(self, gone: set[int], asked: int) -> None:
        """Record the re-check: the confirmed ones go missing, the others keep their row as it was."""
        self.gone = gone
        self.summary.rechecked = asked
        if asked > len(gone):
            self.warnings.append(f"{asked - len(gone):,} devices absent from the listing are still in the MDM "
                                 "(the list changed while it was read, or the MDM could not be asked); they keep "
                                 "their stored data and are read again at the next collection")

    def apply(self, warnings: list[str]) -> CollectionSummary:
        """Resolve identities, then write the whole run in one transaction."""
        self._resolve_reenrolments()
        self._flag_duplicates()
        gate = _SQLITE_APPLY_GATE if isinstance(self.db, SqliteDatabase) else _NullGate()
        with gate, _transaction(self.db):
            if not self.held.still_held():
                raise Busy(f"the collection lock of '{self.name}' was taken over by another process "
                           "(this run stalled too long); nothing was written")
            self._write_missing()
            self.summary.new = self._write_new()
            self._write_updates()
            self._write_history_and_software()
            self._emit_events()
            warnings = [*warnings, *self.warnings, *self._adjustment_warnings()]
            reason = ("warnings: " + "; ".join(warnings)) if warnings else None
            summary = self._record("succeeded", reason)
        self._end()
        return summary

    def _resolve_reenrolments(self) -> None:
        """New MDM ids that are stored devices of this linkage under an old id become updates."""
        picked = identity.pick_reenrolments(identity.reenrolment_candidates(self.db, _NEW, self.linkage.id),
                                            self.seen)
        if not picked:
            return
        old_rows = _full_rows([device_id for device_id, _ in picked.values()])
        for mdm_id, (device_id, key) in sorted(picked.items()):
            row = _stage_row(self.db, mdm_id)
            self.db.execute_sql(f"DELETE FROM {_NEW} WHERE mdm_device_id = {self.db.param}", (mdm_id,))
            old = old_rows[device_id]
            known = _Known(device_id, {"missing_since": None, "device_status": old["device_status"]})
            self.seen.add(device_id)
            self._stage_changes_reenrolled(known, old, row)
            self._event("reenrolled", f"{_label(old)} re-enrolled in {self.name}: same {identity.KEY_LABELS[key]} "
                                      f"{old.get(key)}, MDM id {old['mdm_device_id']} → {mdm_id}", device_id)

    def _stage_changes_reenrolled(self, known: _Known, old: dict[str, Any], row: dict[str, Any]) -> None:
        """Stage a re-enrolled device: a re-registration, so a wiped device's "Warning" ends."""
        history = self._history(known.id, old, row)
        values = [known.id] + [_db(row[c]) for c in UPDATE_COLUMNS] + [1]
        _insert(self.db, _UPD, ("id",) + UPDATE_COLUMNS + ("reregistered",), [values])
        _insert(self.db, _HIST, ("device_id", "field", "old_value", "new_value"), history)
        self.summary.changed += 1
        if old.get("missing_since") is not None:
            self.summary.changed -= 1
            self.summary.returned += 1

    def _flag_duplicates(self) -> None:
        """New devices that are also seen through another linkage get ``duplicate_of``; never merged."""
        found = identity.duplicates(self.db, _NEW, self.linkage.id)
        if not found:
            return
        rows = [[device_id, mdm_id] for mdm_id, (device_id, _) in found.items()]
        for device_id, mdm_id in rows:
            self.db.execute_sql(f"UPDATE {_NEW} SET duplicate_of = {self.db.param} "
                                f"WHERE mdm_device_id = {self.db.param}", (device_id, mdm_id))
        others = {d.id: d for d in Device.select(Device.id, Device.linkage_name, Device.computer_name,
                                                 Device.serial_number).where(Device.id.in_([r[0] for r in rows]))}
        for mdm_id, (device_id, key) in sorted(found.items()):
            other = others.get(device_id)
            where = f"device {device_id} of {other.linkage_name}" if other else f"device {device_id}"
            self._event("duplicate", f"device {mdm_id} of {self.name} has the {identity.KEY_LABELS[key]} of "
                                     f"{where}: the same hardware seen through two linkages", None)

    def _write_missing(self) -> None:
        """Devices the MDM confirmed gone are marked, never deleted."""
        gone = sorted(self.gone - self.seen)   # a re-enrolment found after the re-check is not gone
        for start in range(0, len(gone), _CHUNK):
            Device.update(missing_since=self.now).where(Device.id.in_(gone[start:start + _CHUNK])).execute()
        self.summary.missing = len(gone)
        if len(gone) <= EVENT_DETAIL_LIMIT:
            names = {d.id: _label(d.__data__) for d in Device.select(Device.id, Device.computer_name,
                                                                     Device.serial_number, Device.mdm_device_id)
                     .where(Device.id.in_(gone or [-1]))}
            for device_id in gone:
                self._event("missing", f"{names.get(device_id, device_id)} is missing from {self.name}", device_id)
        else:
            self._event("missing", f"{len(gone):,} devices are missing from {self.name}", None)

    def _write_new(self) -> int:
        columns = ", ".join(ROW_COLUMNS)
        cursor = self.db.execute_sql(f"INSERT INTO device ({columns}) SELECT {columns} FROM {_NEW}")
        count = cursor.rowcount if cursor.rowcount is not None and cursor.rowcount >= 0 else 0
        if 0 < count <= EVENT_DETAIL_LIMIT:
            query = Device.select(Device.id, Device.computer_name, Device.serial_number, Device.mdm_device_id).where(
                Device.linkage == self.linkage.id, Device.first_seen_at == self.now)
            for d in query:
                self._event("new_device", f"new device {_label(d.__data__)} in {self.name}", d.id)
        elif count:
            self._event("new_device", f"{count:,} new devices in {self.name}", None)
        return count

    def _write_updates(self) -> None:
        p = self.db.param
        sets = ", ".join(f"{c} = s.{c}" for c in UPDATE_COLUMNS)
        status = (f"device_status = CASE WHEN device.device_status = {p} AND s.reregistered = 0 "
                  f"THEN {p} ELSE {p} END")
        self.db.execute_sql(f"UPDATE device SET {sets}, {status} FROM {_UPD} s WHERE device.id = s.id",
                            (STATUS_WARNING, STATUS_WARNING, STATUS_UNKNOWN))

    def _write_history_and_software(self) -> None:
        p = self.db.param
        self.db.execute_sql(
            f"INSERT INTO device_history (device_id, run_id, at, field, old_value, new_value) "
            f"SELECT h.device_id, {p}, {p}, h.field, h.old_value, h.new_value FROM {_HIST} h "
            f"JOIN device d ON d.id = h.device_id", (self.row.id, _db(self.now)))
        # the fleet's software counts follow by the delta of the rows replaced (services/software.py)
        devices = (f"SELECT d.id FROM device d JOIN {_SWDEV} s ON d.mdm_device_id = s.mdm_device_id "
                   f"WHERE d.linkage_id = {p}")
        software.remove(self.db, devices, (self.linkage.id,), linkage=self.name)
        self.db.execute_sql(f"DELETE FROM software WHERE device_id IN ({devices})", (self.linkage.id,))
        self.db.execute_sql(
            f"INSERT INTO software (device_id, name, version, vendor) SELECT d.id, s.name, s.version, s.vendor "
            f"FROM {_SW} s JOIN device d ON d.mdm_device_id = s.mdm_device_id AND d.linkage_id = {p}",
            (self.linkage.id,))
        software.add(self.db, devices, (self.linkage.id,), linkage=self.name)
        software.settle(self.db)

    def _emit_events(self) -> None:
        for kind, items in self.events.items():
            if len(items) > EVENT_DETAIL_LIMIT:
                events.emit(kind, f"{len(items):,} × {events.KINDS[kind].lower()} in {self.name}",
                            linkage_name=self.name)
                continue
            for message, device_id in items:
                events.emit(kind, message, linkage_name=self.name, device_id=device_id)

    # --- endings ------------------------------------------------------------------------------------
    def finish(self, status: str, reason: str) -> CollectionSummary:
        """A run that ends without applying: the inventory stays as it was; record why."""
        if self.summary.status == "succeeded":  # applied before the cancel arrived: it stands
            return self.summary
        try:
            s = self.summary
            s.new = s.changed = s.unchanged = s.returned = s.missing = s.software_items = s.rechecked = 0
            with self.db.atomic():
                summary = self._record(status, reason)
                if status == "failed":
                    events.emit("collection_failed", f"collection of {self.name} failed: {reason}",
                                linkage_name=self.name)
        except Exception:  # noqa: BLE001 - the database itself may be what failed
            log.exception("could not record the end of the collection run %s of %s", self.row.id, self.name)
            self.summary.status, self.summary.reason, self.summary.finished_at = status, reason, utcnow()
            summary = self.summary
        self._end()
        return summary

    def _record(self, status: str, reason: str | None) -> CollectionSummary:
        s = self.summary
        s.status, s.reason, s.finished_at = status, reason, utcnow()
        CollectionRun.update(
            status=status, reason=reason, finished_at=s.finished_at, new=s.new, changed=s.changed,
            unchanged=s.unchanged, missing=s.missing, returned=s.returned, software_items=s.software_items,
            pages=s.pages, devices_seen=s.devices_seen, rechecked=s.rechecked, mdm_started_at=self._mdm_start(status),
            # a subquery of this write: a read first would start the transaction as a reader, and SQLite
            # refuses a reader's upgrade to writer once another collection wrote ("database is locked")
            inventory_total=Device.select(fn.COUNT(Device.id)).where(Device.linkage == self.linkage.id),
        ).where(
            CollectionRun.id == self.row.id).execute()
        kind = "changed-only " if self.kind == "changed" else ""
        audit.record(self.ctx, category="collection", action=f"{self.trigger} {kind}collection", outcome=status,
                     linkage_name=self.name, message=describe(s), options=_counts(s))
        return s

    def _mdm_start(self, status: str) -> datetime | None:
        """The MDM's clock at the start, kept only for a run that applied (the next changed-only bound)."""
        if status != "succeeded" or self.mdm_started_at is None:
            return None
        return datetime.fromtimestamp(self.mdm_started_at, UTC)

    def _end(self) -> None:
        """Drop the staging tables, stop the heartbeat, release the lock."""
        try:
            _drop_stage(self.db)
        except Exception:  # noqa: BLE001 - the connection closes right after, which drops them anyway
            log.debug("could not drop the staging tables", exc_info=True)
        if self.heartbeat is not None:
            self.heartbeat.stop()
        try:
            locks.release(self.held)
        except Exception:  # noqa: BLE001 - a stale lock is taken over after locks.STALE_AFTER
            log.exception("could not release the collection lock of %s", self.name)


def changed_since(linkage: Linkage) -> float | None:
    """Where a changed-only run starts: the MDM's clock at the last successful run's start, minus
    CHANGED_MARGIN (a device that checked in while that run listed, or a clock step, is still caught).
    Never this machine's clock: its skew to the MDM's would lose devices."""
    last = (CollectionRun.select(CollectionRun.mdm_started_at)
            .where(CollectionRun.linkage == linkage.id, CollectionRun.status == "succeeded",
                   CollectionRun.mdm_started_at.is_null(False))
            .order_by(CollectionRun.id.desc()).first())
    if last is None:
        return None
    return last.mdm_started_at.timestamp() - CHANGED_MARGIN.total_seconds()


def _close_abandoned_runs(ctx: Context, linkage: Linkage) -> None:
    """Runs left "running" by a process of this host that no longer runs (killed): recorded as failed.

    Called with the linkage's lock held, so no live run of it can be among them.
    """
    orphans = CollectionRun.select().where(CollectionRun.linkage == linkage.id, CollectionRun.status == "running",
                                           CollectionRun.host == ctx.host, CollectionRun.pid.is_null(False))
    for run in orphans:
        if locks.process_alive(run.pid):
            continue
        reason = (f"interrupted: process {run.pid} on {run.host} ended without finishing this run; "
                  "nothing of it was written")
        with ctx.db.atomic():
            CollectionRun.update(status="failed", reason=reason, finished_at=utcnow()).where(
                CollectionRun.id == run.id, CollectionRun.status == "running").execute()
            audit.record(ctx, category="collection", action=f"{run.trigger} collection", outcome="failed",
                         linkage_name=linkage.name, message=reason)
        log.warning("collection run %s of %s: %s", run.id, linkage.name, reason)


class _NullGate:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


# ------------------------------------------------------------------------------------------- helpers


def fingerprint(values: dict[str, Any], software_hash: str) -> str:
    """A hash of the collected items, then of the software: equal fingerprints mean nothing to write."""
    text = "\x1f".join(_canonical(values.get(f)) for f in COLLECTED_FIELDS)
    return "f" + hashlib.blake2b(text.encode(), digest_size=16).hexdigest() + "s" + software_hash


SEARCHED = search_index.SEARCHED  # the columns of search_text (the index reads the same when it is unset)


def search_text(values: dict[str, Any]) -> str | None:
    """What the device list's text filter searches, lower-cased in one column (see models.Device).

    A phone number is there as sent and in its E.164 and national forms without separators, so
    ``090-1234``, ``09012345678`` and ``+819012345678`` all find ``+81 90-1234-5678``.
    """
    parts = []
    for key in SEARCHED:
        value = values.get(key)
        if value is not None:
            parts += identifiers.phone_forms(value) if key == "phone_number" else [str(value)]
    return "\x1f".join(parts).lower() if parts else None


def _canonical(value: Any) -> str:
    if value is None:
        return "\x00"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return repr(value)


def _software_hash(software: list[SoftwareItem] | None) -> str:
    if software is None:
        return "-"
    text = "\x1e".join(sorted(f"{s.name}\x1f{s.version}\x1f{s.vendor}" for s in software))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _stored_software_hash(stored_fingerprint: str | None) -> str:
    if not stored_fingerprint or "s" not in stored_fingerprint[1:]:
        return "-"
    return stored_fingerprint[stored_fingerprint.index("s", 1) + 1:]


def _set_values(record: DeviceRecord) -> dict[str, Any]:
    """The items set (not collected) on every collected device."""
    return {"os_class": OsClass(record.os_class).value, "management_type": MANAGEMENT_TYPE,
            "management_status": MANAGEMENT_STATUS,
            "consumes_license": capabilities.consumes_license(record.os_class)}


def _set_values_ok(stored: dict[str, Any], linkage_name: str) -> bool:
    return (stored["management_type"] == MANAGEMENT_TYPE and stored["management_status"] == MANAGEMENT_STATUS
            and stored["device_status"] in (STATUS_UNKNOWN, STATUS_WARNING) and stored["linkage_name"] == linkage_name)


def _reregistered(old: dict[str, Any], new: dict[str, Any], wipe_confirmed_at: datetime | None) -> bool:
    """A wiped device re-registered: the MDM shows a contact after the wipe was confirmed."""
    contact = new.get("last_alive_at")
    if contact is None:
        return False
    since = wipe_confirmed_at or old.get("last_alive_at")
    return since is None or contact > since


def _wipe_confirmations(device_ids: list[int]) -> dict[int, datetime]:
    """Device id -> when its latest successful wipe was confirmed."""
    found: dict[int, datetime] = {}
    for start in range(0, len(device_ids), _CHUNK):
        query = DeviceAction.select(DeviceAction.device, DeviceAction.updated_at).where(
            DeviceAction.device.in_(device_ids[start:start + _CHUNK]), DeviceAction.action == "wipe",
            DeviceAction.outcome == "succeeded")
        for device_id, at in query.tuples():
            if device_id not in found or at > found[device_id]:
                found[device_id] = at
    return found


def _full_rows(device_ids: list[int]) -> dict[int, dict[str, Any]]:
    rows: dict[int, dict[str, Any]] = {}
    for start in range(0, len(device_ids), _CHUNK):
        for row in Device.select().where(Device.id.in_(device_ids[start:start + _CHUNK])).dicts():
            rows[row["id"]] = row
    return rows


def _stage_row(db, mdm_id: str) -> dict[str, Any]:
    cursor = db.execute_sql(f"SELECT {', '.join(ROW_COLUMNS)} FROM {_NEW} WHERE mdm_device_id = {db.param}",
                            (mdm_id,))
    values = cursor.fetchone()
    return {c: _python(c, v) for c, v in zip(ROW_COLUMNS, values)}


def _python(column: str, value: Any) -> Any:
    """A raw database value back as the model gives it (SQLite returns dates as text)."""
    return Device._meta.columns[column].python_value(value) if value is not None else None


def _db(value: Any) -> Any:
    """A value as the models store it: datetimes naive UTC."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _differs(old: Any, new: Any) -> bool:
    if isinstance(old, datetime) and isinstance(new, datetime):
        return old.astimezone(UTC) != new.astimezone(UTC)
    return old != new


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return str(value)


def _label(row: dict[str, Any]) -> str:
    name = row.get("computer_name") or row.get("serial_number") or row.get("mdm_device_id") or f"id {row.get('id')}"
    return f"'{name}'"


def _counts(s: CollectionSummary) -> dict[str, Any]:
    return {"new": s.new, "changed": s.changed, "unchanged": s.unchanged, "missing": s.missing,
            "returned": s.returned, "software_items": s.software_items, "pages": s.pages,
            "devices_seen": s.devices_seen, "rechecked": s.rechecked, "duration_s": round(s.duration_s or 0.0, 3)}


def _rechecked(s: CollectionSummary) -> str:
    """The re-check part of the summary line, e.g. " (12 absent re-checked: 10 confirmed gone)"."""
    if not s.rechecked:
        return ""
    return f" ({s.rechecked:,} absent re-checked: {s.missing:,} confirmed gone)"


def describe(s: CollectionSummary) -> str:
    """One line: what a run did (or why it did not)."""
    if s.status != "succeeded":
        return f"{s.status}: {s.reason}" if s.reason else s.status
    took = f" in {s.duration_s:.1f} s" if s.duration_s is not None else ""
    line = (f"{s.devices_seen:,} devices{took}: {s.new:,} new, {s.changed:,} changed, {s.unchanged:,} unchanged, "
            f"{s.missing:,} missing{_rechecked(s)}, {s.returned:,} returned; {s.software_items:,} software items "
            "written")
    return f"{line} ({s.reason})" if s.reason else line  # warnings of a run that still succeeded


# ---------------------------------------------------------------------------------- staging storage


def _create_stage(db) -> None:
    """The run's temporary tables (private to this connection; gone when it closes)."""
    _drop_stage(db)
    columns = ", ".join(ROW_COLUMNS)
    db.execute_sql(f"CREATE TEMPORARY TABLE {_NEW} AS SELECT {columns} FROM device WHERE 1 = 0")
    db.execute_sql(f"CREATE INDEX {_NEW}_mdm ON {_NEW} (mdm_device_id)")
    db.execute_sql(f"CREATE TEMPORARY TABLE {_UPD} AS SELECT id, {', '.join(UPDATE_COLUMNS)}, "
                   f"CAST(NULL AS INTEGER) AS reregistered FROM device WHERE 1 = 0")
    db.execute_sql(f"CREATE TEMPORARY TABLE {_HIST} (device_id INTEGER, field VARCHAR(255), old_value TEXT, "
                   "new_value TEXT)")
    db.execute_sql(f"CREATE TEMPORARY TABLE {_SW} (mdm_device_id TEXT, name TEXT, version TEXT, vendor TEXT)")
    db.execute_sql(f"CREATE TEMPORARY TABLE {_SWDEV} (mdm_device_id TEXT)")


def _drop_stage(db) -> None:
    for table in (_NEW, _UPD, _HIST, _SW, _SWDEV):
        db.execute_sql(f"DROP TABLE IF EXISTS {table}")


def _insert(db, table: str, columns: Sequence[str], rows: list[Sequence[Any]]) -> None:
    """Many rows at once: executemany on SQLite, multi-row VALUES on PostgreSQL (one round trip per 1000)."""
    if not rows:
        return
    names = ", ".join(columns)
    if isinstance(db, PostgresqlDatabase):
        from psycopg2.extras import execute_values

        execute_values(db.cursor(), f"INSERT INTO {table} ({names}) VALUES %s", rows, page_size=1000)
        return
    marks = ", ".join("?" * len(columns))
    db.cursor().executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)


def _transaction(db):
    """SQLite: take the write lock at BEGIN (no deadlock on upgrade); PostgreSQL: a plain transaction."""
    if isinstance(db, SqliteDatabase):
        return db.atomic("IMMEDIATE")
    return db.atomic()
