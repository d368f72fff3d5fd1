"""The ``audit_event`` table: append-only (the model refuses changes), written and read here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from peewee import fn

from mdmtui.storage.models import AuditEvent
from mdmtui.storage.records import AuditRecord, from_row


def insert(**columns: Any) -> AuditRecord:
    """Append one entry (the columns of ``AuditEvent`` but ``id``)."""
    return from_row(AuditRecord, AuditEvent.create(**columns))


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Which entries to read; None: any."""

    device: str | int | None = None  # the device id, or its name, serial or MDM id as recorded
    actions: frozenset[str] | None = None  # lower-cased action names
    category: str | None = None
    outcome: str | None = None
    linkage: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    approval_id: int | None = None
    limit: int | None = 500
    oldest_first: bool = False


def find(q: AuditQuery) -> list[AuditRecord]:
    """Entries matching ``q``, newest first (or oldest first by id)."""
    order = (AuditEvent.id,) if q.oldest_first else (AuditEvent.at.desc(), AuditEvent.id.desc())
    query = AuditEvent.select().order_by(*order)
    if q.device is not None:
        query = query.where(_device_match(q.device))
    if q.actions:
        query = query.where(fn.LOWER(AuditEvent.action).in_(sorted(q.actions)))
    if q.category:
        query = query.where(AuditEvent.category == q.category)
    if q.outcome:
        query = query.where(AuditEvent.outcome == q.outcome)
    if q.linkage:
        query = query.where(AuditEvent.linkage_name == q.linkage)
    if q.since is not None:
        query = query.where(AuditEvent.at >= q.since)
    if q.until is not None:
        query = query.where(AuditEvent.at < q.until)
    if q.approval_id is not None:
        query = query.where(AuditEvent.approval_id == q.approval_id)
    if q.limit is not None:
        query = query.limit(q.limit)
    return [from_row(AuditRecord, row) for row in query]


def _device_match(device: str | int) -> Any:
    text = str(device).strip()
    lowered = text.lower()
    cond = ((fn.LOWER(AuditEvent.device_name) == lowered) | (fn.LOWER(AuditEvent.device_serial) == lowered)
            | (fn.LOWER(AuditEvent.mdm_device_id) == lowered))
    if text.isdigit() and len(text) < 10:  # longer digit strings are serials or IMEIs, not ids
        cond = cond | (AuditEvent.device_id == int(text))
    return cond
