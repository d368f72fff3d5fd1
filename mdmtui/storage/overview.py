"""The fleet's figures in aggregate SQL, for the overview service: one pass over the device table grouped by
linkage (devices, licenses, each security problem, each last-seen bucket), one ``GROUP BY`` for the OS mix,
the linkages' systems, a linkage's last collection runs and the actions not final. No per-device Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from peewee import Case, fn

from mdmtui.storage import devices
from mdmtui.storage.devices import tuples
from mdmtui.storage.models import CollectionRun, Device, DeviceAction, Linkage

Bucket = tuple[datetime | None, datetime | None]  # last seen at or after, before; (None, None): not collected


@dataclass(slots=True)
class LinkageCounts:
    """The devices carrying one linkage name (None: none), counted in one pass."""

    linkage_name: str | None
    devices: int
    licensed: int
    problems: list[int]  # per key asked for, in order
    buckets: list[int]  # per last-seen bucket asked for, in order


@dataclass(slots=True)
class RunRow:
    """One collection run, as the overview's history reads it."""

    id: int
    started_at: datetime
    finished_at: datetime | None
    status: str
    kind: str
    devices_seen: int
    inventory_total: int | None
    reason: str | None


def problem_conditions(stale_days: int, now: datetime | None = None) -> dict[str, Any]:
    """The conditions ``device_counts`` can count: each security problem, "missing" and "duplicates"."""
    return dict(devices.security_conditions(stale_days, now), missing=Device.missing_since.is_null(False),
                duplicates=devices.duplicate_condition())


def _bucket_condition(bucket: Bucket) -> Any:
    after, before = bucket
    if after is None and before is None:
        return Device.last_alive_at.is_null()
    cond: Any = None
    if after is not None:
        cond = Device.last_alive_at >= after
    if before is not None:
        older = Device.last_alive_at < before
        cond = older if cond is None else (cond & older)
    return cond


def device_counts(stale_days: int, problems: Sequence[str], buckets: Sequence[Bucket],
                  now: datetime | None = None) -> list[LinkageCounts]:
    """One scan of the device table grouped by linkage name: devices, licenses used, the devices with each
    of ``problems`` (keys of ``problem_conditions``) and in each last-seen bucket."""
    known = problem_conditions(stale_days, now)
    wanted = [devices.licensed_condition()] + [known[p] for p in problems] + [_bucket_condition(b) for b in buckets]
    sums = [fn.SUM(Case(None, [(cond, 1)], 0)) for cond in wanted]
    query = Device.select(Device.linkage_name, fn.COUNT(Device.id), *sums).group_by(Device.linkage_name)
    split = 3 + len(problems)
    return [LinkageCounts(row[0], int(row[1] or 0), int(row[2] or 0), [int(n or 0) for n in row[3:split]],
                          [int(n or 0) for n in row[split:]]) for row in tuples(query)]


def os_groups() -> list[tuple[str, str | None, str | None, int]]:
    """(OS class, OS name, OS version, devices): one GROUP BY for the OS mix and the versions."""
    query = (Device.select(Device.os_class, Device.os_name, Device.os_version, fn.COUNT(Device.id))
             .group_by(Device.os_class, Device.os_name, Device.os_version))
    return [(cls, name, version, int(n)) for cls, name, version, n in tuples(query)]


def linkage_systems() -> dict[str, str]:
    """Every linkage's name and system."""
    return {name: system for name, system in tuples(Linkage.select(Linkage.name, Linkage.system))}


def recent_runs(linkage_name: str, limit: int) -> list[RunRow]:
    """The linkage's last ``limit`` collection runs, the newest first."""
    query = (CollectionRun.select(CollectionRun.id, CollectionRun.started_at, CollectionRun.finished_at,
                                  CollectionRun.status, CollectionRun.kind, CollectionRun.devices_seen,
                                  CollectionRun.inventory_total, CollectionRun.reason)
             .where(CollectionRun.linkage_name == linkage_name).order_by(CollectionRun.id.desc()).limit(limit))
    return [RunRow(*row) for row in tuples(query)]


def action_counts(outcomes: Sequence[str], since: datetime | None = None) -> tuple[int, int]:
    """(actions, distinct devices) of the actions with one of ``outcomes`` on a device still stored,
    requested at or after ``since`` when given."""
    query = DeviceAction.select(fn.COUNT(DeviceAction.id), fn.COUNT(DeviceAction.device.distinct())).where(
        DeviceAction.outcome.in_(list(outcomes)), DeviceAction.device.is_null(False))
    if since is not None:
        query = query.where(DeviceAction.requested_at >= since)
    ((actions, devices_),) = tuples(query)
    return int(actions or 0), int(devices_ or 0)
