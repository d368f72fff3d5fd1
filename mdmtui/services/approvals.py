"""The two-person rule: an action becomes a request that another admin approves before it is sent.

A request records the device as it was when asked (MDM id, serial, IMEI, linkage). Approving checks
it is still that device, then claims the request with one conditional UPDATE (``WHERE state =
'pending'``): of two admins approving at once, on one server or several sharing PostgreSQL, exactly
one wins and sends, once, through ``control.act``. A request that was claimed but whose send never
got recorded (a crash) stays "approved, not sent" and is never sent again. Every step is an audit
entry carrying the request's id, as are the action's own entries, so the chain reads in one query.
"""

from __future__ import annotations

import dataclasses
import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mdmtui.clock import utcnow
from mdmtui.errors import ActionRefused, NotFoundError, UsageError
from mdmtui.records import Action, WipeOptions
from mdmtui.services import audit, control, events, roles
from mdmtui.services.context import Context
from mdmtui.storage import actions as stored_actions
from mdmtui.storage import approvals as stored
from mdmtui.storage.records import ApprovalRecord as ApprovalRecord  # callers name the records they get from here
from mdmtui.storage.records import ActionDevice, AuditRecord
from mdmtui.storage.transactions import transaction

MAX_JUSTIFICATION = 1024  # as Intune's Multi Admin Approval
STATES = ("pending", "approved", "rejected", "expired", "void")
_IDENTITY = (("mdm_device_id", "MDM id (re-enrolled?)"), ("serial_number", "serial number"),
             ("imei", "IMEI"), ("linkage_name", "linkage"))


@dataclass(slots=True)
class Approved:
    """An approved request and what the MDM answered to the one send."""

    request: ApprovalRecord
    outcomes: list[control.DeviceOutcome]


def check_justification(text: str | None, what: str = "justification") -> str:
    """The text, trimmed; UsageError when missing, too long or holding control characters."""
    cleaned = (text or "").strip()
    if not cleaned:
        raise UsageError(f"a {what} is required (why this must be done)")
    if len(cleaned) > MAX_JUSTIFICATION:
        raise UsageError(f"the {what} is {len(cleaned)} characters; at most {MAX_JUSTIFICATION}")
    if any(unicodedata.category(ch) == "Cc" for ch in cleaned):
        raise UsageError(f"the {what} must be one line of text, without control characters")
    return cleaned


# ------------------------------------------------------------------------------------------ asking


def create(ctx: Context, device_ids: Sequence[int], action: Action | str, justification: str | None,
           options: WipeOptions | None = None) -> list[ApprovalRecord]:
    """Ask for ``action`` on each device; one pending request per device, audited."""
    action = Action(action)
    roles.require(ctx, control.PERMISSIONS[action], target=f"request for {action.value}")
    text = check_justification(justification)
    devices = [_device(i) for i in dict.fromkeys(int(i) for i in device_ids)]
    for device in devices:  # a request that could never be sent is refused now, not after approval
        reason = control.refusal_for(ctx, device, action, options)
        if reason:
            raise ActionRefused(f"{device.computer_name or device.mdm_device_id}: {reason}")
    opts = control.options_record(action, options)
    now = utcnow()
    with transaction(ctx.db):
        return [_create_one(ctx, device, action, opts, text, now) for device in devices]


def _device(device_id: int) -> ActionDevice:
    device = stored_actions.device(device_id)
    if device is None:
        raise NotFoundError(f"no device with id {device_id} (it may have been deleted)")
    return device


def _create_one(ctx: Context, device: ActionDevice, action: Action, opts: dict[str, Any] | None, text: str,
                now: datetime) -> ApprovalRecord:
    expires = now + timedelta(hours=ctx.settings.roles.request_expiry_hours)
    row = stored.insert(
        action=action.value, options=json.dumps(opts, sort_keys=True) if opts else None, justification=text,
        device=device.id, device_name=device.computer_name, linkage_name=device.linkage_name,
        mdm_device_id=device.mdm_device_id, serial_number=device.serial_number, imei=device.imei,
        requested_by=ctx.os_user, requested_host=ctx.host, requested_at=now, expires_at=expires)
    _record(ctx, row, "request.create", "pending", f"{describe(row)} requested: {text}", device=device)
    events.emit("approval_requested", f"request #{row.id}: {describe(row)} asked by {ctx.os_user}, "
                "waiting for another admin", linkage_name=device.linkage_name, device_id=device.id)
    return row


def describe(row: ApprovalRecord) -> str:
    """"wipe of iPhone-12 (SDM 東京)" for messages."""
    label = control.ACTION_LABELS[Action(row.action)]
    return f"{label} of {row.device_name or row.mdm_device_id} ({row.linkage_name or 'no linkage'})"


# ----------------------------------------------------------------------------------------- reading


def get(ctx: Context, request_id: int) -> ApprovalRecord:
    """The request with this id, or NotFoundError."""
    row = stored.get(request_id)
    if row is None:
        raise NotFoundError(f"no request #{request_id} (mdmtui requests list --all shows every request)")
    return row


def list_requests(ctx: Context, *, pending_only: bool = True, limit: int = 200) -> list[ApprovalRecord]:
    """Requests, newest first (expired ones are marked first)."""
    expire_due(ctx)
    return stored.find(pending_only=pending_only, limit=limit)


def pending_count(ctx: Context) -> int:
    """How many requests wait for a decision (the console's header badge)."""
    expire_due(ctx)
    return stored.pending_count()


def send_outcome(row: ApprovalRecord) -> str | None:
    """The MDM's current answer to the request's send; "not sent" for a claim without a send."""
    if row.action_id is None:
        return "approved, not sent (interrupted?)" if row.state == "approved" else None
    action = stored_actions.get(row.action_id)
    return action.outcome if action else None


def chain(ctx: Context, request_id: int) -> list[AuditRecord]:
    """Every audit entry of one request, oldest first: asked, decided, and the MDM's answers."""
    row = get(ctx, request_id)
    return audit.entries_of_request(request_id, row.requested_at - timedelta(seconds=1))


def request_device(row: ApprovalRecord) -> ActionDevice | None:
    """The request's device as stored now; None when its information was deleted."""
    return stored_actions.device(row.device_id) if row.device_id else None


def device_changes(row: ApprovalRecord) -> list[str]:
    """How the device differs from when the request was made (empty: the same device)."""
    device = request_device(row)
    if device is None:
        return ["the device's information was deleted from the inventory"]
    changes = []
    for column, label in _IDENTITY:
        before, now = getattr(row, column), getattr(device, column)
        if (before or None) != (now or None):
            changes.append(f"{label}: {before or '(none)'} → {now or '(none)'}")
    return changes


# ---------------------------------------------------------------------------------------- deciding


def expire_due(ctx: Context, *, now: datetime | None = None) -> int:
    """Mark pending requests past their expiry as expired (audited); returns how many."""
    now = now or utcnow()
    expired = 0
    for row in stored.due(now):
        with transaction(ctx.db):
            if _claim(row, "expired", None, None, now, "no decision before the request expired"):
                expired += 1
                _record(ctx, row, "request.expire", "expired", f"{describe(row)}: expired unapproved")
                events.emit("approval_decided", f"request #{row.id}: {describe(row)} expired unapproved",
                            linkage_name=row.linkage_name, device_id=row.device_id)
    return expired


async def approve(ctx: Context, request_id: int, **act_options: Any) -> Approved:
    """Approve a pending request of another admin and send it once; ``act_options`` go to control.act.

    The database work runs in the storage's workers, off the caller's event loop (the console's).
    """
    async with ctx.storage.serial() as db:
        row = await db.run(_claim_approval, ctx, request_id)
        assert row.device_id is not None  # a request whose device is gone was voided by the claim
        outcomes = await control.act(ctx, [row.device_id], row.action, _options(row),
                                     approval=control.Approval(row.id, row.requested_by, ctx.os_user),
                                     **act_options)
        return await db.run(_record_sent, ctx, row, outcomes)


def _claim_approval(ctx: Context, request_id: int) -> ApprovalRecord:
    """Check and claim the request for this approver (exactly one approver wins), audited."""
    roles.require(ctx, roles.Permission.APPROVE, target=f"request #{request_id}")
    expire_due(ctx)
    row = get(ctx, request_id)
    _check_decidable(ctx, row, "approve")
    if row.requested_by == ctx.os_user:
        _refuse(ctx, row, "approve", f"{ctx.os_user} asked for it: another admin must approve it")
    if ctx.read_only:
        _refuse(ctx, row, "approve", "read-only mode: nothing is approved or sent")
    changes = device_changes(row)
    if changes:
        _void(ctx, row, changes)
    now = utcnow()
    with transaction(ctx.db):  # the claim and its audit entry exist together or not at all
        won = _claim(row, "approved", ctx, None, now, None, unexpired_at=now)
        if won:
            _record(ctx, row, "request.approve", "approved",
                    f"{describe(row)} approved by {ctx.os_user} (asked by {row.requested_by})")
    if not won:
        _lost_race(ctx, row)
    return row


def _record_sent(ctx: Context, row: ApprovalRecord, outcomes: list[control.DeviceOutcome]) -> Approved:
    stored.set_action(row.id, outcomes[0].action_id)
    events.emit("approval_decided", f"request #{row.id}: {describe(row)} approved by {ctx.os_user}, sent: "
                f"{outcomes[0].outcome.value}", linkage_name=row.linkage_name, device_id=row.device_id)
    return Approved(get(ctx, row.id), outcomes)


def reject(ctx: Context, request_id: int, reason: str | None = None) -> ApprovalRecord:
    """Reject a pending request (an admin), or withdraw one's own; nothing is sent."""
    row = get(ctx, request_id)
    if row.requested_by != ctx.os_user:
        roles.require(ctx, roles.Permission.APPROVE, target=f"request #{request_id}")
    expire_due(ctx)
    row = get(ctx, request_id)
    _check_decidable(ctx, row, "reject")
    note = check_justification(reason, "reason") if reason else None
    verb = "withdrawn" if row.requested_by == ctx.os_user else "rejected"
    with transaction(ctx.db):
        won = _claim(row, "rejected", ctx, note, utcnow(), None)
        if won:
            _record(ctx, row, "request.reject", "rejected",
                    f"{describe(row)} {verb} by {ctx.os_user}" + (f": {note}" if note else ""))
    if not won:
        _lost_race(ctx, row)
    events.emit("approval_decided", f"request #{row.id}: {describe(row)} {verb} by {ctx.os_user}",
                linkage_name=row.linkage_name, device_id=row.device_id)
    return get(ctx, row.id)


def _claim(row: ApprovalRecord, state: str, ctx: Context | None, note: str | None, now: datetime,
           default_note: str | None, *, unexpired_at: datetime | None = None) -> bool:
    """Move a pending request to ``state``; False when someone else decided it first."""
    return stored.claim(row.id, state, decided_by=ctx.os_user if ctx else None,
                        decided_host=ctx.host if ctx else None, decided_at=now, note=note or default_note,
                        unexpired_at=unexpired_at)


def _check_decidable(ctx: Context, row: ApprovalRecord, verb: str) -> None:
    if row.state != "pending":
        by = f" by {row.decided_by}" if row.decided_by else ""
        _refuse(ctx, row, verb, f"request #{row.id} is {row.state}{by}, no longer pending")


def _lost_race(ctx: Context, row: ApprovalRecord) -> None:
    fresh = get(ctx, row.id)
    by = f" by {fresh.decided_by}" if fresh.decided_by else ""
    _refuse(ctx, fresh, "decide", f"request #{row.id} was {fresh.state}{by} a moment ago; nothing was sent")


def _void(ctx: Context, row: ApprovalRecord, changes: list[str]) -> None:
    text = "; ".join(changes)
    with transaction(ctx.db):
        if _claim(row, "void", ctx, f"the device changed since the request: {text}", utcnow(), None):
            _record(ctx, row, "request.void", "refused", f"{describe(row)}: not sent, the device changed "
                    f"since the request: {text}")
    raise ActionRefused(f"request #{row.id} not approved: the device changed since the request ({text}); "
                        "nothing was sent; check it and ask again")


def _refuse(ctx: Context, row: ApprovalRecord, verb: str, reason: str) -> None:
    _record(ctx, row, f"request.{verb}", "refused", reason)
    raise ActionRefused(reason)


def _record(ctx: Context, row: ApprovalRecord, action: str, outcome: str, message: str, *,
            device: ActionDevice | None = None) -> None:
    audit.record(ctx, category="approval", action=action, outcome=outcome, message=message, device=device,
                 linkage_name=row.linkage_name, device_id=row.device_id, device_name=row.device_name,
                 device_serial=row.serial_number, mdm_device_id=row.mdm_device_id, approval_id=row.id,
                 options={"justification": row.justification, "requested_by": row.requested_by,
                          "expires_at": row.expires_at.isoformat()})


def _options(row: ApprovalRecord) -> WipeOptions | None:
    if Action(row.action) is not Action.WIPE:
        return None
    data = json.loads(row.options) if row.options else {}
    names = {f.name for f in dataclasses.fields(WipeOptions)}
    return WipeOptions(**{k: v for k, v in data.items() if k in names})
