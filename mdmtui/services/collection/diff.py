"""The diff of a collection: collected records against the stored state, in plain data (no database).

``diff_page`` sorts one page of records into new rows, changed rows and unchanged devices by fingerprint
(a hash of the collected items, then of the software); ``plan_updates`` turns the changes into the rows,
history entries, counts and events to stage, given the stored full rows. Both take and return dicts of
column values, lists and small dataclasses: the run reads and writes storage around them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mdmtui import capabilities, identifiers
from mdmtui.records import (
    COLLECTED_FIELDS, MANAGEMENT_STATUS, MANAGEMENT_TYPE, STATUS_UNKNOWN, STATUS_WARNING, DeviceRecord, OsClass,
    SoftwareItem,
)
from mdmtui.services.collection import identity
from mdmtui.services.collection.report import Event, label
from mdmtui.storage import search_index

# Items that change at nearly every contact: they update the row but write no history entry.
HISTORY_SKIP = frozenset({"last_alive_at", "ram_free_bytes", "storage_free_bytes", "sd_free_bytes"})
HARDWARE_IDS = ("imei", "iccid")  # stored without separators, whichever connector built the record
DIFF_FIELDS = COLLECTED_FIELDS + ("os_class", "mdm_device_id")
SEARCHED = search_index.SEARCHED  # the columns of search_text (the index reads the same when it is unset)
search_text = search_index.search_text

Row = dict[str, Any]
History = tuple[int, str, "str | None", "str | None"]  # device id, field, old text, new text


@dataclass(frozen=True, slots=True)
class Target:
    """Where the records go: the linkage and the run's time."""

    linkage_id: int
    linkage_name: str
    auto_manage: bool
    now: datetime


@dataclass(slots=True)
class Change:
    """A stored device whose row must be rewritten."""

    device_id: int
    stored: Mapping[str, Any]  # the narrow stored row the comparison read
    row: Row  # the merged values to write
    software: list[SoftwareItem] | None  # None: the stored software stays


@dataclass(slots=True)
class PageDiff:
    """What one page calls for."""

    new_rows: list[Row] = field(default_factory=list)
    new_software: list[tuple[str, list[SoftwareItem]]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    unchanged: int = 0
    seen: set[int] = field(default_factory=set)  # stored devices this page showed
    new_ids: set[str] = field(default_factory=set)  # MDM ids this page adds


@dataclass(slots=True)
class UpdatePlan:
    """The updates of a page's changes, ready to stage, with what they count and announce."""

    updates: list[tuple[int, Row, bool]] = field(default_factory=list)  # (device id, row, re-registered)
    history: list[History] = field(default_factory=list)
    software: list[tuple[str, list[SoftwareItem]]] = field(default_factory=list)
    changed: int = 0
    returned: int = 0
    warning_cleared: int = 0
    events: list[Event] = field(default_factory=list)


def diff_page(records: Sequence[DeviceRecord], stored: Mapping[str, Mapping[str, Any]], target: Target,
              seen: set[int] | frozenset[int] = frozenset(), new_ids: set[str] | frozenset[str] = frozenset()
              ) -> PageDiff:
    """Sort a page: ``stored`` maps MDM id -> narrow stored row; ``seen`` and ``new_ids`` are the run's so far
    (a device the connector repeats is taken once)."""
    out = PageDiff()
    for record in records:
        known = stored.get(record.mdm_device_id)
        if known is None:
            if record.mdm_device_id not in new_ids and record.mdm_device_id not in out.new_ids:
                out.new_ids.add(record.mdm_device_id)
                out.new_rows.append(new_row(record, target))
            if record.mdm_device_id in out.new_ids and record.software is not None:
                # a repeat within the page stages its software too (as ever: the apply writes what is staged)
                out.new_software.append((record.mdm_device_id, record.software))
            continue
        if known["id"] in seen or known["id"] in out.seen:
            continue
        out.seen.add(known["id"])
        change = compare(known, record, target)
        if change is None:
            out.unchanged += 1
        else:
            out.changes.append(change)
    return out


def compare(stored: Mapping[str, Any], record: DeviceRecord, target: Target) -> Change | None:
    """None when the stored row already says everything; else the row to write."""
    values = collected_values(record, stored)
    stored_software = stored_software_hash(stored["fingerprint"])
    software = software_hash(record.software) if record.software is not None else stored_software
    fp = fingerprint(values, software)
    if (fp == stored["fingerprint"] and record.change_marker == stored["change_marker"]
            and stored["missing_since"] is None and _set_values_ok(stored, target.linkage_name)):
        return None
    values.update(set_values(record), mdm_device_id=record.mdm_device_id, linkage_name=target.linkage_name,
                  change_marker=record.change_marker, fingerprint=fp, last_collected_at=target.now,
                  missing_since=None, orphaned=False, search_text=search_text(values))
    replaced = record.software if record.software is not None and software != stored_software else None
    return Change(stored["id"], stored, values, replaced)


def new_row(record: DeviceRecord, target: Target) -> Row:
    """Every column of a device seen for the first time."""
    row = collected_values(record, None)
    row.update(set_values(record), mdm_device_id=record.mdm_device_id, linkage_id=target.linkage_id,
               linkage_name=target.linkage_name, change_marker=record.change_marker,
               fingerprint=fingerprint(row, software_hash(record.software)),
               device_status=STATUS_UNKNOWN, managed=target.auto_manage, first_seen_at=target.now,
               last_collected_at=target.now, missing_since=None, duplicate_of=None, orphaned=False,
               search_text=search_text(row))
    return row


def plan_updates(changes: Sequence[Change], old_rows: Mapping[int, Mapping[str, Any]],
                 wiped: Mapping[int, datetime], linkage_name: str) -> UpdatePlan:
    """The updates of ``changes`` given the stored full rows (a device deleted meanwhile is left out) and
    when each wiped device's wipe was confirmed."""
    plan = UpdatePlan()
    for change in changes:
        if change.software is not None:  # staged even for a device deleted meanwhile (the apply skips it)
            plan.software.append((change.row["mdm_device_id"], change.software))
        old = old_rows.get(change.device_id)
        if old is None:
            continue  # deleted by the admin meanwhile: nothing to update
        plan.history += history(change.device_id, old, change.row)
        again = reregistered(old, change.row, wiped.get(change.device_id))
        plan.updates.append((change.device_id, change.row, again))
        _note_change(plan, change, old, again, linkage_name)
    return plan


def _note_change(plan: UpdatePlan, change: Change, old: Mapping[str, Any], again: bool, linkage_name: str) -> None:
    """Count the change and keep the events it calls for."""
    name = label(old)
    if change.stored["missing_since"] is not None:
        plan.returned += 1
        plan.events.append(Event("returned", f"{name} is back in {linkage_name}", change.device_id))
    else:
        plan.changed += 1
    swapped = identity.sim_swap(old, change.row)
    if swapped:
        what = ", ".join(f"{f.replace('_', ' ')} {o} → {n}" for f, o, n in swapped)
        plan.events.append(Event("sim_swap", f"SIM swapped on {name} (IMEI {old.get('imei')}): {what}",
                                 change.device_id))
    if again and old.get("device_status") == STATUS_WARNING:
        plan.warning_cleared += 1


def history(device_id: int, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[History]:
    """The history entries of rewriting ``old`` as ``new`` (items that change at every contact left out)."""
    return [(device_id, name, _text(old.get(name)), _text(new.get(name))) for name in DIFF_FIELDS
            if name not in HISTORY_SKIP and _differs(old.get(name), new.get(name))]


def reregistered(old: Mapping[str, Any], new: Mapping[str, Any], wipe_confirmed_at: datetime | None) -> bool:
    """A wiped device re-registered: the MDM shows a contact after the wipe was confirmed."""
    contact = new.get("last_alive_at")
    if contact is None:
        return False
    since = wipe_confirmed_at or old.get("last_alive_at")
    return since is None or bool(contact > since)


def collected_values(record: DeviceRecord, stored: Mapping[str, Any] | None) -> Row:
    """The record's collected items; the ones it did not fetch keep the stored value (None if new)."""
    values = {f: getattr(record, f) for f in COLLECTED_FIELDS}
    for name in HARDWARE_IDS:  # records not built by mapping too: stored without separators
        values[name] = identifiers.hardware_id(values[name])
    for name in record.unfetched:
        if name in values:
            values[name] = stored.get(name) if stored is not None else None
    return values


def set_values(record: DeviceRecord) -> Row:
    """The items set (not collected) on every collected device."""
    return {"os_class": OsClass(record.os_class).value, "management_type": MANAGEMENT_TYPE,
            "management_status": MANAGEMENT_STATUS,
            "consumes_license": capabilities.consumes_license(record.os_class)}


def _set_values_ok(stored: Mapping[str, Any], linkage_name: str) -> bool:
    return bool(stored["management_type"] == MANAGEMENT_TYPE and stored["management_status"] == MANAGEMENT_STATUS
                and stored["device_status"] in (STATUS_UNKNOWN, STATUS_WARNING)
                and stored["linkage_name"] == linkage_name)


def fingerprint(values: Mapping[str, Any], software_hash: str) -> str:
    """A hash of the collected items, then of the software: equal fingerprints mean nothing to write."""
    text = "\x1f".join(_canonical(values.get(f)) for f in COLLECTED_FIELDS)
    return "f" + hashlib.blake2b(text.encode(), digest_size=16).hexdigest() + "s" + software_hash


def software_hash(software: Sequence[SoftwareItem] | None) -> str:
    """The software part of a fingerprint ("-": not collected)."""
    if software is None:
        return "-"
    text = "\x1e".join(sorted(f"{s.name}\x1f{s.version}\x1f{s.vendor}" for s in software))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def stored_software_hash(stored_fingerprint: str | None) -> str:
    """The software part of a stored fingerprint."""
    if not stored_fingerprint or "s" not in stored_fingerprint[1:]:
        return "-"
    return stored_fingerprint[stored_fingerprint.index("s", 1) + 1:]


def _canonical(value: Any) -> str:
    if value is None:
        return "\x00"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return repr(value)


def _differs(old: Any, new: Any) -> bool:
    if isinstance(old, datetime) and isinstance(new, datetime):
        return old.astimezone(UTC) != new.astimezone(UTC)
    return bool(old != new)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return str(value)
