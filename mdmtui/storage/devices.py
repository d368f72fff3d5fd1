"""The device table in storage: a ``DeviceFilter`` turned into SQL conditions and an order, the paged and
counted queries of the device list, one device with its software, history and asset information, license
counts, and the one cascade delete of devices. Everything leaves as typed records, never ORM rows.

Everything filters, sorts and pages in SQL, so a 100,000-device inventory answers a keystroke in a few
tens of milliseconds; a page builds one ``DeviceRow`` per row it shows and nothing per device counted.
Functions run on the caller's thread and connection (the models' database).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any, cast

from peewee import JOIN, SQL, BooleanField, Case, Database, DateTimeField, NodeList, PostgresqlDatabase, Table, fn

from mdmtui import filterlang, identifiers
from mdmtui.clock import utcnow
from mdmtui.errors import UsageError
from mdmtui.records import OsClass
from mdmtui.storage import search_index
from mdmtui.storage import software as stored_software
from mdmtui.storage.models import AssetInfo, Device, DeviceAction, DeviceHistory, Linkage, Software

# Columns the device list shows (and ``DeviceRow`` carries); also the allowed sort keys.
LIST_COLUMNS = (
    "id", "computer_name", "os_class", "os_name", "os_version", "model", "manufacturer", "serial_number", "imei",
    "udid", "phone_number", "carrier", "user_name", "device_type", "device_status", "last_alive_at", "linkage_name",
    "missing_since", "passcode_set", "jailbroken", "encrypted", "mdm_managed", "mdm_status", "linkage_id",
    "mdm_device_id",
    "duplicate_of", "managed", "orphaned",
)
PAGE_COLUMNS = ("compliance", "iccid")  # also on a page (the console's optional columns), not in the CLI's list
PAGE_ASSET_COLUMNS = ("asset_number", "assigned_user")  # from the asset information, one subquery per page row
SORT_KEYS = frozenset(LIST_COLUMNS + PAGE_COLUMNS + PAGE_ASSET_COLUMNS) | {"security"}
NOT_FINAL = ("pending", "unknown")  # action outcomes the MDM has not settled yet
ACTION_STATES = {"pending": NOT_FINAL, "failed": ("failed",)}
ASSET_FIELDS = ("asset_number", "department", "location", "assigned_user", "notes")
NOT_COLLECTED = ""  # as DeviceFilter.os_name/os_version: the item was not collected (NULL)
# Security problems with the weight that orders them when sorting by security (worst first).
SECURITY_WEIGHTS = {"unmanaged": 16, "jailbroken": 8, "passcode": 4, "unencrypted": 2, "stale": 1}
CHUNK = 500  # ids per statement: IN lists stay under SQLite's old 999-variable limit


@dataclass
class DeviceFilter:
    """What the device list shows: a text search, quick filters and the order."""

    text: str | None = None  # matches name, serial, IMEI, UDID, phone number (any form) or user (part, any case)
    linkage: str | None = None
    os_class: str | None = None
    device_status: str | None = None
    missing: bool | None = None  # True: only devices missing from their MDM; False: only present ones
    security_problem: bool | str | None = None  # True: any; or one of SECURITY_WEIGHTS' keys
    sort: str = "computer_name"
    descending: bool = False
    stale_days: int = 30
    device_id: int | None = None  # exactly this device (the console opens an event's device by its id)
    # the overview's drill-downs (each of its counts is one of these)
    os_name: str | None = None  # exactly this OS name; NOT_COLLECTED: the devices whose OS is not collected
    os_version: str | None = None  # exactly this version; NOT_COLLECTED likewise
    duplicates: bool | None = None  # True: the devices whose hardware is also seen through another linkage
    seen_after: datetime | None = None  # last alive confirmation at or after this instant
    seen_before: datetime | None = None  # ... before this instant
    seen_unknown: bool | None = None  # True: no last alive confirmation collected
    licensed: bool | None = None  # True: managed and using a license
    action: str | None = None  # "pending": an action not yet final; "failed": an action that failed
    action_since: datetime | None = None  # with ``action``: requested at or after this instant
    # the Software screen's
    software_title: str | None = None  # devices with software of exactly this name (the Software screen)
    software_version: str | None = None  # ... in this version ("" = version not collected); needs the title
    without_software: bool = False  # the inverse: devices WITHOUT that title (or version), e.g. a required app
    terms: tuple[filterlang.Term, ...] = ()  # the filter language's terms (filterlang.parse), all ANDed


# ------------------------------------------------------------------------------------------- records


@dataclass(slots=True)
class StoredDevice:
    """One device as stored: every column of the device table (``None``: not collected)."""

    id: int
    linkage_id: int | None
    linkage_name: str | None
    mdm_device_id: str
    os_class: str
    device_type: str | None
    computer_name: str | None
    host_name: str | None
    manufacturer: str | None
    model: str | None
    serial_number: str | None
    bios_serial_number: str | None
    os_name: str | None
    os_version: str | None
    network_adapter_name: str | None
    mac_address: str | None
    wifi_mac: str | None
    ethernet_mac: str | None
    imei: str | None
    udid: str | None
    imsi: str | None
    iccid: str | None
    phone_number: str | None
    email: str | None
    carrier: str | None
    passcode_set: bool | None
    ram_total_bytes: int | None
    ram_free_bytes: int | None
    storage_total_bytes: int | None
    storage_free_bytes: int | None
    sd_total_bytes: int | None
    sd_free_bytes: int | None
    user_name: str | None
    jailbroken: bool | None
    encrypted: bool | None
    compliance: str | None
    mdm_managed: bool | None
    mdm_status: str | None
    last_alive_at: datetime | None
    management_type: str | None
    management_status: str | None
    device_status: str | None
    consumes_license: bool
    managed: bool
    change_marker: str | None
    fingerprint: str | None
    first_seen_at: datetime | None
    last_collected_at: datetime | None
    missing_since: datetime | None
    duplicate_of: int | None
    orphaned: bool
    search_text: str | None


@dataclass(slots=True)
class DeviceRow:
    """One row of the device list: ``LIST_COLUMNS``, ``PAGE_COLUMNS``, ``PAGE_ASSET_COLUMNS``, action_pending."""

    id: int
    computer_name: str | None
    os_class: str
    os_name: str | None
    os_version: str | None
    model: str | None
    manufacturer: str | None
    serial_number: str | None
    imei: str | None
    udid: str | None
    phone_number: str | None
    carrier: str | None
    user_name: str | None
    device_type: str | None
    device_status: str | None
    last_alive_at: datetime | None
    linkage_name: str | None
    missing_since: datetime | None
    passcode_set: bool | None
    jailbroken: bool | None
    encrypted: bool | None
    mdm_managed: bool | None
    mdm_status: str | None
    linkage_id: int | None
    mdm_device_id: str
    duplicate_of: int | None
    managed: bool
    orphaned: bool
    compliance: str | None
    iccid: str | None
    asset_number: str | None
    assigned_user: str | None
    action_pending: bool


@dataclass(slots=True)
class AssetRecord:
    """The asset information an admin keeps for a device (kept across collections)."""

    asset_number: str | None
    department: str | None
    location: str | None
    assigned_user: str | None
    notes: str | None
    updated_at: datetime | None = None


@dataclass(slots=True)
class SoftwareRow:
    """One software item installed on a device."""

    id: int
    device_id: int
    name: str
    version: str | None
    vendor: str | None


@dataclass(slots=True)
class HistoryRow:
    """One field change a collection recorded for a device."""

    id: int
    device_id: int
    run_id: int | None
    at: datetime
    field: str
    old_value: str | None
    new_value: str | None


@dataclass(slots=True)
class LicenseCount:
    """License use of the managed devices carrying one linkage name."""

    linkage_name: str | None
    system: str | None  # None: the linkage was removed
    managed: int
    licenses: int
    missing: int


STORED_COLUMNS = tuple(f.name for f in fields(StoredDevice))
ROW_DEVICE_COLUMNS = LIST_COLUMNS + PAGE_COLUMNS
_ASSET_COLUMNS = (*ASSET_FIELDS, "updated_at")
assert tuple(f.name for f in fields(DeviceRow)) == (*ROW_DEVICE_COLUMNS, *PAGE_ASSET_COLUMNS, "action_pending")


def tuples(query: Any) -> list[tuple[Any, ...]]:
    """A query's rows as plain tuples, values converted by their fields (no model instance per row)."""
    return cast(list[tuple[Any, ...]], list(query.tuples()))


def _stored_columns() -> list[Any]:
    return [Device._meta.columns[c] for c in STORED_COLUMNS]


def transaction(db: Database) -> AbstractContextManager[Any]:
    """One transaction (a savepoint inside another) on ``db``: the caller's writes and audit records together."""
    return cast(AbstractContextManager[Any], db.atomic())


# ------------------------------------------------------------------------------------------- listing


def count(f: DeviceFilter) -> int:
    """How many devices match (a COUNT in SQL)."""
    return int(_filtered(Device.select(fn.COUNT(Device.id)), f).scalar() or 0)


def page(f: DeviceFilter, offset: int = 0, limit: int = 100) -> list[DeviceRow]:
    """One page of matching devices in the filter's order."""
    if limit <= 0:
        return []
    keyed = _keyed_route(f)
    if keyed is not None:
        found = _keyed_page(f, keyed, offset=max(offset, 0), limit=limit)
    else:
        found = _page_rows(_ordered(_filtered(Device.select(*_page_columns()), f), f).offset(max(offset, 0))
                           .limit(limit))
    return [DeviceRow(*row) for row in found]


@functools.cache
def _page_columns() -> list[Any]:
    """A page's columns, in ``DeviceRow``'s order (SQL nodes: one list serves every page)."""
    columns = [Device._meta.columns[c] for c in ROW_DEVICE_COLUMNS]
    columns += [_asset_value(name).alias(name) for name in PAGE_ASSET_COLUMNS]
    columns.append(_action_pending().alias("action_pending"))
    return columns


def _present(value: Any) -> Any:
    return value if value is None else bool(value)


@functools.cache
def _page_converters() -> list[tuple[int, Callable[[Any], Any]]]:
    """(column index, what makes the driver's value the field's) of the page columns that need it: times
    and booleans; texts and integers come as they are. Peewee's own rows call a converter for every cell, a
    third of a keystroke's page query in Python."""
    converters: list[tuple[int, Callable[[Any], Any]]] = []
    for i, column in enumerate(_page_columns()[:len(ROW_DEVICE_COLUMNS)]):
        if isinstance(column, DateTimeField):
            converters.append((i, column.python_value))
        elif isinstance(column, BooleanField):
            converters.append((i, _present))
    return [*converters, (len(_page_columns()) - 1, bool)]  # action_pending: EXISTS gives 0/1


def _page_rows(query: Any) -> list[list[Any]]:
    """A page query's rows, values as the fields' (``query``: a query, or its SQL and parameters made
    already, ``_streamed``)."""
    db = Device._meta.database
    cursor = db.execute_sql(*query) if isinstance(query, tuple) else db.execute(query)
    converting = _page_converters()
    rows = []
    for raw in cursor.fetchall():
        row = list(raw)
        for i, convert in converting:
            row[i] = convert(row[i])
        rows.append(row)
    return rows


def _keyed_route(f: DeviceFilter) -> tuple[DeviceFilter, str, str, list[list[str]]] | None:
    """(the rest of the filter, FTS table, MATCH expression, the driving terms' needles) when the page
    can stream the matches of its text terms from an FTS table in name order (SQLite, the default order,
    every device keyed); else None (the page filters with IN and sorts)."""
    key = f.sort if f.sort in SORT_KEYS else "computer_name"
    if key != "computer_name" or search_index.postgres():
        return None
    texts: list[tuple[filterlang.Term | None, str]] = [(None, f.text.strip())] if f.text and f.text.strip() else []
    texts += [(t, t.value) for t in f.terms if t.spec is None and not t.negated and t.value]
    if not texts or search_index.unkeyed():
        return None
    needles = [(term, [n.lower() for n in identifiers.search_needles(text)]) for term, text in texts]
    matches = [(term, found, search_index.match(found)) for term, found in needles]
    table = search_index.FTS_TABLE if any(m[0] == search_index.FTS_TABLE for _, _, m in matches) else matches[0][2][0]
    driven = [(term, found, expression) for term, found, (t, expression) in matches if t == table]
    rest = replace(f, terms=tuple(t for t in f.terms if not any(t is term for term, _, _ in driven)))
    if any(term is None for term, _, _ in driven):
        rest.text = None
    return rest, table, " AND ".join(f"({e})" for _, _, e in driven), [found for _, found, _ in driven]


def _keyed_page(f: DeviceFilter, route: tuple[DeviceFilter, str, str, list[list[str]]], *,
                offset: int, limit: int) -> list[list[Any]]:
    """The page through the keyed FTS join: matches come in key order (the default order) and the query
    stops after ``offset + limit`` of them, however many rows match.

    Rows still in the queue (not yet in the FTS tables) are matched by a scan of the queue; descending,
    unnamed devices still come last (as ``_ordered`` puts them). Either way the candidates (at most
    ``offset + limit`` from each part) are put in order by their keys.
    """
    rest, table, expression, needles = route
    columns = _page_columns()
    fts = Table(table).alias(table)
    key = search_index.key_column()
    wanted = offset + limit

    def joined(select: Any, matching: str = expression) -> Any:
        return _filtered(select.join(fts, on=(key == fts.c.rowid)).where(SQL(f"{table} MATCH ?", [matching])),
                         rest)

    order = fts.c.rowid.desc() if f.descending else fts.c.rowid
    queued = search_index.queued()
    first_unnamed = (Device.select(fn.MIN(key)).where(Device.computer_name.is_null()).scalar()
                     if f.descending else None)
    if not queued and first_unnamed is None:  # the plain stream: one query, stopping early
        statement = _streamed(rest, table, f.descending, joined, order, expression, offset, limit)
        if statement is not None:
            return _page_rows(statement)
        return _page_rows(joined(Device.select(*columns)).order_by(order).offset(offset).limit(wanted - offset))
    parts = [joined(Device.select(fts.c.rowid)).order_by(order).limit(wanted)]
    if first_unnamed is not None:  # named rows (keys below the first unnamed one) first, then unnamed ones
        parts = [joined(Device.select(fts.c.rowid)).where(fts.c.rowid < first_unnamed).order_by(order).limit(wanted),
                 joined(Device.select(fts.c.rowid)).where(fts.c.rowid >= first_unnamed).order_by(order).limit(wanted)]
    if queued:
        waiting = _filtered(Device.select(key).where(Device.id.in_(search_index.queue_ids()) & key.is_null(False)),
                            rest)
        for found in needles:
            waiting = waiting.where(_any_like(found))
        parts.append(waiting)
    candidates = parts[0]
    for part in parts[1:]:
        candidates = candidates.union_all(part)
    by_key = NodeList((SQL("+"), key), glue="")  # sort the few candidates; no walk of the key index
    ordered = (Device.select(*columns).where(key.in_(Device.select(SQL("*")).from_(candidates.alias("c"))))
               .order_by(NodeList((Device.computer_name, SQL("IS NULL"))), by_key.desc() if f.descending else by_key))
    return _page_rows(ordered.offset(offset).limit(limit))


_EXPRESSION, _LIMIT, _OFFSET = "\x00expression", 987_654_321, 123_456_789  # stand-ins, found in the parameters
_STREAMED: dict[tuple[str, bool, tuple[filterlang.Term, ...]], tuple[str, list[Any], int, int, int]] = {}
_TIMED_KINDS = {"age", "security"}  # terms whose SQL holds the current time


def _streamed(rest: DeviceFilter, table: str, descending: bool, joined: Callable[..., Any], order: Any,
              expression: str, offset: int, limit: int) -> tuple[str, list[Any]] | None:
    """The plain stream's SQL and parameters, made once per FTS table, direction and other field terms
    (``os:iOS``): a keystroke changes only the MATCH expression, the limit and the offset (making the SQL
    anew took a third of the page's query, in Python). None when the rest of the filter is more than such
    terms, or a term holds the time (``stale:>30d``): the caller makes the statement."""
    plain = DeviceFilter(sort=rest.sort, descending=rest.descending, stale_days=rest.stale_days)
    if replace(rest, terms=()) != plain or any(t.spec is None or t.spec.kind in _TIMED_KINDS for t in rest.terms):
        return None
    key = (table, descending, rest.terms)
    made = _STREAMED.get(key)
    if made is None:
        query = joined(Device.select(*_page_columns()), _EXPRESSION).order_by(order).offset(_OFFSET).limit(_LIMIT)
        text, params = query.sql()
        places = [[i for i, p in enumerate(params) if p == stand_in] for stand_in in (_EXPRESSION, _LIMIT, _OFFSET)]
        if any(len(found) != 1 for found in places):  # a term's value is a stand-in's: not made once
            return None
        if len(_STREAMED) >= 256:
            _STREAMED.clear()
        made = _STREAMED[key] = (text, params, places[0][0], places[1][0], places[2][0])
    text, template, at_expression, at_limit, at_offset = made
    params = list(template)
    params[at_expression], params[at_limit], params[at_offset] = expression, limit, offset
    return text, params


def ids(f: DeviceFilter) -> list[int]:
    """Every matching device id, in the filter's order."""
    return [int(i) for (i,) in tuples(_ordered(_filtered(Device.select(Device.id), f), f))]


def iter_devices(f: DeviceFilter, chunk: int = 1000) -> Iterator[tuple[StoredDevice, AssetRecord | None]]:
    """Every matching device with its asset information, in the filter's order, streamed.

    Only the ordered ids are held (a few MB at 100,000 devices); rows come in chunks by id.
    """
    wanted = ids(f)
    asset_columns = [AssetInfo._meta.primary_key, *(getattr(AssetInfo, c) for c in _ASSET_COLUMNS)]
    width = len(STORED_COLUMNS)
    for start in range(0, len(wanted), chunk):
        part = wanted[start:start + chunk]
        query = (Device.select(*_stored_columns(), *asset_columns)
                 .join(AssetInfo, JOIN.LEFT_OUTER, on=(AssetInfo.device == Device.id))
                 .where(Device.id.in_(part)))
        rows: dict[int, tuple[StoredDevice, AssetRecord | None]] = {}
        for row in tuples(query):
            asset = AssetRecord(*row[width + 1:]) if row[width] is not None else None
            rows[row[0]] = (StoredDevice(*row[:width]), asset)
        for device_id in part:
            found = rows.get(device_id)
            if found is not None:  # deleted meanwhile
                yield found


def get_device(device_id: int) -> StoredDevice | None:
    """The device with this id, or None."""
    found = tuples(Device.select(*_stored_columns()).where(Device.id == device_id).limit(1))
    return StoredDevice(*found[0]) if found else None


def by_ids(device_ids: Sequence[int]) -> list[StoredDevice]:
    """The devices with these ids that still exist, by id."""
    wanted = sorted(set(int(i) for i in device_ids))
    found: list[StoredDevice] = []
    for start in range(0, len(wanted), CHUNK):
        found += devices_where(Device.id.in_(wanted[start:start + CHUNK]), order=(Device.id,))
    return found


def devices_where(condition: Any, *, order: Sequence[Any] = (), limit: int | None = None) -> list[StoredDevice]:
    """The devices matching an SQL condition of this module or ``storage.lookup``, optionally ordered and bounded."""
    query = Device.select(*_stored_columns()).where(condition)
    if order:
        query = query.order_by(*order)
    if limit is not None:
        query = query.limit(limit)
    return [StoredDevice(*row) for row in tuples(query)]


def count_where(condition: Any) -> int:
    """How many devices match an SQL condition."""
    return int(Device.select(fn.COUNT(Device.id)).where(condition).scalar() or 0)


def pending_action_count() -> int:
    """How many actions across the fleet are not yet final."""
    return int(DeviceAction.select().where(DeviceAction.outcome.in_(NOT_FINAL)).count())


def _action_pending() -> Any:
    """Whether the device has an action not yet final: a correlated EXISTS on device_action's device_id
    index (only the page's rows evaluate it)."""
    return fn.EXISTS(DeviceAction.select(SQL("1")).where(
        (DeviceAction.device == Device.id) & DeviceAction.outcome.in_(NOT_FINAL)))


def _asset_value(name: str) -> Any:
    """One asset information field of the device: a correlated subquery on asset_info's unique device_id
    (only the page's rows evaluate it; no join that every count and id list would pay)."""
    return AssetInfo.select(getattr(AssetInfo, name)).where(AssetInfo.device == Device.id)


# ---------------------------------------------------------------------------------- filter -> SQL


def _filtered(query: Any, f: DeviceFilter) -> Any:
    for cond in conditions(f):
        query = query.where(cond)
    return query


def conditions(f: DeviceFilter) -> Iterator[Any]:
    """The SQL conditions (ANDed) of everything ``f`` selects."""
    if f.device_id is not None:
        yield Device.id == f.device_id
    if f.text and f.text.strip():
        yield text_condition(f.text.strip())
    if f.linkage:
        yield Device.linkage_name == f.linkage
    if f.os_class:
        yield Device.os_class == os_class(f.os_class)
    if f.device_status:
        yield fn.LOWER(Device.device_status) == f.device_status.lower()
    if f.missing is not None:
        yield Device.missing_since.is_null(not f.missing)
    if f.security_problem:
        yield security_condition(f.security_problem, f.stale_days)
    yield from _drill_down_conditions(f)
    if f.software_title is not None:
        yield _software_condition(f)
    for term in f.terms:
        yield _term_condition(term, f.stale_days)


def _drill_down_conditions(f: DeviceFilter) -> Iterator[Any]:
    """The SQL conditions of the overview's drill-down fields that are set."""
    for column, value in ((Device.os_name, f.os_name), (Device.os_version, f.os_version)):
        if value is not None:
            yield column.is_null() if value == NOT_COLLECTED else (column == value)
    if f.duplicates is not None:
        cond = duplicate_condition()
        yield cond if f.duplicates else ~cond
    if f.seen_after is not None:
        yield Device.last_alive_at >= f.seen_after
    if f.seen_before is not None:
        yield Device.last_alive_at < f.seen_before
    if f.seen_unknown is not None:
        yield Device.last_alive_at.is_null(bool(f.seen_unknown))
    if f.licensed is not None:
        licensed = licensed_condition()
        yield licensed if f.licensed else ~licensed
    if f.action is not None:
        yield fn.EXISTS(_actions_of_device(f.action, f.action_since))


def licensed_condition() -> Any:
    """Managed and using a license."""
    return (Device.managed == True) & (Device.consumes_license == True)  # noqa: E712 - SQL, not Python


def duplicate_condition() -> Any:
    """The device's hardware is also seen through another linkage: it points at the other device, or
    another device points at it (``duplicate_of`` is set on the second sighting only)."""
    pointed = Device.alias("pointing")
    return Device.duplicate_of.is_null(False) | Device.id.in_(
        pointed.select(pointed.duplicate_of).where(pointed.duplicate_of.is_null(False)))


def _actions_of_device(state: str, since: datetime | None) -> Any:
    if state not in ACTION_STATES:
        raise UsageError(f"unknown action state '{state}': choose from {', '.join(ACTION_STATES)}")
    query = DeviceAction.select(SQL("1")).where(
        (DeviceAction.device == Device.id) & DeviceAction.outcome.in_(ACTION_STATES[state]))
    return query.where(DeviceAction.requested_at >= since) if since is not None else query


def _software_condition(f: DeviceFilter) -> Any:
    """IN / NOT IN the devices of one title (or version): one range of the software(name, version, device)
    index, read once per query rather than once per device."""
    having = Software.select(Software.device).where(Software.name == f.software_title)
    if f.software_version is not None:
        having = having.where(Software.version.is_null() if f.software_version == ""
                              else Software.version == f.software_version)
    return Device.id.not_in(having) if f.without_software else Device.id.in_(having)


def _term_condition(term: filterlang.Term, stale_days: int) -> Any:
    """One term of the filter language in SQL; a negated term also takes the rows where it is unknown
    (``!carrier:docomo`` keeps the devices without a carrier)."""
    spec = term.spec
    cond = text_condition(term.value) if spec is None else _FIELD_CONDITIONS[spec.kind](term, stale_days)
    return Case(None, [(cond, 1)], 0) == 0 if term.negated else cond


_TEXT_COLUMNS = {"model": Device.model, "carrier": Device.carrier, "linkage": Device.linkage_name,
                 "user": Device.user_name, "serial": Device.serial_number}


def _part_of(column: Any, value: str) -> Any:
    """``value`` as a part of ``column``, any case, % and _ literally."""
    return NodeList((fn.LOWER(column), SQL("LIKE"), _pattern(value), SQL("ESCAPE '\\'")))


def _text_field(term: filterlang.Term, _stale_days: int) -> Any:
    name, value = term.field, term.value
    if name in _TEXT_COLUMNS:
        column = _TEXT_COLUMNS[name]
        return fn.LOWER(column) == value.lower() if term.op == "=" else _part_of(column, value)
    if name == "imei":
        return _part_of(Device.imei, identifiers.strip_separators(value) or value)
    if name == "phone":  # the phone's forms are in search_text (E.164, national, as sent)
        return _phone_condition(value)
    if name == "software":
        return fn.EXISTS(Software.select(SQL("1")).where(
            (Software.device == Device.id) & _exact_or_part(Software.name, term)))
    column = AssetInfo.asset_number if name == "asset" else AssetInfo.department
    return fn.EXISTS(AssetInfo.select(SQL("1")).where(
        (AssetInfo.device == Device.id) & _exact_or_part(column, term)))


def _exact_or_part(column: Any, term: filterlang.Term) -> Any:
    return fn.LOWER(column) == term.value.lower() if term.op == "=" else _part_of(column, term.value)


def _phone_condition(value: str) -> Any:
    """Digits of the stored number (separators and + dropped) containing the typed digits, or, for a
    national form (0…), the same number with the country code: ``07093079041`` finds ``+81 70-9307-9041``."""
    digits = "".join(c for c in value if c.isdigit())
    if not digits:
        return _part_of(Device.phone_number, value)
    stored: Any = Device.phone_number
    for sep in ("+", "-", " ", "(", ")", ".", "/"):
        stored = fn.REPLACE(stored, sep, "")
    needles = [digits]
    if digits.startswith(identifiers.TRUNK_PREFIX) and not digits.startswith(identifiers.TRUNK_PREFIX * 2):
        needles.append(identifiers.COUNTRY_CODE + digits[len(identifiers.TRUNK_PREFIX):])
    cond: Any = None
    for needle in needles:
        one = NodeList((stored, SQL("LIKE"), _pattern(needle), SQL("ESCAPE '\\'")))
        cond = one if cond is None else (cond | one)
    return cond


def _pattern(value: str) -> str:
    return "%" + value.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _os_field(term: filterlang.Term, _stale_days: int) -> Any:
    if term.value in filterlang.OS_CLASSES:
        return Device.os_class == term.value
    return _part_of(Device.os_name, term.value)


def _exact_field(term: filterlang.Term, _stale_days: int) -> Any:
    return fn.LOWER(Device.device_status) == term.value.lower()


def _security_field(term: filterlang.Term, stale_days: int) -> Any:
    return security_condition(True if term.value == "any" else term.value, stale_days)


def _age_field(term: filterlang.Term, _stale_days: int) -> Any:
    since = utcnow() - timedelta(hours=term.hours())
    return Device.last_alive_at < since if term.op == ">" else Device.last_alive_at >= since


def _yesno_field(term: filterlang.Term, _stale_days: int) -> Any:
    if term.field == "missing":
        return Device.missing_since.is_null(not term.flag())
    pending = _action_pending()
    return pending if term.flag() else ~pending


def _id_field(term: filterlang.Term, _stale_days: int) -> Any:
    return Device.id == int(term.value)


def _version_field(term: filterlang.Term, _stale_days: int) -> Any:
    """The OS version against ``term``'s, number by number (17.10 > 17.9; a missing part counts as 0); a
    version that does not start with a digit matches no comparison."""
    wanted = term.version()
    wanted += (0,) * (_VERSION_PARTS - len(wanted))  # 10.0.22631.3007 > 10.0.22631
    parts = [_version_part(k) for k in range(_VERSION_PARTS)]
    starts_with_digit = (NodeList((Device.os_version, SQL("~"), "^[0-9]")) if _postgres()
                         else NodeList((Device.os_version, SQL("GLOB"), "[0-9]*")))
    if not term.op:  # 17: 17 itself and every 17.x
        prefix = term.value
        return (Device.os_version == prefix) | Device.os_version.startswith(prefix + ".")
    return starts_with_digit & _compare(parts, list(wanted), term.op)


_VERSION_PARTS = 4  # as many as filterlang takes


def _compare(parts: list[Any], wanted: list[int], op: str) -> Any:
    """Lexicographic comparison of SQL numbers with Python ones: a < b at the first part that differs."""
    strict = op in {"<", ">"}
    less = op.startswith("<")
    head, first = parts[0], wanted[0]
    if len(parts) == 1:
        if strict:
            return head < first if less else head > first
        return head <= first if less else head >= first
    beyond = head < first if less else head > first
    return beyond | ((head == first) & _compare(parts[1:], wanted[1:], op))


def _version_part(k: int) -> Any:
    """The k-th (0-based) number of the OS version in SQL (0 when absent)."""
    if _postgres():
        piece = fn.split_part(Device.os_version, ".", k + 1)
        digits = fn.COALESCE(fn.SUBSTRING(NodeList((piece, SQL("FROM"), "^[0-9]+"), glue=" ")), "0")
        return NodeList((SQL("CAST("), digits, SQL("AS NUMERIC)")), glue=" ")
    rest: Any = Device.os_version
    for _ in range(k):  # what follows the next "." ('' when there is none)
        rest = Case(None, [(fn.INSTR(rest, ".") > 0, fn.SUBSTR(rest, fn.INSTR(rest, ".") + 1))], "")
    return NodeList((SQL("CAST("), rest, SQL("AS INTEGER)")), glue=" ")


def _postgres() -> bool:
    return isinstance(Device._meta.database, PostgresqlDatabase)


_FIELD_CONDITIONS = {"text": _text_field, "os": _os_field, "exact": _exact_field, "security": _security_field,
                     "age": _age_field, "yesno": _yesno_field, "id": _id_field, "version": _version_field}


def os_class(value: str) -> str:
    """The OS class ``value`` names (any case); UsageError when it names none."""
    for cls in OsClass:
        if value.lower() == cls.value.lower():
            return cls.value
    raise UsageError(f"unknown OS class '{value}': choose from {', '.join(c.value for c in OsClass)}")


def text_condition(text: str) -> Any:
    """A part of any searched column, case-insensitively; % and _ are matched literally.

    A number typed with separators (``35-391808-912345-6``, ``090-1234``) is also looked for without
    them: identifiers are stored, and phone numbers indexed, that way (``identifiers``).
    """
    needles = [n.lower() for n in identifiers.search_needles(text)]
    indexed = search_index.condition(needles)  # the trigram index (SQLite: any length)
    if indexed is not None and not search_index.postgres():
        if search_index.queued():  # rows the FTS tables have not taken yet (or left unkeyed): scanned
            indexed = indexed | (Device.id.in_(search_index.queue_ids()) & _any_like(needles))
        return indexed
    cond = None
    for needle in needles:  # PostgreSQL: pg_trgm for a long needle, a scan for a short one
        one = search_index.condition([needle]) or like_condition(needle)
        cond = one if cond is None else (cond | one)
    return cond


def _any_like(needles: Sequence[str]) -> Any:
    cond: Any = None
    for needle in needles:
        cond = like_condition(needle) if cond is None else (cond | like_condition(needle))
    return cond


def like_condition(text: str) -> Any:
    """``text`` as a part of the searched text, by a scan (the index's answer, without the index)."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"

    def like(column: Any) -> Any:
        return NodeList((column, SQL("LIKE"), pattern, SQL("ESCAPE '\\'")))

    fallback = None  # rows no collection wrote (search_text NULL): the columns themselves
    for name in search_index.SEARCHED:
        cond = like(fn.LOWER(getattr(Device, name)))
        fallback = cond if fallback is None else (fallback | cond)
    return like(Device.search_text) | (Device.search_text.is_null() & fallback)


def security_conditions(stale_days: int, now: datetime | None = None) -> dict[str, Any]:
    """Each security problem (a key of ``SECURITY_WEIGHTS``) as an SQL condition."""
    return {
        # as inventory._state_flag shows it: no profile, or any MDM state but active (retired, wiped, lost...)
        "unmanaged": (Device.mdm_managed == False)  # noqa: E712
        | fn.UPPER(fn.TRIM(Device.mdm_status)).not_in(["", "ACTIVE"]),
        "passcode": Device.passcode_set == False,  # noqa: E712 - SQL, not Python truthiness
        "jailbroken": Device.jailbroken == True,  # noqa: E712
        "unencrypted": Device.encrypted == False,  # noqa: E712
        "stale": Device.last_alive_at < (now or utcnow()) - timedelta(days=stale_days),
    }


def _security_score(stale_days: int) -> Any:
    """A number that grows with the device's security problems (0: none known)."""
    score: Any = None
    for name, cond in security_conditions(stale_days).items():
        term = Case(None, [(cond, SECURITY_WEIGHTS[name])], 0)
        score = term if score is None else score + term
    return score


def security_condition(problem: bool | str, stale_days: int) -> Any:
    """Any security problem (True) or one of them; UsageError for an unknown one."""
    found = security_conditions(stale_days)
    if problem is True:
        combined: Any = None
        for cond in found.values():
            combined = cond if combined is None else (combined | cond)
        return combined
    if problem not in found:
        raise UsageError(f"unknown security problem '{problem}': choose from {', '.join(found)} (or any)")
    return found[str(problem)]


def _ordered(query: Any, f: DeviceFilter) -> Any:
    key = f.sort if f.sort in SORT_KEYS else "computer_name"
    if key == "security":
        column = _security_score(f.stale_days)
    elif key in PAGE_ASSET_COLUMNS:
        column = NodeList((_asset_value(key),))  # a column expression (a bare subquery cannot be ordered)
    else:
        column = Device._meta.columns[key]
    # "not collected" last, written as (column IS NULL) first: the same order as NULLS LAST, and one the
    # index device_name_order serves, so the first page of a dense filter stops early instead of sorting
    last = NodeList((column, SQL("IS NULL")))
    if f.descending:
        return query.order_by(last, column.desc(), Device.id.desc())
    return query.order_by(last, column, Device.id)


# ------------------------------------------------------------------------- one device's software, history


def software_of(device_id: int, text: str | None = None, offset: int = 0,
                limit: int = 200) -> tuple[int, list[SoftwareRow]]:
    """(how many items match, one page of them by name) of a device's software."""
    query = Software.select(Software._meta.primary_key, Software.device, Software.name, Software.version, Software.vendor).where(
        Software.device == device_id)
    if text and text.strip():
        t = text.strip().lower()
        query = query.where(fn.LOWER(Software.name).contains(t) | fn.LOWER(Software.vendor).contains(t)
                            | fn.LOWER(Software.version).contains(t))
    total = int(query.count())
    if limit <= 0:
        return total, []
    rows = query.order_by(fn.LOWER(Software.name), Software.version, Software._meta.primary_key).offset(max(offset, 0)).limit(limit)
    return total, [SoftwareRow(*row) for row in tuples(rows)]


_HISTORY_ID: Any = DeviceHistory._meta.primary_key  # the models declare no id field of their own


def history_of(device_id: int, limit: int = 500) -> list[HistoryRow]:
    """The field changes collections recorded for a device, newest first."""
    query = (DeviceHistory.select(DeviceHistory._meta.primary_key, DeviceHistory.device, DeviceHistory.run, DeviceHistory.at,
                                  DeviceHistory.field, DeviceHistory.old_value, DeviceHistory.new_value)
             .where(DeviceHistory.device == device_id)
             .order_by(DeviceHistory.at.desc(), _HISTORY_ID.desc()).limit(limit))
    return [HistoryRow(*row) for row in tuples(query)]


# ------------------------------------------------------------------------------------------ licenses


def license_counts() -> list[LicenseCount]:
    """Per linkage name (in order): managed devices, those using a license, and of those the missing ones."""
    uses = Device.consumes_license == True  # noqa: E712
    licensed = fn.SUM(Case(None, [(uses, 1)], 0))
    missing = fn.SUM(Case(None, [(uses & Device.missing_since.is_null(False), 1)], 0))
    query = (Device.select(Device.linkage_name, Linkage.system, fn.COUNT(Device.id), licensed, missing)
             .join(Linkage, JOIN.LEFT_OUTER, on=(Device.linkage == Linkage.id))
             .where(Device.managed == True)  # noqa: E712
             .group_by(Device.linkage_name, Linkage.system).order_by(Device.linkage_name))
    return [LicenseCount(name, system, int(n), int(lic or 0), int(miss or 0))
            for name, system, n, lic, miss in tuples(query)]


# ----------------------------------------------------------------------------- asset info, deletion


def asset_info(device_id: int) -> AssetRecord | None:
    """The asset information kept for a device, or None when none was ever saved."""
    found = tuples(AssetInfo.select(*(getattr(AssetInfo, c) for c in _ASSET_COLUMNS))
                   .where(AssetInfo.device == device_id).limit(1))
    return AssetRecord(*found[0]) if found else None


def save_asset_info(device_id: int, values: dict[str, str | None], changed: dict[str, str | None]) -> None:
    """Store ``values`` (every asset field) for a device that has none, else update its ``changed`` fields."""
    now = utcnow()
    AssetInfo.insert(device=device_id, updated_at=now, **values).on_conflict(
        conflict_target=[AssetInfo.device], update={**changed, "updated_at": now}).execute()


def delete(db: Database, device_ids: Sequence[int]) -> list[StoredDevice]:
    """Delete devices with everything that is theirs: software (and its fleet counts), history, asset
    information; their actions keep their record without the device. Runs in the caller's transaction, in
    chunks of ``CHUNK``; returns the devices deleted as they were (ids not found are skipped)."""
    gone: list[StoredDevice] = []
    wanted = list(dict.fromkeys(int(i) for i in device_ids))
    for start in range(0, len(wanted), CHUNK):
        devices = devices_where(Device.id.in_(wanted[start:start + CHUNK]))
        found = [d.id for d in devices]
        if not found:
            continue
        stored_software.remove_ids(db, found)
        Software.delete().where(Software.device.in_(found)).execute()
        stored_software.settle(db)
        DeviceHistory.delete().where(DeviceHistory.device.in_(found)).execute()
        AssetInfo.delete().where(AssetInfo.device.in_(found)).execute()
        DeviceAction.update(device=None).where(DeviceAction.device.in_(found)).execute()
        Device.delete().where(Device.id.in_(found)).execute()
        gone += devices
    return gone
