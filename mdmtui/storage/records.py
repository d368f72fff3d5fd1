"""Typed records the action side of storage hands out (never ORM rows): actions, requests, audit, events, locks.

Each record carries the attributes of its table that callers read, under the same names, so a service
can return one where it returned a row before. ``from_row`` builds one from a Peewee row; only storage
calls it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

R = TypeVar("R")


def from_row(cls: type[R], row: Any, **extra: Any) -> R:
    """A ``cls`` record from the same-named attributes of ``row`` (foreign keys by their ``_id``)."""
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    values = {name: extra[name] if name in extra else getattr(row, name) for name in names}
    return cls(**values)


@dataclass(slots=True)
class ActionDevice:
    """A device as an action needs it: identity, the state the rules read, and what an action changes."""

    id: int
    linkage_id: int | None
    linkage_name: str | None
    mdm_device_id: str
    os_class: str
    computer_name: str | None
    serial_number: str | None
    imei: str | None
    mdm_managed: bool | None
    mdm_status: str | None
    device_status: str | None
    change_marker: str | None


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """One action sent (or refused) to a device, with the MDM's latest answer."""

    id: int
    device_id: int | None
    linkage_name: str
    mdm_device_id: str
    device_name: str | None
    action: str
    options: str | None  # JSON, never secrets
    outcome: str
    message: str | None
    mdm_code: str | None
    http_status: int | None
    request_id: str | None
    reference: str | None
    os_user: str | None
    host: str | None
    requested_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class OpenAction:
    """A pending or unknown action and the device it was sent to (a follow-up's input)."""

    action: ActionRecord
    device: ActionDevice


@dataclass(frozen=True, slots=True)
class EarlierRequest:
    """The previous request of the same action to the same device."""

    requested_at: datetime
    updated_at: datetime
    outcome: str


@dataclass(frozen=True, slots=True)
class ApprovalRecord:
    """A two-person-rule request: the action asked, the device as it was then, and the decision."""

    id: int
    action: str
    options: str | None
    justification: str
    device_id: int | None
    device_name: str | None
    linkage_name: str | None
    mdm_device_id: str
    serial_number: str | None
    imei: str | None
    state: str
    requested_by: str
    requested_host: str
    requested_at: datetime
    expires_at: datetime
    decided_by: str | None
    decided_host: str | None
    decided_at: datetime | None
    decision_note: str | None
    action_id: int | None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One entry of the append-only audit log."""

    id: int
    at: datetime
    os_user: str
    host: str
    category: str
    action: str
    linkage_name: str | None
    device_id: int | None
    device_name: str | None
    device_serial: str | None
    mdm_device_id: str | None
    options: str | None  # JSON, never secrets
    outcome: str
    message: str | None
    request_id: str | None
    approval_id: int | None


@dataclass(frozen=True, slots=True)
class EventRecord:
    """Something the admin should see when triage starts."""

    id: int
    at: datetime
    kind: str
    linkage_name: str | None
    device_id: int | None
    message: str
    read: bool


@dataclass(frozen=True, slots=True)
class LockRecord:
    """The holder of a linkage's collection lock."""

    linkage_id: int
    owner: str  # host:pid:token
    host: str | None
    pid: int | None
    acquired_at: datetime
    heartbeat_at: datetime


@dataclass(frozen=True, slots=True)
class RunInfo:
    """One collection run as the schedule views show it."""

    started_at: datetime
    finished_at: datetime | None
    status: str  # running | succeeded | failed | cancelled | skipped
    trigger: str  # immediate | scheduled
    reason: str | None
    kind: str = "full"  # full | changed (changed-only)


@dataclass(frozen=True, slots=True)
class ScheduledLinkage:
    """A linkage's scheduling columns: what the daemon reads to decide which runs are owed."""

    id: int
    name: str
    enabled: bool
    schedule_start_at: str | None
    schedule_interval: str | None
    schedule_every: int | None
    schedule_weekdays: str | None
    schedule_month_day: int | None
    schedule_tz: str | None
    last_scheduled_run_at: datetime | None
    changed_schedule: str | None
    last_changed_run_at: datetime | None


@dataclass(frozen=True, slots=True)
class DaemonHeartbeat:
    """A scheduler daemon's latest heartbeat."""

    host: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
