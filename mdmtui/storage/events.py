"""The ``event`` table: what the admin should see when triage starts, read and unread."""

from __future__ import annotations

from mdmtui.clock import utcnow
from mdmtui.storage.models import Event
from mdmtui.storage.records import EventRecord, from_row


def insert(kind: str, message: str, linkage_name: str | None, device_id: int | None) -> EventRecord:
    """Store one unread event."""
    row = Event.create(at=utcnow(), kind=kind, message=message, linkage_name=linkage_name, device_id=device_id)
    return from_row(EventRecord, row)


def unread_count() -> int:
    """How many events are unread."""
    return int(Event.select().where(Event.read == False).count())  # noqa: E712


def recent(limit: int, kind: str | None, unread_only: bool) -> list[EventRecord]:
    """The newest events first."""
    query = Event.select().order_by(Event.at.desc(), Event.id.desc()).limit(limit)
    if kind:
        query = query.where(Event.kind == kind)
    if unread_only:
        query = query.where(Event.read == False)  # noqa: E712
    return [from_row(EventRecord, row) for row in query]


def mark_read(ids: list[int] | None) -> int:
    """Mark the given unread events (or all) as read; how many changed."""
    query = Event.update(read=True).where(Event.read == False)  # noqa: E712
    if ids is not None:
        query = query.where(Event.id.in_(ids))
    return int(query.execute())
