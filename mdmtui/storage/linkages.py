"""The linkage table's queries: typed ``LinkageRecord``s out, never ORM rows.

The linkage service (``services/linkages.py``) owns the rules and the transactions; this module only
reads and writes rows inside them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from peewee import Database, fn

from mdmtui.clock import utcnow
from mdmtui.records import System
from mdmtui.storage import software
from mdmtui.storage.records import ScheduledLinkage
from mdmtui.storage.models import CollectionLock, CollectionRun, Device, Linkage


@dataclass(frozen=True, slots=True)
class LinkageRecord(ScheduledLinkage):
    """One stored linkage: its scheduling columns (``ScheduledLinkage``) and the rest; secrets as their
    encrypted tokens (``*_enc``)."""

    system: System
    server_url: str
    verify_tls: bool
    ca_bundle: str | None
    proxy_url: str | None
    proxy_user: str | None
    proxy_password_enc: str | None
    timeout_s: float
    page_size: int | None
    auto_manage: bool
    tenant_id: str | None
    client_id: str | None
    client_secret_enc: str | None
    authority_url: str | None
    user: str | None
    password_enc: str | None
    device_space_id: int | None
    sdm_version: str | None
    name_mapping: str | None
    created_at: datetime
    updated_at: datetime

    def __int__(self) -> int:
        # a record stands for its row where a query takes a linkage (Device.linkage == record)
        return self.id


__all__ = ["COLUMNS", "LinkageRecord", "delete", "device_counts", "device_ids", "get", "get_by_id", "insert",
           "list_all", "names", "names_of", "orphan_devices", "rename_devices", "update", "utcnow"]

COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(LinkageRecord))


def _record(row: Linkage) -> LinkageRecord:
    values: dict[str, Any] = {name: getattr(row, name) for name in COLUMNS}
    values["system"] = System(values["system"])
    return LinkageRecord(**values)


def get(name: str) -> LinkageRecord | None:
    """The linkage named ``name``, or None."""
    row = Linkage.get_or_none(Linkage.name == name)
    return _record(row) if row is not None else None


def get_by_id(linkage_id: int) -> LinkageRecord:
    """The linkage with this id (it must exist)."""
    return _record(Linkage.get_by_id(linkage_id))


def names() -> list[str]:
    """Every linkage's name, sorted."""
    return [row.name for row in Linkage.select(Linkage.name).order_by(Linkage.name)]


def names_of(system: System) -> list[str]:
    """The names of the linkages to one MDM system."""
    return [row.name for row in Linkage.select(Linkage.name).where(Linkage.system == system.value)]


def list_all(*, exclude_id: int | None = None) -> list[LinkageRecord]:
    """Every linkage, by name (all but ``exclude_id`` when given)."""
    query = Linkage.select().order_by(Linkage.name)
    if exclude_id is not None:
        query = query.where(Linkage.id != exclude_id)
    return [_record(row) for row in query]


def insert(columns: dict[str, Any]) -> LinkageRecord:
    """Store a new linkage."""
    return _record(Linkage.create(**columns))


def update(linkage_id: int, columns: dict[str, Any]) -> LinkageRecord:
    """Change some columns of one linkage; the record as stored afterwards."""
    Linkage.update(**columns).where(Linkage.id == linkage_id).execute()
    return get_by_id(linkage_id)


def delete(linkage_id: int) -> None:
    """Delete the linkage row; its runs stay (unlinked), its collection lock goes."""
    CollectionRun.update(linkage=None).where(CollectionRun.linkage == linkage_id).execute()
    CollectionLock.delete().where(CollectionLock.linkage == linkage_id).execute()
    Linkage.delete().where(Linkage.id == linkage_id).execute()


def device_ids(linkage_id: int) -> list[int]:
    """The ids of the linkage's devices."""
    return [d.id for d in Device.select(Device.id).where(Device.linkage == linkage_id)]


def orphan_devices(linkage_id: int, name: str) -> None:
    """Keep the linkage's devices, marked orphaned and carrying its name."""
    Device.update(orphaned=True, linkage=None, linkage_name=name).where(Device.linkage == linkage_id).execute()


def rename_devices(db: Database, linkage_id: int, name: str) -> None:
    """The linkage's devices carry its new name; the software counts per linkage follow."""
    devices = f"SELECT id FROM device WHERE linkage_id = {db.param}"
    software.remove(db, devices, (linkage_id,))
    Device.update(linkage_name=name).where(Device.linkage == linkage_id).execute()
    software.add(db, devices, (linkage_id,))
    software.settle(db)


def device_counts() -> dict[int, int]:
    """Linkage id -> how many devices it has (linkages without devices left out)."""
    query = (Device.select(Device.linkage, fn.COUNT(Device.id))
             .where(Device.linkage.is_null(False)).group_by(Device.linkage).tuples())
    rows: list[tuple[int, int]] = list(query)  # type: ignore[arg-type]  # .tuples() yields tuples
    return {linkage_id: count for linkage_id, count in rows}
