"""The queries behind naming devices (``services/lookup.py``): the candidates for what an admin typed, by
every identifier at once through the indexed columns, and their asset numbers and assigned users.

The service decides which kinds a term is tried as and which candidate it names; storage only finds them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from peewee import fn

from mdmtui.storage import devices
from mdmtui.storage.devices import StoredDevice, tuples
from mdmtui.storage.models import AssetInfo, Device

CHUNK = 100  # ids per query: the IN lists stay under SQLite's old 999-variable limit


@dataclass(slots=True)
class Wanted:
    """What to look for, per identifier kind (names, serials, MDM ids and users lower-cased)."""

    ids: list[int] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    serials: list[str] = field(default_factory=list)
    imeis: list[str] = field(default_factory=list)  # without separators, as stored
    iccids: list[str] = field(default_factory=list)
    mdm_ids: list[str] = field(default_factory=list)
    udids: list[str] = field(default_factory=list)  # each form to try (UDIDs are stored as the MDM sent them)
    users: list[str] = field(default_factory=list)  # the device's user or the assigned user of its asset info
    asset_numbers: list[str] = field(default_factory=list)
    phones: list[tuple[str, str]] = field(default_factory=list)  # (digits of the E.164 form, the text as typed)


def _condition(w: Wanted) -> Any:
    cond = Device.id.in_(w.ids or [-1])
    cond |= fn.LOWER(Device.computer_name).in_(w.names or [""])
    cond |= fn.LOWER(Device.serial_number).in_(w.serials or [""])
    cond |= Device.imei.in_(w.imeis or [""])
    cond |= Device.iccid.in_(w.iccids or [""])
    cond |= fn.LOWER(Device.mdm_device_id).in_(w.mdm_ids or [""])
    cond |= Device.udid.in_(w.udids or [""])
    if w.users:
        cond |= fn.LOWER(Device.user_name).in_(w.users) | Device.id.in_(
            AssetInfo.select(AssetInfo.device).where(fn.LOWER(AssetInfo.assigned_user).in_(w.users)))
    if w.asset_numbers:
        cond |= Device.id.in_(AssetInfo.select(AssetInfo.device).where(
            fn.LOWER(AssetInfo.asset_number).in_(w.asset_numbers)))
    for digits, typed in w.phones:  # candidates by the indexed forms; the service decides
        cond |= Device.search_text.contains(digits) | (Device.phone_number == typed)
    return cond


def candidates(w: Wanted) -> list[StoredDevice]:
    """Every device that any of ``w`` may name (a superset: the service checks each)."""
    return devices.devices_where(_condition(w))


def first_candidates(w: Wanted, limit: int) -> list[StoredDevice]:
    """At most ``limit`` candidates by name, case-insensitively (unnamed ones last), then id."""
    order = (Device.computer_name.is_null(), fn.LOWER(Device.computer_name), Device.id)
    return devices.devices_where(_condition(w), order=order, limit=limit)


def count_candidates(w: Wanted) -> int:
    """How many devices any of ``w`` may name."""
    return devices.count_where(_condition(w))


def assets(device_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """device id -> (asset number, assigned user), lower-cased, of those devices that have asset information."""
    ids = list(device_ids)
    found: dict[int, tuple[str, str]] = {}
    for start in range(0, len(ids), CHUNK):
        query = AssetInfo.select(AssetInfo.device, AssetInfo.asset_number, AssetInfo.assigned_user).where(
            AssetInfo.device.in_(ids[start:start + CHUNK]))
        for device_id, number, user in tuples(query):
            found[device_id] = ((number or "").lower(), (user or "").lower())
    return found
