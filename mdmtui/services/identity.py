"""Device identity across collections: re-enrolment, SIM swaps and one device seen through two linkages.

A device is (linkage, MDM device id). Beyond that:
- **Re-enrolled**: a new MDM id whose serial number, UDID or IMEI equals that of a device of the same
  linkage that the run did *not* see under its old id. It stays that device (its MDM id changes).
- **SIM swap**: the same device (same IMEI) with a new phone number, ICCID or IMSI. Values are
  compared in canonical form (``identifiers``): an IMEI sent grouped, or a number sent as
  ``090-1234-5678`` instead of ``+819012345678``, is the same value, not a swap.
- **Duplicate**: a new device whose serial, UDID or IMEI equals a device of *another* linkage. It is
  flagged (``duplicate_of``), never merged: the two linkages may both need it to act on the device.

Values shorter than ``MIN_KEY_LENGTH`` are ignored for matching: placeholders such as "0" or "N/A"
would otherwise merge unrelated devices.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from peewee import Database

from mdmtui.identifiers import hardware_id, phone_key

IDENTITY_KEYS = ("serial_number", "udid", "imei")
SIM_FIELDS = ("phone_number", "iccid", "imsi")
MIN_KEY_LENGTH = 5


def reenrolment_candidates(db: Database, stage_table: str, linkage_id: int) -> dict[str, list[tuple[int, str]]]:
    """New MDM id -> [(device id, matching key)] of stored devices of the same linkage sharing a key."""
    found: dict[str, list[tuple[int, str]]] = {}
    for key in IDENTITY_KEYS:
        sql = (f"SELECT s.mdm_device_id, d.id FROM {stage_table} s JOIN device d "
               f"ON d.{key} = s.{key} AND d.linkage_id = {db.param} "
               f"WHERE LENGTH(s.{key}) >= {MIN_KEY_LENGTH} ORDER BY d.id")
        for mdm_id, device_id in db.execute_sql(sql, (linkage_id,)).fetchall():
            found.setdefault(mdm_id, []).append((device_id, key))
    return found


def pick_reenrolments(candidates: Mapping[str, list[tuple[int, str]]], seen: set[int]) -> dict[str, tuple[int, str]]:
    """One stored device per new MDM id, only devices this run did not see, each claimed once."""
    claimed: set[int] = set()
    picked: dict[str, tuple[int, str]] = {}
    for mdm_id in sorted(candidates):
        for device_id, key in candidates[mdm_id]:
            if device_id not in seen and device_id not in claimed:
                picked[mdm_id] = (device_id, key)
                claimed.add(device_id)
                break
    return picked


def duplicates(db: Database, stage_table: str, linkage_id: int) -> dict[str, tuple[int, str]]:
    """New MDM id -> (device id, key) of the oldest device of another linkage sharing a key."""
    found: dict[str, tuple[int, str]] = {}
    for key in IDENTITY_KEYS:
        sql = (f"SELECT s.mdm_device_id, MIN(d.id) FROM {stage_table} s JOIN device d "
               f"ON d.{key} = s.{key} AND d.linkage_id <> {db.param} "
               f"WHERE LENGTH(s.{key}) >= {MIN_KEY_LENGTH} GROUP BY s.mdm_device_id")
        for mdm_id, device_id in db.execute_sql(sql, (linkage_id,)).fetchall():
            if mdm_id not in found or device_id < found[mdm_id][0]:
                found[mdm_id] = (device_id, key)
    return found


def sim_swap(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """The SIM fields that changed on the same IMEI (empty when this is no SIM swap)."""
    imei = hardware_id(new.get("imei"))
    if not imei or hardware_id(old.get("imei")) != imei:
        return []
    return [(f, old.get(f), new.get(f)) for f in SIM_FIELDS
            if old.get(f) is not None and new.get(f) is not None and _sim_key(f, old[f]) != _sim_key(f, new[f])]


def _sim_key(field: str, value: Any) -> str | None:
    """A SIM field's value as compared: phone numbers by E.164, the card's numbers by their digits."""
    return phone_key(value) if field == "phone_number" else hardware_id(value)


KEY_LABELS = {"serial_number": "serial number", "udid": "UDID", "imei": "IMEI"}
