"""The ``collection_lock`` table: one row per linkage being collected, taken and handed over atomically."""

from __future__ import annotations

from datetime import datetime

from peewee import IntegrityError

from mdmtui.storage.models import CollectionLock
from mdmtui.storage.records import LockRecord, from_row


def holder(linkage_id: int) -> LockRecord | None:
    """The lock row of the linkage, or None when nobody holds it."""
    row = CollectionLock.get_or_none(CollectionLock.linkage == linkage_id)
    return None if row is None else from_row(LockRecord, row)


def insert(linkage_id: int, owner: str, host: str, pid: int, now: datetime) -> bool:
    """Take a free lock; False when a row exists already (the unique key refused it)."""
    try:
        with CollectionLock._meta.database.atomic():
            CollectionLock.create(linkage=linkage_id, owner=owner, host=host, pid=pid, acquired_at=now,
                                  heartbeat_at=now)
        return True
    except IntegrityError:
        return False


def take_over(seen: LockRecord, owner: str, host: str, pid: int, now: datetime) -> bool:
    """Compare-and-swap on (owner, heartbeat) as ``seen``: of two processes taking over, exactly one wins."""
    taken = CollectionLock.update(owner=owner, host=host, pid=pid, acquired_at=now, heartbeat_at=now).where(
        CollectionLock.linkage == seen.linkage_id, CollectionLock.owner == seen.owner,
        CollectionLock.heartbeat_at == seen.heartbeat_at).execute()
    return bool(taken)


def delete(linkage_id: int, owner: str) -> None:
    """Remove the lock if ``owner`` still holds it."""
    CollectionLock.delete().where(CollectionLock.linkage == linkage_id, CollectionLock.owner == owner).execute()


def beat(linkage_id: int, owner: str, now: datetime) -> bool:
    """Refresh the heartbeat if ``owner`` still holds it; False when it was taken over."""
    updated = CollectionLock.update(heartbeat_at=now).where(
        CollectionLock.linkage == linkage_id, CollectionLock.owner == owner).execute()
    return bool(updated)
