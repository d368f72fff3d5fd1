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
from dataclasses import dataclass
from typing import Any

from mdmtui.identifiers import hardware_id, phone_key

IDENTITY_KEYS = ("serial_number", "udid", "imei")
SIM_FIELDS = ("phone_number", "iccid", "imsi")
MIN_KEY_LENGTH = 5
KEY_LABELS = {"serial_number": "serial number", "udid": "UDID", "imei": "IMEI"}


@dataclass(frozen=True, slots=True)
class Match:
    """A stored device that shares an identity key with a new MDM id."""

    device_id: int
    key: str  # one of IDENTITY_KEYS


def pick_reenrolments(candidates: Mapping[str, list[tuple[int, str]]], seen: set[int]) -> dict[str, Match]:
    """One stored device per new MDM id, only devices this run did not see, each claimed once.

    ``candidates``: new MDM id -> [(device id, key)] of the same linkage's devices sharing a key."""
    claimed: set[int] = set()
    picked: dict[str, Match] = {}
    for mdm_id in sorted(candidates):
        for device_id, key in candidates[mdm_id]:
            if device_id not in seen and device_id not in claimed:
                picked[mdm_id] = Match(device_id, key)
                claimed.add(device_id)
                break
    return picked


def pick_duplicates(candidates: Mapping[str, list[tuple[int, str]]]) -> dict[str, Match]:
    """The oldest device of another linkage per new MDM id (the first key in order wins a tie).

    ``candidates``: new MDM id -> [(oldest device id, key)], one per matching key, keys in order."""
    found: dict[str, Match] = {}
    for mdm_id, matches in candidates.items():
        for device_id, key in matches:
            if mdm_id not in found or device_id < found[mdm_id].device_id:
                found[mdm_id] = Match(device_id, key)
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
