"""Typed records that cross the boundaries: connectors -> services -> storage -> screens.

Raw JSON never leaves a connector; these records do. "Not collected" is ``None`` everywhere.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields
from datetime import datetime


class System(enum.StrEnum):
    """The MDM systems a linkage can point at (prints as its value, as a string would)."""

    SDM = "sdm"
    MOBILEIRON = "mobileiron"
    INTUNE = "intune"


class OsClass(str, enum.Enum):
    """The spec's availability codes: source x OS classification."""

    SI = "Si"  # SDM, iOS / iPadOS
    SA = "SA"  # SDM, Android
    M = "M"  # MobileIron, any OS
    IS = "IS"  # Intune, smart device
    IP = "IP"  # Intune, PC (Windows)


class Action(str, enum.Enum):
    """Device control actions."""

    LOCK = "lock"
    WIPE = "wipe"
    RESET_PASSCODE = "reset_passcode"


class Outcome(str, enum.Enum):
    """What became of an action on one device."""

    SUCCEEDED = "succeeded"  # the MDM confirmed it was carried out
    PENDING = "pending"  # accepted by the MDM, final state not known yet
    FAILED = "failed"  # the MDM (or the device) reported a failure
    REFUSED = "refused"  # refused by mdmtui before anything was sent
    UNKNOWN = "unknown"  # the answer was lost (timeout); never blindly repeated
    CANCELLED = "cancelled"  # not sent because the admin cancelled a bulk run


DEVICE_TYPE_SMART = "Smart Device"
DEVICE_TYPE_PC = "PC"
MANAGEMENT_TYPE = "MDM linkage management"
MANAGEMENT_STATUS = "Agent not Installed"
STATUS_UNKNOWN = "Unknown"
STATUS_WARNING = "Warning"


@dataclass(slots=True)
class SoftwareItem:
    """One installed application reported for a device."""

    name: str
    version: str | None = None
    vendor: str | None = None


@dataclass(slots=True)
class DeviceRecord:
    """One device as a connector reports it, already mapped to the spec's items.

    Every collected item is ``None`` when the source did not deliver it.
    """

    mdm_device_id: str
    os_class: OsClass
    # System / Computer
    device_type: str | None = None
    computer_name: str | None = None
    host_name: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    serial_number: str | None = None
    bios_serial_number: str | None = None
    os_name: str | None = None
    os_version: str | None = None
    # Network
    network_adapter_name: str | None = None  # PCs: "Wi-Fi", "Ethernet" or "Wi-Fi, Ethernet"
    mac_address: str | None = None  # the representative MAC (Wi-Fi first for PCs)
    wifi_mac: str | None = None
    ethernet_mac: str | None = None
    # Smart device
    imei: str | None = None
    udid: str | None = None
    imsi: str | None = None
    iccid: str | None = None
    phone_number: str | None = None
    email: str | None = None
    carrier: str | None = None
    passcode_set: bool | None = None
    # Memory and storage, bytes
    ram_total_bytes: int | None = None
    ram_free_bytes: int | None = None
    storage_total_bytes: int | None = None
    storage_free_bytes: int | None = None
    sd_total_bytes: int | None = None
    sd_free_bytes: int | None = None
    # Facts beyond the matrix that the console's security status needs
    user_name: str | None = None
    jailbroken: bool | None = None
    encrypted: bool | None = None
    compliance: str | None = None
    mdm_managed: bool | None = None  # False when the MDM profile was removed
    mdm_status: str | None = None  # the MDM's own device state (MobileIron common.status: ACTIVE, RETIRED, ...)
    # Last Alive Confirmation: when the device last connected to its MDM (UTC)
    last_alive_at: datetime | None = None
    # Opaque marker that changes whenever the MDM's copy changes (e.g. lastSyncDateTime);
    # lets a connector skip costly per-device calls for unchanged devices.
    change_marker: str | None = None
    # Fields the connector did not fetch this time (unchanged device): keep the stored values.
    unfetched: frozenset[str] = frozenset()
    # None = software not fetched this time (keep stored); [] = the device has none.
    software: list[SoftwareItem] | None = None


COLLECTED_FIELDS: tuple[str, ...] = tuple(
    f.name for f in fields(DeviceRecord)
    if f.name not in {"mdm_device_id", "os_class", "change_marker", "unfetched", "software"}
)


@dataclass(slots=True)
class DeviceRef:
    """What a connector needs to address one device for an action."""

    mdm_device_id: str
    os_class: OsClass
    name: str | None = None


@dataclass(slots=True)
class WipeOptions:
    """Wipe options; the defaults are the safe ones (erase everything, keep nothing)."""

    keep_enrollment_data: bool = False
    keep_user_data: bool = False
    persist_esim_data_plan: bool = False
    note: str | None = None


@dataclass(slots=True)
class ActionResult:
    """The MDM's real answer for one action on one device."""

    mdm_device_id: str
    action: Action
    outcome: Outcome
    message: str = ""
    mdm_code: str | None = None  # the MDM's own code/state text
    http_status: int | None = None
    request_id: str | None = None  # client-request-id / MDM request id
    reference: str | None = None  # MDM-side handle to follow up (SDM command id, Intune action name)
    sent_at: datetime | None = None  # when mdmtui sent it: older MDM records are not about this request
    # the previous request of the same action to the same device: its traces are not this one's
    earlier_sent_at: datetime | None = None
    earlier_open: bool = False  # that request had no final outcome yet when this one was sent
    new_passcode: str | None = field(default=None, repr=False)  # shown once, never stored


@dataclass(slots=True)
class CollectionSummary:
    """What one collection run of one linkage did."""

    linkage: str
    run_id: int | None = None
    status: str = "running"  # running | succeeded | failed | cancelled | skipped
    reason: str | None = None
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    missing: int = 0
    returned: int = 0  # devices that came back after being missing
    software_items: int = 0
    pages: int = 0
    devices_seen: int = 0
    rechecked: int = 0  # stored devices absent from the listing, asked for one by one (missing: the gone ones)
    kind: str = "full"  # full | changed (a changed-only run lists what moved since the last run)
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def duration_s(self) -> float | None:
        """Seconds the run took, once finished."""
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


@dataclass(slots=True)
class Progress:
    """A progress tick from a running collection."""

    linkage: str
    pages: int
    devices: int
    total: int | None = None
    rate: float | None = None  # devices per second


SoftwarePair = tuple[str, "str | None"]  # (name, version) of a software item, vendor left out


class StoredSoftware:
    """The software the inventory holds for one linkage's devices, as (name, version) pairs by MDM id.

    Handed by the collection service to a connector that can tell from an MDM's tenant-wide counts
    which devices' software changed (Intune's list route): compact, since a 10,000-device linkage holds
    ~700,000 rows — each distinct pair is kept once and each device holds the numbers of its pairs.
    A device of the linkage without a row has no software items (``of`` answers an empty tuple).
    """

    __slots__ = ("_pairs", "_numbers", "_devices")

    def __init__(self) -> None:
        self._pairs: list[SoftwarePair] = []
        self._numbers: dict[SoftwarePair, int] = {}
        self._devices: dict[str, list[int]] = {}

    def add(self, mdm_device_id: str, name: str, version: str | None) -> None:
        """One stored software row of a device."""
        pair = (name, version)
        number = self._numbers.get(pair)
        if number is None:
            number = self._numbers[pair] = len(self._pairs)
            self._pairs.append(pair)
        self._devices.setdefault(mdm_device_id, []).append(number)

    def of(self, mdm_device_id: str) -> tuple[SoftwarePair, ...]:
        """The device's stored (name, version) pairs, as many times as stored."""
        pairs = self._pairs
        return tuple(pairs[n] for n in self._devices.get(mdm_device_id, ()))

    def __len__(self) -> int:
        """How many devices hold at least one item."""
        return len(self._devices)
