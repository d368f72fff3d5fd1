"""The field matrix of LINKAGE-SPEC as a table in code: one row per item, one column per source.

Each row names the ``DeviceRecord`` field, the OS classes the item is available for, and the cell
for each source: a wire key with a converter, a calculation over the whole wire dict, or ``None``
(the spec's "--"). A device of an OS class outside a row's availability gets ``None`` for that
item whatever its MDM sent: "not collected" is ``None``, never 0, "" or a placeholder.

Mapping runs once per device on 100k-device fleets, so it is plain functions over dicts; the
table is compiled once per (source, OS class) into a flat list of getters.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, UTC
from functools import cache
from typing import Any

from mdmtui.identifiers import hardware_id
from mdmtui.records import DEVICE_TYPE_PC, DEVICE_TYPE_SMART, DeviceRecord, OsClass, System

SI, SA, M, IS, IP = OsClass.SI, OsClass.SA, OsClass.M, OsClass.IS, OsClass.IP
ALL = frozenset(OsClass)

# Wire values that mean "never" or "unknown" rather than a value.
NEVER = "0001-01-01T00:00:00Z"
SDM_NAME_LIST = "list"
SDM_NAME_USER_PHONE_MODEL = "User:PhoneNumber:Model"
ADAPTER_WIFI = "Wi-Fi"
ADAPTER_ETHERNET = "Ethernet"


@dataclass(frozen=True, slots=True)
class Env:
    """What a calculation may need beyond the wire dict."""

    os_class: OsClass
    name_mapping: str | None = None  # SDM: "list" (default) or "User:PhoneNumber:Model"
    sdm_version: str | None = None  # the linkage's SDM version when devices do not say theirs


# --- converters: wire value -> record value (None when the wire value means "unknown") -------------

def text(value: Any) -> str | None:
    """A string, or None for null and blank."""
    if value is None:
        return None
    out = str(value).strip()
    return out or None


def size(value: Any) -> int | None:
    """A byte count; 0, negative, blank and garbage are "unknown" (no real capacity is 0)."""
    number = _number(value)
    return number if number is not None and number > 0 else None


MAX_BIGINT = 2**63 - 1  # the database columns' range; anything beyond it is garbage, not a size


def _number(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = value if isinstance(value, int) else int(float(value))
    except (TypeError, ValueError, OverflowError):  # "abc", "Infinity"
        return None
    return number if -MAX_BIGINT <= number <= MAX_BIGINT else None


def flag(value: Any) -> bool | None:
    """A boolean from JSON booleans or "true"/"false" strings; "Unknown" and blanks are None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return {"true": True, "false": False, "yes": True, "no": False}.get(value.strip().lower())
    return None


_HEX12 = re.compile(r"[0-9A-Fa-f]{12}")


def mac(value: Any) -> str | None:
    """A MAC address as AA:BB:CC:DD:EE:FF (MDMs send it with or without separators)."""
    raw = text(value)
    if raw is None:
        return None
    digits = raw.replace(":", "").replace("-", "").replace(".", "")
    if not _HEX12.fullmatch(digits):
        return raw.upper()  # not a 48-bit MAC: keep what the MDM said rather than guess
    if not digits.strip("0"):
        return None  # all zeros is a placeholder, not an address
    digits = digits.upper()
    return ":".join(digits[i:i + 2] for i in range(0, 12, 2))


def when(value: Any) -> datetime | None:
    """A UTC datetime from ISO 8601 or epoch milliseconds; the "never" date and blanks are None."""
    if value is None or value == "" or value == NEVER:
        return None
    try:
        return _when(value)
    except (OverflowError, OSError, ValueError):  # beyond the years a datetime holds: garbage, not a date
        return None


def _when(value: Any) -> datetime | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC) if value > 0 else None
    raw = str(value).strip()
    if raw.isdigit():
        return when(int(raw))
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.year <= 1:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


# --- cells ------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Wire:
    """A cell read from one wire key through a converter."""

    key: str
    conv: Callable[[Any], Any] = text


@dataclass(frozen=True, slots=True)
class Calc:
    """A cell computed from the whole wire dict (and the mapping environment)."""

    fn: Callable[[dict, Env], Any]
    keys: tuple[str, ...] = ()  # the wire keys it reads (for $select / fields lists)


Cell = Wire | Calc | None


def w(key: str, conv: Callable[[Any], Any] = text) -> Wire:
    """Shorthand for a wire cell."""
    return Wire(key, conv)


# --- calculations named in the spec -----------------------------------------------------------------

def device_type(_d: dict, env: Env) -> str:
    """Device Type is set, not collected: PC for Intune PCs, Smart Device for everything else."""
    return DEVICE_TYPE_PC if env.os_class is IP else DEVICE_TYPE_SMART


def version_tuple(version: str | None) -> tuple[int, ...] | None:
    """'11-00-04' -> (11, 0, 4); None when absent or unreadable."""
    if not version:
        return None
    parts = re.split(r"[-.]", str(version).strip())
    try:
        return tuple(int(p) for p in parts)
    except ValueError:
        return None


def _sdm_at_least(d: dict, env: Env, minimum: tuple[int, ...]) -> bool:
    found = version_tuple(d.get("managerVersion") or env.sdm_version)
    return found is not None and found >= minimum


def sdm_name(d: dict, env: Env) -> str | None:
    """SDM Computer Name: the list name from 11-00-03 on, else (or when configured) User:Phone:Model."""
    use_list = _sdm_at_least(d, env, (11, 0, 3)) and env.name_mapping != SDM_NAME_USER_PHONE_MODEL
    if use_list:
        return text(d.get("listName"))
    parts = [text(d.get(k)) or "" for k in ("user", "phoneNumber", "model")]
    return ":".join(parts) if any(parts) else None


def sdm_android_gated(key: str, conv: Callable[[Any], Any]) -> Calc:
    """An SDM item that Android devices deliver only from SDM 11-00-04 on (the spec's ²)."""
    def fn(d: dict, env: Env) -> Any:
        if env.os_class is SA and not _sdm_at_least(d, env, (11, 0, 4)):
            return None
        return conv(d.get(key))
    return Calc(fn, (key, "managerVersion"))


def free_of(total_key: str, free_key: str) -> Calc:
    """A free-space figure, meaningful only when its total is known (0 free of a known total is real)."""
    def fn(d: dict, _env: Env) -> int | None:
        if size(d.get(total_key)) is None:
            return None
        free = _number(d.get(free_key))
        return free if free is not None and free >= 0 else None
    return Calc(fn, (total_key, free_key))


def pc_macs(wifi_key: str, eth_key: str) -> tuple[Calc, Calc, Wire, Wire]:
    """PC network cells: (adapter names, representative MAC, Wi-Fi MAC, Ethernet MAC).

    Both MACs are shown Wi-Fi first; the Wi-Fi MAC is the representative one; if only one exists,
    only it.
    """
    def adapters(d: dict, _env: Env) -> str | None:
        names = [n for n, k in ((ADAPTER_WIFI, wifi_key), (ADAPTER_ETHERNET, eth_key)) if mac(d.get(k))]
        return ", ".join(names) or None

    def representative(d: dict, _env: Env) -> str | None:
        return mac(d.get(wifi_key)) or mac(d.get(eth_key))

    keys = (wifi_key, eth_key)
    return Calc(adapters, keys), Calc(representative, keys), w(wifi_key, mac), w(eth_key, mac)


def apple_only(key: str) -> Calc:
    """An item only Apple devices have (UDID): None for others even if the wire has something."""
    def fn(d: dict, _env: Env) -> str | None:
        os_name = str(d.get("operatingSystem") or d.get("common.platform") or d.get("os") or "").lower()
        if not os_name.startswith(("ios", "ipados")):
            return None
        return text(d.get(key))
    return Calc(fn, (key,))


def jailbroken_intune(value: Any) -> bool | None:
    """Intune's jailBroken is a string: "True", "False" or "Unknown"."""
    return flag(value)


def mi_compliance(value: Any) -> str | None:
    """MobileIron's common.compliant (a boolean) in Intune's words: compliant / noncompliant."""
    state = flag(value)
    return None if state is None else ("compliant" if state else "noncompliant")


_INTUNE_ADAPTERS, _INTUNE_MAC_PC, _INTUNE_WIFI, _INTUNE_ETH = pc_macs("wiFiMacAddress", "ethernetMacAddress")


@dataclass(frozen=True, slots=True)
class Item:
    """One row of the matrix."""

    group: str
    name: str
    field: str
    available: frozenset[OsClass]
    sdm: Cell
    mobileiron: Cell
    intune: Cell

    def cell(self, system: System) -> Cell:
        """This row's cell for a source."""
        return {System.SDM: self.sdm, System.MOBILEIRON: self.mobileiron, System.INTUNE: self.intune}[system]


def _set(*classes: OsClass) -> frozenset[OsClass]:
    return frozenset(classes)


DT = Calc(device_type)
# MobileIron's v2 search fields (flat dotted keys; iOS-only keys carry spaces, as the API names them).
MI_NAME = "ios.DeviceName"
MI_UDID = "ios.iPhone UDID"
MI_ICCID = "ios.iPhone ICCID"
MI_RAM = "total_ram_size_bytes"  # the spec's MobileIron source for RAM: in /details, not a search field

# fmt: off
# group, item, DeviceRecord field, available for, SDM, MobileIron, Intune
ITEMS: tuple[Item, ...] = (
    Item("System", "Device Type", "device_type", ALL, DT, DT, DT),
    Item("Computer", "Computer Name (Description)", "computer_name", ALL,
         Calc(sdm_name, ("listName", "user", "phoneNumber", "model", "managerVersion")), w(MI_NAME), w("deviceName")),
    Item("Computer", "Host Name", "host_name", _set(SI, M, IS, IP), w("hostName"), w(MI_NAME), w("deviceName")),
    Item("Computer", "Model (Manufacturer): manufacturer", "manufacturer", _set(SI, SA, IS, IP),
         w("manufacturer"), None, w("manufacturer")),
    Item("Computer", "Model (Manufacturer): model", "model", _set(SI, SA, IS, IP), w("model"), None, w("model")),
    Item("Computer", "Serial #", "serial_number", ALL,
         sdm_android_gated("serialNumber", text), w("common.SerialNumber"), w("serialNumber")),
    Item("BIOS", "Serial number", "bios_serial_number", _set(IP), None, None, w("serialNumber")),
    Item("OS", "OS: name", "os_name", ALL, w("os"), w("common.platform"), w("operatingSystem")),
    Item("OS", "OS: version", "os_version", ALL, w("osVersion"), w("common.os_version"), w("osVersion")),
    Item("Network", "Network adapter name", "network_adapter_name", _set(IP), None, None, _INTUNE_ADAPTERS),
    Item("Network", "MAC Address", "mac_address", ALL,
         w("wifiMac", mac), w("common.wifi_mac_address", mac), Calc(
             lambda d, env: _INTUNE_MAC_PC.fn(d, env) if env.os_class is IP else mac(d.get("wiFiMacAddress")),
             ("wiFiMacAddress", "ethernetMacAddress"))),
    Item("Network", "MAC Address (PC): Wi-Fi", "wifi_mac", _set(IP), None, None, _INTUNE_WIFI),
    Item("Network", "MAC Address (PC): Ethernet", "ethernet_mac", _set(IP), None, None, _INTUNE_ETH),
    # IMEI and ICCID without the separators Graph and Core send (``35 391808 912345 6``): see identifiers.
    Item("Smart device", "IMEI", "imei", ALL, w("imei", hardware_id), w("common.imei", hardware_id),
         w("imei", hardware_id)),
    Item("Smart device", "UDID", "udid", _set(SI, M, IS), w("udid"), apple_only(MI_UDID), apple_only("udid")),
    Item("Smart device", "IMSI", "imsi", _set(SI, SA, M), w("imsi"), w("common.imsi"), None),
    Item("Smart device", "ICCID", "iccid", ALL, w("iccid", hardware_id), w(MI_ICCID, hardware_id),
         w("iccid", hardware_id)),
    Item("Smart device", "Contract phone number", "phone_number", ALL,
         w("phoneNumber"), w("common.current_phone_number"), w("phoneNumber")),
    Item("Smart device", "E-mail", "email", _set(SI, SA, M), w("email"), w("user.email_address"), None),
    Item("Smart device", "Carrier", "carrier", ALL,
         w("carrier"), w("common.home_operator_name"), w("subscriberCarrier")),
    Item("Smart device", "Passcode or password set", "passcode_set", _set(SI, SA, M),
         sdm_android_gated("passcodeSet", flag), w("PasscodePresent", flag), None),
    Item("Memory", "Capacity (= Computer Memory, RAM total)", "ram_total_bytes", _set(SA, M, IS, IP),
         w("ramTotalBytes", size), w(MI_RAM, size), w("physicalMemoryInBytes", size)),
    Item("Smart device", "RAM (free)", "ram_free_bytes", _set(SA, M),  # Intune gives only the total (³)
         free_of("ramTotalBytes", "ramFreeBytes"), free_of(MI_RAM, "common.memory_free"), None),
    Item("Hard disk", "Capacity (= Internal storage total)", "storage_total_bytes", ALL,
         w("internalTotalBytes", size), w("common.storage_capacity", size), w("totalStorageSpaceInBytes", size)),
    Item("Smart device", "Internal storage (free)", "storage_free_bytes", ALL,
         free_of("internalTotalBytes", "internalFreeBytes"),
         free_of("common.storage_capacity", "common.storage_free"),
         free_of("totalStorageSpaceInBytes", "freeStorageSpaceInBytes")),
    # MobileIron: the spec lists SD card total + free, but Core documents no such field (search or
    # details), so the cell is empty rather than a guessed name: "not collected".
    Item("Smart device", "External storage (total)", "sd_total_bytes", _set(SA, M),
         w("sdCardTotalBytes", size), None, None),
    Item("Smart device", "External storage (free)", "sd_free_bytes", _set(SA, M),
         free_of("sdCardTotalBytes", "sdCardFreeBytes"), None, None),
    # Beyond the matrix: facts the console's security status needs, and Last Alive Confirmation.
    Item("Status", "User", "user_name", ALL, w("user"), w("user.display_name"), w("userDisplayName")),
    Item("Status", "Jailbroken / rooted", "jailbroken", ALL,
         None, w("common.device_is_compromised", flag), w("jailBroken", jailbroken_intune)),
    Item("Status", "Encrypted", "encrypted", ALL, None, w("common.device_encrypted", flag), w("isEncrypted", flag)),
    Item("Status", "Compliance", "compliance", ALL, None, w("common.compliant", mi_compliance), w("complianceState")),
    Item("Status", "MDM managed (profile present)", "mdm_managed", ALL,
         w("managed", flag), w("common.mdm_managed", flag), None),
    Item("Status", "MDM device state", "mdm_status", ALL, None, w("common.status"), None),
    Item("Status", "Last Alive Confirmation", "last_alive_at", ALL,
         w("lastContact", when), w("common.last_connected_at", when), w("lastSyncDateTime", when)),
)
# fmt: on

SYSTEM_CLASSES: dict[System, frozenset[OsClass]] = {
    System.SDM: _set(SI, SA), System.MOBILEIRON: _set(M), System.INTUNE: _set(IS, IP),
}


def wire_keys(system: System) -> tuple[str, ...]:
    """Every wire key the table reads for a source, in table order, without repeats."""
    keys: list[str] = []
    for item in ITEMS:
        cell = item.cell(system)
        for key in (cell.keys if isinstance(cell, Calc) else (cell.key,) if isinstance(cell, Wire) else ()):
            if key not in keys:
                keys.append(key)
    return tuple(keys)


Getter = Callable[[dict], Any]


@cache
def _compiled(system: System, os_class: OsClass, name_mapping: str | None,
              sdm_version: str | None) -> tuple[tuple[str, Getter], ...]:
    """The table for one source and OS class as (field, getter) pairs; unavailable cells dropped."""
    env = Env(os_class, name_mapping, sdm_version)
    out = []
    for item in ITEMS:
        cell = item.cell(system)
        if cell is None or os_class not in item.available:
            continue
        out.append((item.field, _getter(cell, env)))
    return tuple(out)


def _getter(cell: Wire | Calc, env: Env) -> Getter:
    if isinstance(cell, Wire):
        key, conv = cell.key, cell.conv
        return lambda d: conv(d.get(key))
    fn = cell.fn
    return lambda d: fn(d, env)


def map_device(system: System, os_class: OsClass, wire: dict, *, mdm_device_id: str,
               name_mapping: str | None = None, sdm_version: str | None = None,
               change_marker: str | None = None) -> DeviceRecord:
    """One device's wire dict -> a ``DeviceRecord`` with every item of the matrix mapped."""
    values = {f: get(wire) for f, get in _compiled(system, os_class, name_mapping, sdm_version)}
    return DeviceRecord(mdm_device_id=mdm_device_id, os_class=os_class, change_marker=change_marker, **values)


def change_marker(wire: dict, *keys: str) -> str:
    """The named wire values plus a checksum of everything else: changes whenever the MDM's copy does."""
    # surrogatepass: a lone surrogate from JSON's "\ud800" must not fail the run
    digest = zlib.crc32("\x1f".join(map(str, wire.values())).encode("utf-8", "surrogatepass"))
    return "|".join(str(wire.get(k)) for k in keys) + f"|{digest:08x}"


def intune_os_class(operating_system: str | None) -> OsClass:
    """Intune's classification: Windows (and other desktop OSes) are PCs, the rest smart devices."""
    os_name = (operating_system or "").strip().lower()
    if os_name.startswith(("windows", "macos", "mac os", "linux", "chrome")):
        return IP
    return IS


def sdm_os_class(os_name: str | None) -> OsClass | None:
    """SDM: iOS / iPadOS -> Si, Android -> SA, anything else None (not an SDM device class)."""
    low = (os_name or "").strip().lower()
    if low in ("ios", "ipados", "0"):
        return SI
    if low in ("android", "1"):
        return SA
    return None
