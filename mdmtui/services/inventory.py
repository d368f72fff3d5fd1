"""Inventory queries for the console and the CLI: filter, count, page, detail, software, history,
licenses, asset information and the explicit, audited deletion of device information.

Everything filters, sorts and pages in SQL, so a 100,000-device inventory answers a keystroke in a
few tens of milliseconds. Functions run on the caller's thread and connection (the console calls
them in thread workers inside ``db.connection_context()``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mdmtui import capabilities, filterlang, mapping
from mdmtui.clock import utcnow as utcnow  # the snapshot tests fix it here (the Overview reads it too)
from mdmtui.errors import ActionRefused, NotFoundError, UsageError
from mdmtui.formatting import printable
from mdmtui.records import OsClass
from mdmtui.services import audit, roles
from mdmtui.services.context import Context
from mdmtui.storage import devices as stored
from mdmtui.storage.devices import (  # noqa: F401 - the device list's vocabulary, for the callers of this service
    ACTION_STATES as ACTION_STATES,
    ASSET_FIELDS as ASSET_FIELDS,
    LIST_COLUMNS as LIST_COLUMNS,
    NOT_COLLECTED as NOT_COLLECTED,
    NOT_FINAL as NOT_FINAL,
    PAGE_ASSET_COLUMNS as PAGE_ASSET_COLUMNS,
    PAGE_COLUMNS as PAGE_COLUMNS,
    SECURITY_WEIGHTS as SECURITY_WEIGHTS,
    SORT_KEYS as SORT_KEYS,
    AssetRecord as AssetRecord,
    DeviceFilter as DeviceFilter,
    DeviceRow as DeviceRow,
    HistoryRow as HistoryRow,
    SoftwareRow as SoftwareRow,
    StoredDevice as StoredDevice,
)
from mdmtui.storage.interrupt import Interrupter  # noqa: F401 - the console stops stale counts with it

SECURITY_PROBLEMS = {
    "unmanaged": "profile removed / not MDM-managed",  # no command reaches it (capabilities.state_refusal)
    "passcode": "passcode not set",
    "jailbroken": "jailbroken / rooted",
    "unencrypted": "not encrypted",
    "stale": "not seen for a while",
}
_CHUNK = stored.CHUNK


# ------------------------------------------------------------------------------------------- listing


def count(f: DeviceFilter) -> int:
    """How many devices match."""
    return stored.count(f)


def page(f: DeviceFilter, offset: int = 0, limit: int = 100) -> list[DeviceRow]:
    """One page of matching devices in the filter's order (rows carry ``LIST_COLUMNS``, ``PAGE_COLUMNS``,
    the ``PAGE_ASSET_COLUMNS`` of their asset information and ``action_pending`` only)."""
    return stored.page(f, offset, limit)


def pending_action_count() -> int:
    """How many actions across the fleet are not yet final (the console's header badge)."""
    return stored.pending_action_count()


def ids(f: DeviceFilter) -> list[int]:
    """Every matching device id, in the filter's order (for bulk selection)."""
    return stored.ids(f)


def matching_devices(f: DeviceFilter) -> list[StoredDevice]:
    """Every matching device in full, by id (what a bulk deletion by filter lists and deletes)."""
    return stored.by_ids(stored.ids(f))


def iter_devices(f: DeviceFilter, chunk: int = 1000) -> Iterator[tuple[StoredDevice, AssetRecord | None]]:
    """Every matching device with all its items and asset information, in the filter's order, streamed.

    Only the ordered ids are held (a few MB at 100,000 devices); rows come in chunks by id.
    """
    return stored.iter_devices(f, chunk)


def filter_text(text: str | None, **fields: Any) -> DeviceFilter:
    """The DeviceFilter of a filter-language text (FilterError when it cannot be read)."""
    return DeviceFilter(terms=filterlang.parse(text), **fields)


def filter_terms(f: DeviceFilter) -> tuple[filterlang.Term, ...]:
    """The filter language's terms for everything ``f`` selects (its quick filters, text, one device and
    terms): ``filterlang.format`` of them is text the admin can read and edit in the ``/`` prompt."""
    Term = filterlang.Term
    terms: list[filterlang.Term] = []
    if f.device_id is not None:
        terms.append(Term(str(f.device_id), "id"))
    if f.text and f.text.strip():
        terms.append(Term(f.text.strip()))
    if f.linkage:
        terms.append(Term(f.linkage, "linkage", "="))
    if f.os_class:
        terms.append(Term(stored.os_class(f.os_class), "os"))
    if f.device_status:
        terms.append(Term(f.device_status, "status"))
    if f.missing is not None:
        terms.append(Term("yes" if f.missing else "no", "missing"))
    if f.security_problem:
        terms.append(Term("any" if f.security_problem is True else f.security_problem, "security"))
    return tuple(terms) + tuple(f.terms)


def filter_as_text(f: DeviceFilter) -> str:
    """``f`` as filter-language text (see ``filter_terms``); its sort is not part of it."""
    return filterlang.format(filter_terms(f))


def security_flags(device: Any, stale_days: int = 30, *, now: datetime | None = None) -> list[str]:
    """The device's security problems as short words; an item not collected is no problem."""
    flags = [state] if (state := _state_flag(device)) else []
    if getattr(device, "passcode_set", None) is False:
        flags.append("no passcode")
    if getattr(device, "jailbroken", None) is True:
        flags.append("jailbroken")
    if getattr(device, "encrypted", None) is False:
        flags.append("unencrypted")
    seen = getattr(device, "last_alive_at", None)
    if seen is not None and seen < (now or utcnow()) - timedelta(days=stale_days):
        flags.append(f"not seen {stale_days}d+")
    return flags


def _state_flag(device: Any) -> str | None:
    """The MDM's device state when it is not plain "managed": no profile, retired, wiped, lost..."""
    status = (getattr(device, "mdm_status", None) or "").strip().upper()
    if getattr(device, "mdm_managed", None) is False and status not in capabilities.NO_COMMAND_STATES:
        return "profile removed"
    if status and status != "ACTIVE":
        return f"{status.lower()} in MDM"
    return None


# -------------------------------------------------------------------------------------------- detail


@dataclass
class DeviceDetail:
    """One device: its items grouped as the spec groups them, only those its source can deliver."""

    device: StoredDevice
    title: str
    groups: dict[str, list[tuple[str, Any]]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for --json (label -> value per group)."""
        return {"id": self.device.id, "title": self.title,
                "groups": {g: {label: value for label, value in items} for g, items in self.groups.items()}}


def get_device(device_id: int) -> StoredDevice:
    """The device with this id, or NotFoundError."""
    device = stored.get_device(device_id)
    if device is None:
        raise NotFoundError(f"no device with id {device_id} (it may have been deleted)")
    return device


def device_detail(device_id: int) -> DeviceDetail:
    """Every item of a device, grouped: System, Computer, BIOS, OS, Network, Smart device, Memory,
    Hard disk, Status, Asset information and Collection."""
    device = get_device(device_id)
    os_class = stored.os_class(device.os_class)
    groups: dict[str, list[tuple[str, Any]]] = {"System": [
        ("Device Type", device.device_type), ("Management Type", device.management_type),
        ("Management Status", device.management_status), ("Device Status", device.device_status),
        ("Management target", device.managed), ("Uses a license", device.consumes_license),
    ]}
    for item in mapping.ITEMS:
        if OsClass(os_class) in item.available and item.field != "device_type":
            groups.setdefault(item.group, []).append((item.name, getattr(device, item.field)))
    groups["Asset information"] = [(label, value) for label, value in _asset_pairs(device)]
    groups["Collection"] = _collection_pairs(device)
    return DeviceDetail(device, device.computer_name or device.serial_number or device.mdm_device_id, groups)


def _asset_pairs(device: StoredDevice) -> list[tuple[str, Any]]:
    info = asset_info(device.id)
    labels = {"asset_number": "Asset number", "department": "Department", "location": "Location",
              "assigned_user": "Assigned user", "notes": "Notes"}
    return [(labels[k], info[k]) for k in ASSET_FIELDS]


def _collection_pairs(device: StoredDevice) -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = [
        ("Linkage", device.linkage_name), ("OS class", device.os_class), ("MDM device id", device.mdm_device_id),
        ("First seen", device.first_seen_at), ("Last changed by a collection", device.last_collected_at),
        ("Missing from MDM since", device.missing_since),
    ]
    if device.duplicate_of:
        other = stored.get_device(device.duplicate_of)
        where = f"device {device.duplicate_of}" + (f" of {other.linkage_name}" if other else " (deleted)")
        pairs.append(("Also seen as", where))
    if device.orphaned:
        pairs.append(("Linkage removed", True))
    return pairs


def software_of(device_id: int, text: str | None = None, offset: int = 0,
                limit: int = 200) -> tuple[int, list[SoftwareRow]]:
    """(how many items match, one page of them by name) of a device's software."""
    return stored.software_of(device_id, text, offset, limit)


def history_of(device_id: int, limit: int = 500) -> list[HistoryRow]:
    """The field changes collections recorded for a device, newest first."""
    return stored.history_of(device_id, limit)


# ------------------------------------------------------------------------------------------ licenses


@dataclass
class LicenseRow:
    """License use of one linkage."""

    linkage: str
    system: str
    managed: int  # devices that are management targets
    licenses: int  # of those, the ones that use a license (not Intune)
    missing: int  # of the licensed ones, missing from their MDM (still counted until deleted)


@dataclass
class LicenseUsage:
    """License use per linkage and in total."""

    rows: list[LicenseRow]

    @property
    def managed(self) -> int:
        return sum(r.managed for r in self.rows)

    @property
    def licenses(self) -> int:
        return sum(r.licenses for r in self.rows)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for --json."""
        return {"linkages": [r.__dict__ for r in self.rows], "managed": self.managed, "licenses": self.licenses}


def licenses(ctx: Context | None = None) -> LicenseUsage:
    """One license per managed smart device; devices managed through Intune use none.

    A device missing from its MDM keeps its license until its information is deleted.
    """
    rows = [LicenseRow(c.linkage_name or "(no linkage)", c.system or "removed", c.managed, c.licenses, c.missing)
            for c in stored.license_counts()]
    return LicenseUsage(rows)


# ----------------------------------------------------------------------------- asset info, deletion


def asset_info(device_id: int) -> dict[str, str | None]:
    """The asset information the admin keeps for a device (None for fields never set)."""
    row = stored.asset_info(device_id)
    return {k: getattr(row, k) if row else None for k in ASSET_FIELDS}


def set_asset_info(ctx: Context, device_id: int, **fields: str | None) -> dict[str, str | None]:
    """Save asset information (kept across collections); audited as a settings change."""
    if ctx.read_only:
        raise ActionRefused("read-only mode: asset information cannot be changed")
    roles.require(ctx, roles.Permission.ASSET_EDIT, target=f"asset information of device {device_id}")
    unknown = set(fields) - set(ASSET_FIELDS)
    if unknown:
        raise UsageError(f"unknown asset field(s) {', '.join(sorted(unknown))}: use {', '.join(ASSET_FIELDS)}")
    cleaned = {k: (v.strip() or None) if isinstance(v, str) else v for k, v in fields.items()}
    for key, value in cleaned.items():  # typed by an admin: refused, not silently changed (lines in notes are fine)
        if value is not None and printable(value.replace("\n", "").replace("\t", "")) != value.replace(
                "\n", "").replace("\t", ""):
            raise UsageError(f"{key.replace('_', ' ')}: a control character ({printable(value)}) is not allowed; "
                             "retype the value")
    with stored.transaction(ctx.db):
        device = get_device(device_id)
        before = asset_info(device_id)
        changed = {k: v for k, v in cleaned.items() if before[k] != v}
        if changed:
            stored.save_asset_info(device_id, {**before, **changed}, changed)
            audit.record(ctx, category="settings", action="asset_info.edit", outcome="succeeded", device=device,
                         options={k: {"old": before[k], "new": v} for k, v in changed.items()},
                         message=f"asset information changed: {', '.join(sorted(changed))}")
    return asset_info(device_id)


def delete_devices(ctx: Context, device_ids: Sequence[int]) -> int:
    """Delete devices' information (software, history, asset info) — explicit and audited per device.

    A device still in its MDM comes back at the next collection as a new device.
    """
    if ctx.read_only:
        raise ActionRefused("read-only mode: device information cannot be deleted")
    roles.require(ctx, roles.Permission.DELETE, target=f"deleting {len(device_ids)} device(s)")
    wanted = list(dict.fromkeys(int(i) for i in device_ids))
    deleted = 0
    for start in range(0, len(wanted), _CHUNK):
        with stored.transaction(ctx.db):  # each chunk's deletions and their audit records together
            devices = stored.delete(ctx.db, wanted[start:start + _CHUNK])
            for d in devices:
                audit.record(ctx, category="deletion", action="device.delete", outcome="succeeded",
                             linkage_name=d.linkage_name, device_id=d.id, device_name=d.computer_name,
                             device_serial=d.serial_number, mdm_device_id=d.mdm_device_id,
                             message="device information deleted"
                                     + (" (still in its MDM: it returns at the next collection)"
                                        if d.missing_since is None and not d.orphaned else ""))
            deleted += len(devices)
    if wanted and not deleted:
        raise NotFoundError(f"no device with id {', '.join(map(str, wanted[:20]))} (already deleted?)")
    return deleted


def export_row(device: StoredDevice, asset: AssetRecord | None) -> dict[str, Any]:
    """One device as an export line: every item, the set values, asset information; no secrets."""
    row = {c: getattr(device, c) for c in EXPORT_COLUMNS}
    for k in ASSET_FIELDS:
        row[f"asset_{k}"] = getattr(asset, k) if asset is not None else None
    return row


EXPORT_COLUMNS = (
    "id", "linkage_name", "mdm_device_id", "os_class", "device_type", "computer_name", "host_name", "manufacturer",
    "model", "serial_number", "bios_serial_number", "os_name", "os_version", "network_adapter_name", "mac_address",
    "wifi_mac", "ethernet_mac", "imei", "udid", "imsi", "iccid", "phone_number", "email", "carrier", "passcode_set",
    "ram_total_bytes", "ram_free_bytes", "storage_total_bytes", "storage_free_bytes", "sd_total_bytes",
    "sd_free_bytes", "user_name", "jailbroken", "encrypted", "compliance", "mdm_managed", "mdm_status",
    "last_alive_at", "management_type", "management_status", "device_status", "managed", "consumes_license", "first_seen_at",
    "last_collected_at", "missing_since", "duplicate_of", "orphaned",
)
