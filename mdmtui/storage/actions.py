"""The ``device_action`` table and what an action reads and changes of a device.

Every action sent (or refused) is a row, written ahead of the send and updated with the MDM's
answer; a confirmed action forgets the device's change marker (and a wipe marks it "Warning").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from mdmtui.storage.models import Device, DeviceAction, Linkage
from mdmtui.storage.records import ActionDevice, ActionRecord, EarlierRequest, OpenAction, from_row

CHUNK = 500  # ids per IN (...): within every dialect's parameter limit


# ------------------------------------------------------------------------------------------ devices


def devices(ids: Sequence[int]) -> dict[int, ActionDevice]:
    """The devices of ``ids`` that exist, by id."""
    out: dict[int, ActionDevice] = {}
    wanted = list(ids)
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start:start + CHUNK]
        out.update({row.id: _device(row) for row in Device.select().where(Device.id.in_(chunk))})
    return out


def device(device_id: int) -> ActionDevice | None:
    """One device, or None when its information was deleted."""
    row = Device.get_or_none(Device.id == device_id)
    return None if row is None else _device(row)


def linkage_names(ids: Iterable[int]) -> dict[int, str]:
    """The names of the linkages of ``ids``, by id."""
    wanted = list(ids)
    return {row.id: row.name for row in Linkage.select(Linkage.id, Linkage.name).where(Linkage.id.in_(wanted))}


def record_effect(device_id: int, device_status: str | None) -> None:
    """A confirmed action: forget the change marker (the next collection fetches the details again); set
    the device status when given."""
    changes: dict[Any, Any] = {Device.change_marker: None}
    if device_status is not None:
        changes[Device.device_status] = device_status
    Device.update(changes).where(Device.id == device_id).execute()


def _device(row: Device) -> ActionDevice:
    return from_row(ActionDevice, row)


# ------------------------------------------------------------------------------------------ actions


def insert(**columns: Any) -> ActionRecord:
    """Store one action (the columns of ``DeviceAction`` but ``id``; ``device`` is the device's id)."""
    return _record(DeviceAction.create(**columns))


def update(action_id: int, **columns: Any) -> None:
    """Change the stored answer of one action."""
    DeviceAction.update(**columns).where(DeviceAction.id == action_id).execute()


def get(action_id: int) -> ActionRecord | None:
    """One action, or None."""
    row = DeviceAction.get_or_none(DeviceAction.id == action_id)
    return None if row is None else _record(row)


def earlier(action: ActionRecord, skipped_outcomes: Sequence[str]) -> EarlierRequest | None:
    """The previous request of the same action to the same device (outcomes in ``skipped_outcomes`` not
    counted), or None."""
    row = (DeviceAction.select(DeviceAction.requested_at, DeviceAction.updated_at, DeviceAction.outcome)
           .where(DeviceAction.device == action.device_id, DeviceAction.action == action.action,
                  DeviceAction.id < action.id, DeviceAction.outcome.not_in(list(skipped_outcomes)))
           .order_by(DeviceAction.id.desc()).first())
    return None if row is None else EarlierRequest(row.requested_at, row.updated_at, row.outcome)


def open_actions(outcomes: Sequence[str], device_ids: Sequence[int] | None) -> list[OpenAction]:
    """Actions in ``outcomes`` whose device still exists, with the device, oldest first."""
    query = (DeviceAction.select(DeviceAction, Device).join(Device, on=(DeviceAction.device == Device.id))
             .where(DeviceAction.outcome.in_(list(outcomes))).order_by(DeviceAction.id))
    if device_ids is not None:
        query = query.where(DeviceAction.device.in_(list(device_ids)))
    return [OpenAction(_record(row), from_row(ActionDevice, row.device)) for row in query]  # joined: never None


def find(*, device_ids: Sequence[int] | None, outcomes: Sequence[str] | None, action: str | None,
           limit: int | None) -> list[ActionRecord]:
    """Actions, newest first."""
    query = DeviceAction.select().order_by(DeviceAction.requested_at.desc(), DeviceAction.id.desc())
    if device_ids is not None:
        query = query.where(DeviceAction.device.in_(list(device_ids)))
    if outcomes:
        query = query.where(DeviceAction.outcome.in_(list(outcomes)))
    if action is not None:
        query = query.where(DeviceAction.action == action)
    if limit is not None:
        query = query.limit(limit)
    return [_record(row) for row in query]


def _record(row: DeviceAction) -> ActionRecord:
    return from_row(ActionRecord, row)
