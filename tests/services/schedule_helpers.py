"""Helpers for the schedule and daemon tests: linkage rows and a controlled clock."""

from __future__ import annotations

from datetime import datetime, timedelta, UTC
from itertools import count

from mdmtui.storage.models import Linkage
from mdmtui.services import schedule as schedule_service

UTC = UTC
_ports = count(26100)


def utc(*args: int) -> datetime:
    """An aware UTC datetime."""
    return datetime(*args, tzinfo=UTC)


def add_linkage(name: str, **columns) -> Linkage:
    """A bare linkage row (no credentials): enough for the schedule service."""
    columns.setdefault("system", "sdm")
    columns.setdefault("server_url", f"https://sdm-{next(_ports)}.example:26055")
    return Linkage.create(name=name, **columns)


class Clock:
    """A clock the test moves by hand; callable like ``utcnow``."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move forward by ``timedelta(**delta)``; returns the new time."""
        self.now += timedelta(**delta)
        return self.now


def simulate_ticks(ctx, start: datetime, end: datetime, step: timedelta) -> list[tuple[str, datetime]]:
    """Play the daemon's bookkeeping tick by tick without collecting: the due runs, in order."""
    handled = []
    now = start
    while now <= end:
        for linkage, due in schedule_service.due_linkages(ctx, now):
            handled.append((linkage.name, due))
            schedule_service.mark_handled(linkage.id, due)
        now += step
    return handled


def intune_linkage(ctx, sim, name: str = "Intune", **extra) -> Linkage:
    """An Intune linkage pointing at the simulator, created through the linkage service."""
    from mdmtui.services import linkages

    i = sim.intune
    return linkages.create(ctx, dict(name=name, system="intune", server_url=i.base_url, tenant_id=i.tenant_id,
                                     client_id=i.client_id, client_secret=i.client_secret,
                                     authority_url=i.base_url, **extra))


def inventory(linkage_name: str) -> dict[str, tuple]:
    """The linkage's devices as stored (mdm id -> the collected items that matter here)."""
    from mdmtui.storage.models import Device

    linkage = Linkage.get(Linkage.name == linkage_name)
    rows = Device.select().where(Device.linkage == linkage.id)
    return {d.mdm_device_id: (d.computer_name, d.serial_number, d.fingerprint, d.missing_since) for d in rows}
