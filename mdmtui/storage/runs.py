"""Collection runs in storage: the ``collection_run`` rows, the linkages a run collects, the scheduler's role.

A run is started as "running" (``start``) and ended by ``record_end``, the one place a run's end is
written, whether the collection service ends its own run or the daemon records one the service never
got to (skipped, crashed, cancelled before it began). Everything comes back as typed records.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from peewee import fn

from mdmtui.clock import utcnow
from mdmtui.storage.models import CollectionRun, Device, Linkage, SchedulerState

__all__ = ["LinkageRef", "RunCounts", "RunEnd", "RunRef", "SchedulerRole", "abandoned", "beat_scheduler",
           "claim_scheduler", "enabled_linkage_names", "known_linkage_names", "last_mdm_start", "leave_scheduler",
           "linkage_exists", "linkage_named", "newest_run_id", "other_scheduler", "record_end", "runs_after", "start",
           "utcnow"]


@dataclass(frozen=True, slots=True)
class LinkageRef:
    """What a collection run needs of its linkage row."""

    id: int
    name: str
    system: str
    auto_manage: bool


@dataclass(frozen=True, slots=True)
class RunRef:
    """A stored run, as far as closing it needs."""

    id: int
    trigger: str
    host: str | None
    pid: int | None


@dataclass(frozen=True, slots=True)
class RunCounts:
    """What a run did, as stored on its row."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0
    missing: int = 0
    returned: int = 0
    software_items: int = 0
    pages: int = 0
    devices_seen: int = 0
    rechecked: int = 0


@dataclass(frozen=True, slots=True)
class RunEnd:
    """How a run ended. ``counts`` None: leave the row's counts as they are."""

    status: str  # succeeded | failed | cancelled | skipped
    reason: str | None
    finished_at: datetime
    counts: RunCounts | None = None
    mdm_started_at: datetime | None = None  # the MDM's clock at the start (kept only for an applied run)


# ------------------------------------------------------------------------------------------ linkages


def linkage_named(name: str) -> LinkageRef | None:
    """The linkage called ``name``, or None."""
    row = Linkage.get_or_none(Linkage.name == name)
    if row is None:
        return None
    return LinkageRef(row.id, row.name, row.system, bool(row.auto_manage))


def linkage_exists(linkage_id: int) -> bool:
    """Whether a linkage with this id is stored (it may have been removed while a run ran)."""
    return Linkage.select(Linkage.id).where(Linkage.id == linkage_id).exists()


def enabled_linkage_names() -> list[str]:
    """The names of the enabled linkages, in order."""
    query = Linkage.select(Linkage.name).where(Linkage.enabled == True).order_by(Linkage.name)  # noqa: E712
    return [name for (name,) in cast("Iterable[tuple[str]]", query.tuples())]


def known_linkage_names(names: Sequence[str]) -> set[str]:
    """Those of ``names`` that are stored linkages."""
    query = Linkage.select(Linkage.name).where(Linkage.name.in_(list(names)))
    return {name for (name,) in cast("Iterable[tuple[str]]", query.tuples())}


# ----------------------------------------------------------------------------------------------- runs


def start(*, linkage_id: int | None, linkage_name: str, trigger: str, kind: str, started_at: datetime,
          host: str | None, pid: int | None, status: str = "running") -> int:
    """Store a new run (normally "running"); its id."""
    row = CollectionRun.create(linkage=linkage_id, linkage_name=linkage_name, trigger=trigger, kind=kind,
                               status=status, started_at=started_at, host=host, pid=pid)
    return int(row.id)


def record_end(run_ids: Sequence[int], end: RunEnd, *, only_running: bool = False,
               inventory_of: int | None = None) -> int:
    """Write how the runs ``run_ids`` ended; how many rows changed.

    ``only_running``: leave a run alone that something else already ended. ``inventory_of``: a linkage id
    whose stored devices are counted into the row (the overview's history)."""
    if not run_ids:
        return 0
    values: dict[str, Any] = {"status": end.status, "reason": end.reason, "finished_at": end.finished_at}
    if end.counts is not None:
        c = end.counts
        values.update(new=c.new, changed=c.changed, unchanged=c.unchanged, missing=c.missing, returned=c.returned,
                      software_items=c.software_items, pages=c.pages, devices_seen=c.devices_seen,
                      rechecked=c.rechecked, mdm_started_at=end.mdm_started_at)
    if inventory_of is not None:
        # a subquery of this write: a read first would start the transaction as a reader, and SQLite
        # refuses a reader's upgrade to writer once another collection wrote ("database is locked")
        values["inventory_total"] = Device.select(fn.COUNT(Device.id)).where(Device.linkage == inventory_of)
    query = CollectionRun.update(**values).where(CollectionRun.id.in_(list(run_ids)))
    if only_running:
        query = query.where(CollectionRun.status == "running")
    return int(query.execute())


def abandoned(linkage_id: int, host: str) -> list[RunRef]:
    """The linkage's runs still "running" that a process of ``host`` started."""
    query = CollectionRun.select(CollectionRun.id, CollectionRun.trigger, CollectionRun.host, CollectionRun.pid).where(
        CollectionRun.linkage == linkage_id, CollectionRun.status == "running", CollectionRun.host == host,
        CollectionRun.pid.is_null(False))
    rows = cast("Iterable[tuple[int, str, str | None, int | None]]", query.tuples())
    return [RunRef(i, trigger, h, pid) for i, trigger, h, pid in rows]


def last_mdm_start(linkage_id: int) -> datetime | None:
    """The MDM's clock at the start of the linkage's last successful run that recorded it."""
    last = (CollectionRun.select(CollectionRun.mdm_started_at)
            .where(CollectionRun.linkage == linkage_id, CollectionRun.status == "succeeded",
                   CollectionRun.mdm_started_at.is_null(False))
            .order_by(CollectionRun.id.desc()).first())
    return None if last is None else last.mdm_started_at


def newest_run_id(linkage_id: int) -> int:
    """The newest run id of the linkage (0 when none)."""
    newest = (CollectionRun.select(CollectionRun.id).where(CollectionRun.linkage == linkage_id)
              .order_by(CollectionRun.id.desc()).first())
    return int(newest.id) if newest else 0


def runs_after(linkage_id: int, after: int, trigger: str) -> list[int]:
    """Ids of the linkage's runs with ``trigger`` newer than run ``after``."""
    query = CollectionRun.select(CollectionRun.id).where(
        CollectionRun.linkage == linkage_id, CollectionRun.id > after, CollectionRun.trigger == trigger)
    return [i for (i,) in cast("Iterable[tuple[int]]", query.tuples())]


# ------------------------------------------------------------------------------- the scheduler's role


@dataclass(frozen=True, slots=True)
class SchedulerRole:
    """The daemon holding the scheduler role, by its heartbeat row."""

    host: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime


def other_scheduler(host: str, pid: int, now: datetime, stale_after: timedelta) -> SchedulerRole | None:
    """The freshest heartbeat of a daemon other than (host, pid), if any is fresher than ``stale_after``."""
    row = (SchedulerState.select().where(SchedulerState.heartbeat_at > now - stale_after,
                                          ~((SchedulerState.host == host) & (SchedulerState.pid == pid)))
           .order_by(SchedulerState.heartbeat_at.desc()).first())
    return None if row is None else SchedulerRole(row.host, row.pid, row.started_at, row.heartbeat_at)


def claim_scheduler(host: str, pid: int, now: datetime) -> None:
    """Take the role: drop every row (stale ones of daemons that died without leaving), store this one."""
    SchedulerState.delete().execute()
    SchedulerState.create(host=host, pid=pid, started_at=now, heartbeat_at=now)


def beat_scheduler(host: str, pid: int, now: datetime) -> None:
    """Refresh this daemon's heartbeat; claim the role again if its row was removed (a database restore)."""
    updated = SchedulerState.update(heartbeat_at=now).where(
        SchedulerState.host == host, SchedulerState.pid == pid).execute()
    if not updated:
        SchedulerState.create(host=host, pid=pid, started_at=now, heartbeat_at=now)


def leave_scheduler(host: str, pid: int) -> None:
    """Give the role up."""
    SchedulerState.delete().where(SchedulerState.host == host, SchedulerState.pid == pid).execute()
