"""Events the admin should see at the start of a triage session (the console's events view)."""

from __future__ import annotations

from mdmtui.storage import events as stored
from mdmtui.storage.records import EventRecord
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


def emit(kind: str, message: str, *, linkage_name: str | None = None, device_id: int | None = None) -> EventRecord:
    """Record one event (unread)."""
    if kind not in KINDS:
        raise ValueError(f"unknown event kind {kind!r}")
    return stored.insert(kind, clean(message) or "", linkage_name, device_id)


def unread_count() -> int:
    """How many events the admin has not seen yet."""
    return stored.unread_count()


def recent(limit: int = 500, *, kind: str | None = None, unread_only: bool = False) -> list[EventRecord]:
    """The newest events first."""
    return stored.recent(limit, kind, unread_only)


def mark_read(ids: list[int] | None = None) -> int:
    """Mark the given events (or all) as read; returns how many changed."""
    return stored.mark_read(ids)
