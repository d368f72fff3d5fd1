"""The fleet's software in storage: titles and versions counted, kept up to date by every write to ``software``,
and read back as ``Title`` and ``Version`` records.

A Software screen that grouped the ``software`` table per keystroke would read 10 million rows at
100,000 devices × 100 apps. Instead ``software_title`` (one row per name) and ``software_version`` (one
row per name, version and linkage) hold the counts, and each writer adjusts them in its own
transaction by the delta of what it removes and inserts:

    remove(db, devices)   before the software rows of ``devices`` are deleted
    add(db, devices)      after the new rows are inserted
    settle(db)            once per transaction: versions, top version and linkages of changed titles

``devices`` is an SQL subquery (and its parameters) that yields device ids. ``backfill`` rebuilds the
whole aggregate the same way (migration 9; the benchmark). Counts are of *distinct devices*: a device
that lists one title twice counts once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from peewee import SQL, Database, Field, ModelSelect, NodeList, fn

from mdmtui.records import StoredSoftware
from mdmtui.storage.models import SoftwareTitle, SoftwareVersion

NONE_KEY = ""  # a version or linkage not collected, in the aggregate's keys
TITLE_SORTS = {"name": "name", "vendor": "vendor", "devices": "devices", "versions": "versions",
               "linkages": "linkages"}  # sort key -> software_title column


# ------------------------------------------------------------------------------------- maintenance


def remove(db: Database, devices: str | None, params: Sequence[Any] = (), *, linkage: str | None = None) -> None:
    """Take the software rows of ``devices`` (still stored) out of the counts. ``linkage``: the name every
    one of those devices carries (a collection's own), which spares a device lookup per software row."""
    _adjust(db, devices, params, -1, linkage)


def add(db: Database, devices: str | None, params: Sequence[Any] = (), *, linkage: str | None = None) -> None:
    """Count the software rows of ``devices`` (just stored) in."""
    _adjust(db, devices, params, +1, linkage)


def remove_ids(db: Database, ids: Sequence[int]) -> None:
    """``remove`` for devices given by id (one chunk: the caller keeps lists within SQL's limits)."""
    if ids:
        remove(db, f"SELECT id FROM device WHERE id IN ({', '.join([db.param] * len(ids))})", list(ids))


def add_ids(db: Database, ids: Sequence[int]) -> None:
    """``add`` for devices given by id."""
    if ids:
        add(db, f"SELECT id FROM device WHERE id IN ({', '.join([db.param] * len(ids))})", list(ids))


def _adjust(db: Database, devices: str | None, params: Sequence[Any], sign: int, linkage: str | None) -> None:
    where = f"WHERE sw.device_id IN ({devices})" if devices else ""
    vendor = "MAX(sw.vendor)" if sign > 0 else "NULL"  # a removal never changes the vendor shown
    linkage_params: tuple[str, ...]
    if linkage is None:
        source, linkage_key, linkage_params = ("software sw JOIN device d ON d.id = sw.device_id",
                                               "COALESCE(d.linkage_name, '')", ())
    else:
        source, linkage_key, linkage_params = "software sw", db.param, (linkage,)
    db.execute_sql(
        f"INSERT INTO software_version (name, version, linkage_name, vendor, devices) "
        f"SELECT sw.name, COALESCE(sw.version, ''), {linkage_key}, {vendor}, "
        f"{sign} * COUNT(DISTINCT sw.device_id) FROM {source} {where} "
        f"GROUP BY sw.name, COALESCE(sw.version, '') {'' if linkage is not None else ', ' + linkage_key} "
        f"ON CONFLICT (name, version, linkage_name) DO UPDATE SET "
        f"devices = software_version.devices + excluded.devices, "
        f"vendor = COALESCE(excluded.vendor, software_version.vendor)", (*linkage_params, *params))
    db.execute_sql(
        f"INSERT INTO software_title (name, vendor, devices, versions, linkages, stale) "
        f"SELECT sw.name, {vendor}, {sign} * COUNT(DISTINCT sw.device_id), 0, 0, {_true(db)} "
        f"FROM software sw {where} GROUP BY sw.name "
        f"ON CONFLICT (name) DO UPDATE SET devices = software_title.devices + excluded.devices, "
        f"vendor = COALESCE(excluded.vendor, software_title.vendor), stale = {_true(db)}", tuple(params))


def settle(db: Database) -> None:
    """Drop what no device has any more; recompute versions, top version and linkages of changed titles."""
    db.execute_sql("DELETE FROM software_version WHERE devices <= 0")
    db.execute_sql("DELETE FROM software_title WHERE devices <= 0")
    of_title = "FROM software_version v WHERE v.name = software_title.name"
    db.execute_sql(
        f"UPDATE software_title SET versions = (SELECT COUNT(DISTINCT v.version) {of_title}), "
        f"linkages = (SELECT COUNT(DISTINCT NULLIF(v.linkage_name, '')) {of_title}), "
        f"top_version = (SELECT v.version {of_title} GROUP BY v.version ORDER BY SUM(v.devices) DESC, v.version "
        f"LIMIT 1), stale = {_false(db)} WHERE stale = {_true(db)}")


def backfill(db: Database) -> None:
    """Count the whole ``software`` table afresh (inside the caller's transaction)."""
    db.execute_sql("DELETE FROM software_version")
    db.execute_sql("DELETE FROM software_title")
    add(db, None)
    settle(db)


def _true(db: Database) -> str:
    return "TRUE" if _postgres(db) else "1"


def _false(db: Database) -> str:
    return "FALSE" if _postgres(db) else "0"


def _postgres(db: Database) -> bool:
    from peewee import PostgresqlDatabase

    return isinstance(db, PostgresqlDatabase)


# ------------------------------------------------------------------------------- for a collection


def of_linkage(db: Database, linkage_id: int) -> StoredSoftware:
    """Every stored software row of the linkage's devices as (name, version) by MDM id, for a collection
    whose connector works out software changes from the MDM's tenant-wide counts (Intune's list route)."""
    out = StoredSoftware()
    cursor = db.execute_sql(
        f"SELECT d.mdm_device_id, sw.name, sw.version FROM software sw JOIN device d ON d.id = sw.device_id "
        f"WHERE d.linkage_id = {db.param}", (linkage_id,))
    add = out.add
    for mdm_device_id, name, version in cursor:
        add(mdm_device_id, name, version)
    return out


# ------------------------------------------------------------------------------------------ reading


@dataclass(slots=True)
class TitleFilter:
    """What the Software screen shows: a text (part of title or vendor, any case) and the order."""

    text: str | None = None
    sort: str = "name"
    descending: bool = False


@dataclass(slots=True)
class Title:
    """One title across the fleet."""

    name: str
    vendor: str | None
    devices: int
    versions: int
    top_version: str | None
    linkages: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Version:
    """One version of a title: the devices that have it, and through which linkages."""

    name: str
    version: str | None  # None: not collected
    devices: int
    vendor: str | None
    linkages: list[str] = field(default_factory=list)


def count_titles(f: TitleFilter) -> int:
    """How many titles match."""
    count: int = _filtered(SoftwareTitle.select(fn.COUNT(SoftwareTitle.id)), f).scalar() or 0
    return count


def titles(f: TitleFilter, offset: int = 0, limit: int = 100) -> list[Title]:
    """One page of matching titles in the filter's order (a key of ``TITLE_SORTS``), with their linkages."""
    if limit <= 0:
        return []
    column = getattr(SoftwareTitle, TITLE_SORTS[f.sort])
    key = fn.LOWER(column) if f.sort in {"name", "vendor"} else column
    order = [key.desc() if f.descending else key.asc(), SoftwareTitle.name]
    rows = list(_filtered(SoftwareTitle.select(), f).order_by(*order).offset(max(offset, 0)).limit(limit))
    linkages = _linkages([r.name for r in rows])
    return [Title(r.name, r.vendor, r.devices, r.versions, r.top_version or None, linkages.get(r.name, []))
            for r in rows]


def title(name: str) -> Title | None:
    """One title by its exact name; None when no device has it."""
    row = SoftwareTitle.get_or_none(SoftwareTitle.name == name)
    if row is None:
        return None
    return Title(row.name, row.vendor, row.devices, row.versions, row.top_version or None,
                 _linkages([name]).get(name, []))


def versions(name: str) -> list[Version]:
    """The versions of a title, the most widespread first."""
    total = fn.SUM(SoftwareVersion.devices)
    rows = (SoftwareVersion.select(SoftwareVersion.version, total.alias("n"), fn.MAX(SoftwareVersion.vendor))
            .where(SoftwareVersion.name == name).group_by(SoftwareVersion.version)
            .order_by(total.desc(), SoftwareVersion.version).tuples())
    pairs = (SoftwareVersion.select(SoftwareVersion.version, SoftwareVersion.linkage_name)
             .where(SoftwareVersion.name == name).order_by(SoftwareVersion.linkage_name).tuples())
    by_version: dict[str, list[str]] = {}
    for version, linkage in cast("Iterable[tuple[str, str]]", pairs):
        if linkage != NONE_KEY:
            by_version.setdefault(version, []).append(linkage)
    return [Version(name, v or None, int(n), vendor, by_version.get(v, []))
            for v, n, vendor in cast("Iterable[tuple[str, Any, str | None]]", rows)]  # n: Decimal on PostgreSQL


def _linkages(names: list[str]) -> dict[str, list[str]]:
    if not names:
        return {}
    query = (SoftwareVersion.select(SoftwareVersion.name, SoftwareVersion.linkage_name)
             .where(SoftwareVersion.name.in_(names), SoftwareVersion.linkage_name != NONE_KEY)
             .group_by(SoftwareVersion.name, SoftwareVersion.linkage_name)
             .order_by(SoftwareVersion.linkage_name).tuples())
    out: dict[str, list[str]] = {}
    for name, linkage in cast("Iterable[tuple[str, str]]", query):
        out.setdefault(name, []).append(linkage)
    return out


def _filtered(query: ModelSelect[SoftwareTitle], f: TitleFilter) -> ModelSelect[SoftwareTitle]:
    text = (f.text or "").strip()
    if not text:
        return query
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"

    def like(column: Field) -> NodeList:
        return NodeList((fn.LOWER(column), SQL("LIKE"), pattern, SQL("ESCAPE '\\'")))

    return query.where(like(SoftwareTitle.name) | like(SoftwareTitle.vendor))
