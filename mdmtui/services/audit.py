"""The append-only audit log: in the database and mirrored as JSON lines to a file.

There is deliberately no function here that edits or deletes an entry, and storage's ``AuditEvent``
model refuses updates and deletions (see the models in mdmtui/storage).
"""

from __future__ import annotations

import json
import logging
import re
from datetime import date, datetime, time, timedelta, UTC
from typing import Any

from mdmtui.clock import utcnow
from mdmtui.config import open_private, private_dir
from mdmtui.errors import UsageError
from mdmtui.formatting import clip, terminal_safe_json
from mdmtui.storage import audit as stored
from mdmtui.storage.records import AuditRecord
from mdmtui.storage.storable import clean
from mdmtui.services.context import Context

log = logging.getLogger(__name__)

CATEGORIES = {
    "action": "lock, wipe or passcode reset of a device",
    "collection": "a collection run of a linkage",
    "settings": "a change of settings (linkages, schedules, properties)",
    "deletion": "deletion of device information",
    "access": "a command the OS user's role does not allow (refused)",
    "approval": "a two-person-rule request: asked, approved, rejected or expired",
}

# Keys whose string values are secrets; placeholders that only say a secret exists may stay.
_SECRET_KEY = re.compile(r"pass(word|code|phrase)?|secret|token|credential|api[_-]?key|private[_-]?key", re.I)
_PLACEHOLDERS = {"", "***", "(set)", "(changed)", "(unchanged)", "(removed)"}
_RELATIVE = re.compile(r"^(\d+)\s*([mhdw])$", re.I)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MESSAGE_CHARS = 2_000  # of an entry's message: one that quotes a huge value keeps its head and says the rest


def record(ctx: Context, *, category: str, action: str, outcome: str, message: str | None = None,
           linkage_name: str | None = None, device: Any = None, mdm_device_id: str | None = None,
           options: dict[str, Any] | None = None, request_id: str | None = None,
           device_id: int | None = None, device_name: str | None = None,
           device_serial: str | None = None, approval_id: int | None = None) -> AuditRecord:
    """Append one audit event; secret-looking option values are masked before they are written.

    ``device`` is a device (a record or row with id, name, serial, linkage and MDM id); for device information already deleted, pass ``device_id``,
    ``device_name`` and ``device_serial`` instead.
    """
    if category not in CATEGORIES:
        raise ValueError(f"unknown audit category {category!r}; known: {', '.join(CATEGORIES)}")
    event = stored.insert(
        at=utcnow(), os_user=ctx.os_user, host=ctx.host, category=category, action=action,
        linkage_name=linkage_name or (device.linkage_name if device is not None else None),
        device_id=device.id if device is not None else device_id,
        device_name=device.computer_name if device is not None else device_name,
        device_serial=device.serial_number if device is not None else device_serial,
        mdm_device_id=mdm_device_id or (device.mdm_device_id if device is not None else None),
        options=json.dumps(scrub(options), ensure_ascii=False, sort_keys=True, default=str) if options else None,
        outcome=outcome, message=clean(clip(message, MESSAGE_CHARS)) if message else message,
        request_id=clean(request_id),
        approval_id=approval_id,
    )
    _mirror(ctx, event)
    return event


def scrub(value: Any, key: str = "") -> Any:
    """A copy of ``value`` with the string values of secret-looking keys masked."""
    if isinstance(value, dict):
        return {k: scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v, key) for v in value]
    if key and _SECRET_KEY.search(key) and not isinstance(value, (bool, int, float, type(None))):
        return value if isinstance(value, str) and value in _PLACEHOLDERS else "***"
    return value


def query(ctx: Context, *, device: str | int | None = None, action: str | None = None,
          since: datetime | None = None, until: datetime | None = None, category: str | None = None,
          outcome: str | None = None, linkage: str | None = None, limit: int | None = 500) -> list[AuditRecord]:
    """Audit events, newest first, filtered.

    ``device`` matches the device id (a number), or its name, serial or MDM id (case-insensitive)
    as recorded at the time, so entries of deleted devices stay findable.
    """
    if category is not None and category not in CATEGORIES:
        raise UsageError(f"unknown audit category {category!r}; choose from: {', '.join(CATEGORIES)}")
    # the CLI spells actions with hyphens (reset-passcode), the log with underscores
    actions = frozenset({action.lower(), action.lower().replace("-", "_")}) if action else None
    return stored.find(stored.AuditQuery(device=device, actions=actions, category=category,
                                           outcome=outcome.lower() if outcome else None, linkage=linkage,
                                           since=since, until=until, limit=limit))


def entries_of_request(request_id: int, since: datetime) -> list[AuditRecord]:
    """Every entry of one two-person-rule request recorded from ``since`` on, oldest first."""
    return stored.find(stored.AuditQuery(approval_id=request_id, since=since, limit=None, oldest_first=True))


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """A lower time bound from ``7d``/``12h``/``30m``/``2w``, an ISO date or a local ISO date-time."""
    text = text.strip()
    rel = _RELATIVE.match(text)
    if rel:
        return (now or utcnow()) - timedelta(**{_UNITS[rel.group(2).lower()]: int(rel.group(1))})
    try:
        if len(text) == 10:
            value = datetime.combine(date.fromisoformat(text), time())
        else:
            value = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--since {text!r}: use e.g. 7d, 12h, 30m, 2024-05-01 or 2024-05-01T09:00") from None
    if value.tzinfo is None:  # the admin types the server's local time
        value = value.astimezone()
    return value.astimezone(UTC)


def as_dict(event: AuditRecord) -> dict[str, Any]:
    """One audit event as plain data (the mirror line and the --json output)."""
    return {
        "id": event.id, "at": event.at.isoformat(), "os_user": event.os_user, "host": event.host,
        "category": event.category, "action": event.action, "linkage": event.linkage_name,
        "device_id": event.device_id, "device_name": event.device_name,
        "device_serial": event.device_serial, "mdm_device_id": event.mdm_device_id,
        "options": json.loads(event.options) if event.options else None,
        "outcome": event.outcome, "message": event.message, "request_id": event.request_id,
        "approval_id": event.approval_id,
    }


def _mirror(ctx: Context, event: AuditRecord) -> None:
    try:
        path = ctx.settings.audit_log_file
        private_dir(path.parent)
        with open_private(path) as fh:
            fh.write(terminal_safe_json(json.dumps(as_dict(event), ensure_ascii=False)) + "\n")
    except OSError as exc:  # the database copy is authoritative; say so in the log
        log.error("cannot mirror audit event %s to %s: %s", event.id, ctx.settings.audit_log_file, exc)
