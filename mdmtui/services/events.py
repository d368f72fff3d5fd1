"""Events the admin should see at the start of a triage session (the console's events view)."""

from __future__ import annotations

from mdmtui.storage.models import Event, utcnow
from mdmtui.storage.storable import clean

KINDS = {
    "new_device": "New device discovered",
    "missing": "Device missing from its MDM",
    "returned": "Device back in its MDM",
    "sim_swap": "SIM swapped",
    "reenrolled": "Device re-enrolled",
    "duplicate": "Device seen through two linkages",
    "collection_failed": "Collection failed",
    "action_failed": "Action failed",
    "action_pending": "Action still pending",
    "approval_requested": "Request waiting for a second admin",
    "approval_decided": "Request approved, rejected or expired",
}


def emit(kind: str, message: str, *, linkage_name: str | None = None, device_id: int | None = None) -> Event:
    """Record one event (unread)."""
    if kind not in KINDS:
        raise ValueError(f"unknown event kind {kind!r}")
    return Event.create(at=utcnow(), kind=kind, message=clean(message), linkage_name=linkage_name, device_id=device_id)


def unread_count() -> int:
    """How many events the admin has not seen yet."""
    return Event.select().where(Event.read == False).count()  # noqa: E712


def recent(limit: int = 500, *, kind: str | None = None, unread_only: bool = False) -> list[Event]:
    """The newest events first."""
    query = Event.select().order_by(Event.at.desc(), Event.id.desc()).limit(limit)
    if kind:
        query = query.where(Event.kind == kind)
    if unread_only:
        query = query.where(Event.read == False)  # noqa: E712
    return list(query)


def mark_read(ids: list[int] | None = None) -> int:
    """Mark the given events (or all) as read; returns how many changed."""
    query = Event.update(read=True).where(Event.read == False)  # noqa: E712
    if ids is not None:
        query = query.where(Event.id.in_(ids))
    return query.execute()
