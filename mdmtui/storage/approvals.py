"""The ``approval_request`` table: two-person-rule requests, claimed by one conditional UPDATE."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mdmtui.storage.models import ApprovalRequest
from mdmtui.storage.records import ApprovalRecord, from_row


def insert(**columns: Any) -> ApprovalRecord:
    """Store one request (the columns of ``ApprovalRequest`` but ``id``; ``device`` is the device's id)."""
    return _record(ApprovalRequest.create(**columns))


def get(request_id: int) -> ApprovalRecord | None:
    """One request, or None."""
    row = ApprovalRequest.get_or_none(ApprovalRequest.id == request_id)
    return None if row is None else _record(row)


def find(*, pending_only: bool, limit: int) -> list[ApprovalRecord]:
    """Requests, newest first."""
    query = ApprovalRequest.select().order_by(ApprovalRequest.id.desc()).limit(limit)
    if pending_only:
        query = query.where(ApprovalRequest.state == "pending")
    return [_record(row) for row in query]


def pending_count() -> int:
    """How many requests are pending."""
    return int(ApprovalRequest.select().where(ApprovalRequest.state == "pending").count())


def due(now: datetime) -> list[ApprovalRecord]:
    """Pending requests whose expiry is at or before ``now``."""
    query = ApprovalRequest.select().where(ApprovalRequest.state == "pending", ApprovalRequest.expires_at <= now)
    return [_record(row) for row in query]


def claim(request_id: int, state: str, *, decided_by: str | None, decided_host: str | None, decided_at: datetime,
          note: str | None, unexpired_at: datetime | None = None) -> bool:
    """Move a pending request (unexpired at ``unexpired_at``, when given) to ``state``; False when it was
    no longer pending: of two deciders at once, exactly one gets True."""
    query = ApprovalRequest.update(
        state=state, decided_by=decided_by, decided_host=decided_host, decided_at=decided_at, decision_note=note,
    ).where(ApprovalRequest.id == request_id, ApprovalRequest.state == "pending")
    if unexpired_at is not None:
        query = query.where(ApprovalRequest.expires_at > unexpired_at)
    return int(query.execute()) == 1


def set_action(request_id: int, action_id: int | None) -> None:
    """Link the request to the action row of its send."""
    ApprovalRequest.update(action_id=action_id).where(ApprovalRequest.id == request_id).execute()


def _record(row: ApprovalRequest) -> ApprovalRecord:
    return from_row(ApprovalRecord, row)
