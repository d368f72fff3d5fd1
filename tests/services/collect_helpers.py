"""Helpers for the collection and inventory tests: linkages on the simulator, fast retries, snapshots."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, UTC
from typing import Any

from mdmtui.connectors.base import LinkageConfig, connector_for
from mdmtui.storage.models import Device, DeviceHistory, Linkage, Software
from mdmtui.records import DeviceRecord, OsClass, SoftwareItem
from mdmtui.services import collection, linkages

FAST_RETRY = {"attempts": 4, "initial_s": 0.01, "max_backoff_s": 0.05, "jitter_s": 0.0, "max_retry_after_s": 2}
UTC = UTC


def sim_linkage(ctx, sim, system: str, name: str | None = None, **extra) -> Linkage:
    """A linkage to one of the simulator's MDMs, created through the linkage service."""
    name = name or {"intune": "Intune", "mobileiron": "MobileIron", "sdm": "SDM"}[system]
    if system == "intune":
        i = sim.intune
        data = dict(server_url=i.base_url, tenant_id=i.tenant_id, client_id=i.client_id,
                    client_secret=i.client_secret, authority_url=i.base_url)
    elif system == "mobileiron":
        data = dict(server_url=sim.mobileiron.base_url, user=sim.mobileiron.user, password=sim.mobileiron.password)
    else:
        data = dict(server_url=sim.sdm.base_url, user=sim.sdm.user, password=sim.sdm.password)
    data.update(extra)
    return linkages.create(ctx, dict(name=name, system=system, **data))


def fast(software: bool = True) -> Callable[[LinkageConfig], Any]:
    """A connector factory with quick retries (and optionally no software) for tests."""
    def factory(config: LinkageConfig):
        config.extra = {**config.extra, "retry": FAST_RETRY, "collect_software": software}
        if config.system == "sdm" and config.sdm_db_host is None:
            config.sdm_db_host, config.sdm_db_port = _SDM_DB.get(config.name, (None, None))
        return connector_for(config)
    return factory


_SDM_DB: dict[str, tuple[str, int]] = {}


def sdm_software_service(sim, name: str = "SDM") -> None:
    """Point the SDM linkage ``name`` at the simulator's software service (as sdm_import.properties would)."""
    _SDM_DB[name] = (sim.sdm.db_host, sim.sdm.db_port)


def run(ctx, name: str, **kw) -> collection.CollectionSummary:
    """One collection, synchronously."""
    kw.setdefault("connector_factory", fast())
    return asyncio.run(collection.collect(ctx, name, **kw))


def snapshot(linkage_name: str | None = None) -> dict[str, Any]:
    """Every device row (all columns), software and history: equal snapshots mean nothing was written."""
    devices = Device.select().order_by(Device.id)
    if linkage_name:
        devices = devices.where(Device.linkage_name == linkage_name)
    rows = {d["id"]: d for d in devices.dicts()}
    software = sorted(Software.select(Software.device, Software.name, Software.version, Software.vendor)
                      .where(Software.device.in_(list(rows) or [-1])).tuples())
    history = list(DeviceHistory.select(DeviceHistory.id).tuples())
    return {"devices": rows, "software": software, "history": history}


def by_mdm_id(linkage_name: str) -> dict[str, Device]:
    """The linkage's devices keyed by MDM id."""
    return {d.mdm_device_id: d for d in Device.select().where(Device.linkage_name == linkage_name)}


def utc(*args: int) -> datetime:
    """An aware UTC datetime."""
    return datetime(*args, tzinfo=UTC)


def record(mdm_id: str, **values) -> DeviceRecord:
    """A hand-made device record (for scripted connectors)."""
    values.setdefault("os_class", OsClass.M)
    values.setdefault("device_type", "Smart Device")
    values.setdefault("computer_name", f"dev-{mdm_id}")
    values.setdefault("change_marker", values.get("last_alive_at") and values["last_alive_at"].isoformat())
    return DeviceRecord(mdm_device_id=mdm_id, **values)


class ScriptedConnector:
    """A connector that yields given pages, then optionally fails; records what ``known`` it was given."""

    system = "mobileiron"

    def __init__(self, pages: list[list[DeviceRecord]], fail_after: int | None = None,
                 error: Exception | None = None, warnings: list[str] | None = None,
                 still_there: set[str] = frozenset()) -> None:
        self.pages, self.fail_after, self.error = pages, fail_after, error
        self.still_there = still_there  # MDM ids the pages leave out that the MDM still has
        self.asked: list[str] = []  # device_gone calls
        self.known: dict | None = None
        self.warnings = warnings or []
        self.closed = False

    async def iter_device_pages(self, known):
        self.known = dict(known)
        for n, page in enumerate(self.pages):
            if self.fail_after is not None and n == self.fail_after:
                raise self.error
            await asyncio.sleep(0)
            yield page

    async def device_gone(self, mdm_device_id: str) -> bool:
        self.asked.append(mdm_device_id)
        return mdm_device_id not in self.still_there

    async def aclose(self) -> None:
        self.closed = True


def scripted(connector: ScriptedConnector) -> Callable[[LinkageConfig], ScriptedConnector]:
    """A connector factory that hands out ``connector``."""
    return lambda config: connector


def plain_linkage(name: str = "MI", system: str = "mobileiron", **columns) -> Linkage:
    """A linkage row without credentials (for scripted connectors)."""
    return Linkage.create(name=name, system=system, server_url=f"https://{name.lower()}.example:443", **columns)


def software(*names: str) -> list[SoftwareItem]:
    """Software items named ``names`` (version 1.0)."""
    return [SoftwareItem(n, "1.0", None) for n in names]
