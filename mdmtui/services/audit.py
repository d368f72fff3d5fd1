"""The append-only audit log: in the database and mirrored as JSON lines to a file."""

from __future__ import annotations

import json
import logging
from typing import Any

from mdmtui.models import AuditEvent, utcnow
from mdmtui.services.context import Context

log = logging.getLogger(__name__)


def record(ctx: Context, *, category: str, action: str, outcome: str, message: str | None = None,
           linkage_name: str | None = None, device=None, mdm_device_id: str | None = None,
           options: dict[str, Any] | None = None, request_id: str | None = None) -> AuditEvent:
    """Append one audit event (never pass secrets in ``options`` or ``message``)."""
    event = AuditEvent.create(
        at=utcnow(), os_user=ctx.os_user, host=ctx.host, category=category, action=action,
        linkage_name=linkage_name or (device.linkage_name if device is not None else None),
        device_id=device.id if device is not None else None,
        device_name=device.computer_name if device is not None else None,
        device_serial=device.serial_number if device is not None else None,
        mdm_device_id=mdm_device_id or (device.mdm_device_id if device is not None else None),
        options=json.dumps(options, ensure_ascii=False, sort_keys=True) if options else None,
        outcome=outcome, message=message, request_id=request_id,
    )
    _mirror(ctx, event)
    return event


def _mirror(ctx: Context, event: AuditEvent) -> None:
    line = {
        "id": event.id, "at": event.at.isoformat(), "os_user": event.os_user, "host": event.host,
        "category": event.category, "action": event.action, "linkage": event.linkage_name,
        "device_id": event.device_id, "device_name": event.device_name,
        "device_serial": event.device_serial, "mdm_device_id": event.mdm_device_id,
        "options": json.loads(event.options) if event.options else None,
        "outcome": event.outcome, "message": event.message, "request_id": event.request_id,
    }
    try:
        ctx.settings.audit_log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(ctx.settings.audit_log_file, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")
    except OSError as exc:  # the database copy is authoritative; say so in the log
        log.error("cannot mirror audit event %s to %s: %s", event.id, ctx.settings.audit_log_file, exc)
