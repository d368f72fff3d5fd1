"""The field matrix, one test per cell: (item, OS class) -> the value LINKAGE-SPEC says it must have.

The expectations are written out by hand from the spec (not derived from mapping.ITEMS), so a wrong
row in the table fails here. Every sample wire dict also carries values for items the class must
NOT show, to prove they stay None ("not collected").
"""

from __future__ import annotations

from datetime import datetime, UTC

import pytest

from mdmtui import mapping
from mdmtui.records import COLLECTED_FIELDS, OsClass, System

GB = 1024**3
T = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)

SDM_IOS = {
    "deviceId": "sdm-1", "listName": "iPhone-15_taro", "user": "山田 太郎", "phoneNumber": "09012345678",
    "email": "taro@contoso.co.jp", "os": "iOS", "osVersion": "18.5", "manufacturer": "Apple", "model": "iPhone 15",
    "serialNumber": "F2LXK1ABCD", "imei": "353252114829492", "udid": "00008110-001A2B3C4D5E6F70",
    "imsi": "440101234567890", "iccid": "8981100012345678901", "carrier": "NTT docomo", "passcodeSet": True,
    "ramTotalBytes": 6 * GB, "ramFreeBytes": 2 * GB, "internalTotalBytes": 128 * GB, "internalFreeBytes": 50 * GB,
    "sdCardTotalBytes": 64 * GB, "sdCardFreeBytes": 10 * GB, "wifiMac": "a1:b2:c3:d4:e5:f6", "hostName": "taro-iphone",
    "lastContact": "2026-11-20T10:00:00Z", "managed": True, "managerVersion": "11-00-04",
}
SDM_ANDROID_OLD = {
    "deviceId": "sdm-2", "listName": "SH-52E_hanako", "user": "佐藤 花子", "phoneNumber": "08011112222",
    "email": "hanako@contoso.co.jp", "os": "Android", "osVersion": "14", "manufacturer": "Sharp", "model": "SH-52E",
    "serialNumber": "ABCDEFGHJK1", "imei": "352164115352542", "udid": "should-not-show", "imsi": "440204842117009",
    "iccid": "8981200012345678902", "carrier": "SoftBank", "passcodeSet": True, "ramTotalBytes": 6 * GB,
    "ramFreeBytes": 1 * GB, "internalTotalBytes": 64 * GB, "internalFreeBytes": 0, "sdCardTotalBytes": 32 * GB,
    "sdCardFreeBytes": 16 * GB, "wifiMac": "0A0B0C0D0E0F", "hostName": "not-for-android",
    "lastContact": "2026-11-20T10:00:00Z", "managed": False, "managerVersion": "11-00-03",
}
MI_IOS = {
    "common.uuid": "mi-1", "common.imei": "356741083225655", "common.imsi": "440510392214783",
    "common.SerialNumber": "GFRB5TK6GGJP", "common.status": "ACTIVE", "common.last_connected_at": "2026-11-20T10:00:00.000Z",
    "common.mdm_managed": True, "common.model": "iPhone 12", "common.manufacturer": "Apple", "common.platform": "iOS",
    "common.os_version": "15.8.3", "common.compliant": True, "common.device_is_compromised": False,
    "common.device_encrypted": True, "common.current_phone_number": "07054483058", "common.home_operator_name": "au",
    "common.wifi_mac_address": "30:8c:5a:0d:36:ea", "common.ethernet_mac": "", "common.storage_capacity": 64 * GB,
    "common.storage_free": 30 * GB, "common.memory_capacity": "", "common.memory_free": 1 * GB,
    "user.display_name": "中村 愛", "user.email_address": "ai@contoso.co.jp", "ios.iPhone UDID": "bdf3eadd1680981c",
    "ios.iPhone ICCID": "8981308350855743036", "ios.DeviceName": "愛のiPhone", "PasscodePresent": "true",
    "total_ram_size_bytes": str(4 * GB),  # from /details, as a string (the spec's RAM source for M)
}
INTUNE_IPHONE = {
    "id": "in-1", "deviceName": "Taro's iPhone", "operatingSystem": "iOS", "osVersion": "18.6.2", "model": "iPhone 16",
    "manufacturer": "Apple", "serialNumber": "HJ09KWP6GZ", "imei": "353252114829492", "phoneNumber": "08048477750",
    "subscriberCarrier": "NTT docomo", "wiFiMacAddress": "18dca86063ea", "ethernetMacAddress": None,
    "iccid": "89811080184302064414", "udid": "2316F08C-85124DB2E66A9AFE", "physicalMemoryInBytes": 8 * GB,
    "totalStorageSpaceInBytes": 256 * GB, "freeStorageSpaceInBytes": 100 * GB, "lastSyncDateTime": "2026-11-20T10:00:00Z",
    "userDisplayName": "Chen Wei", "emailAddress": "chen@contoso.co.jp", "complianceState": "compliant",
    "jailBroken": "False", "isEncrypted": True,
}
INTUNE_PC = {
    "id": "in-2", "deviceName": "DESKTOP-69F2368", "operatingSystem": "Windows", "osVersion": "10.0.26100.4946",
    "model": "Latitude 5440", "manufacturer": "Dell Inc.", "serialNumber": "E35Y400GB0", "imei": "", "phoneNumber": "",
    "subscriberCarrier": None, "wiFiMacAddress": "40BDD0AA4B00", "ethernetMacAddress": "0050B6112233", "iccid": "",
    "udid": "not-a-pc-item", "physicalMemoryInBytes": 16 * GB, "totalStorageSpaceInBytes": 512 * GB,
    "freeStorageSpaceInBytes": 200 * GB, "lastSyncDateTime": "0001-01-01T00:00:00Z", "userDisplayName": "佐藤 太郎",
    "complianceState": "noncompliant", "jailBroken": "Unknown", "isEncrypted": False,
}

N = None
# field: (Si, SA, M, IS, IP) — the spec's answer for the samples above.
EXPECTED: dict[str, tuple] = {
    "device_type": ("Smart Device", "Smart Device", "Smart Device", "Smart Device", "PC"),
    # SA runs 11-00-03: list name (11-00-03 on); M's iOS name; Intune's device name
    "computer_name": ("iPhone-15_taro", "SH-52E_hanako", "愛のiPhone", "Taro's iPhone", "DESKTOP-69F2368"),
    "host_name": ("taro-iphone", N, "愛のiPhone", "Taro's iPhone", "DESKTOP-69F2368"),
    "manufacturer": ("Apple", "Sharp", N, "Apple", "Dell Inc."),  # MobileIron: "--"
    "model": ("iPhone 15", "SH-52E", N, "iPhone 16", "Latitude 5440"),
    # SA²: Android serial needs SDM 11-00-04
    "serial_number": ("F2LXK1ABCD", N, "GFRB5TK6GGJP", "HJ09KWP6GZ", "E35Y400GB0"),
    "bios_serial_number": (N, N, N, N, "E35Y400GB0"),
    "os_name": ("iOS", "Android", "iOS", "iOS", "Windows"),
    "os_version": ("18.5", "14", "15.8.3", "18.6.2", "10.0.26100.4946"),
    "network_adapter_name": (N, N, N, N, "Wi-Fi, Ethernet"),
    "mac_address": ("A1:B2:C3:D4:E5:F6", "0A:0B:0C:0D:0E:0F", "30:8C:5A:0D:36:EA", "18:DC:A8:60:63:EA",
                    "40:BD:D0:AA:4B:00"),  # PC: Wi-Fi is the representative MAC
    "wifi_mac": (N, N, N, N, "40:BD:D0:AA:4B:00"),
    "ethernet_mac": (N, N, N, N, "00:50:B6:11:22:33"),
    "imei": ("353252114829492", "352164115352542", "356741083225655", "353252114829492", N),  # "" = none
    "udid": ("00008110-001A2B3C4D5E6F70", N, "bdf3eadd1680981c", "2316F08C-85124DB2E66A9AFE", N),
    "imsi": ("440101234567890", "440204842117009", "440510392214783", N, N),
    "iccid": ("8981100012345678901", "8981200012345678902", "8981308350855743036", "89811080184302064414", N),
    "phone_number": ("09012345678", "08011112222", "07054483058", "08048477750", N),
    "email": ("taro@contoso.co.jp", "hanako@contoso.co.jp", "ai@contoso.co.jp", N, N),
    "carrier": ("NTT docomo", "SoftBank", "au", "NTT docomo", N),
    "passcode_set": (True, N, True, N, N),  # SA² again: passcode state needs 11-00-04
    "ram_total_bytes": (N, 6 * GB, 4 * GB, 8 * GB, 16 * GB),
    "ram_free_bytes": (N, 1 * GB, 1 * GB, N, N),  # ³ Intune gives only the total
    "storage_total_bytes": (128 * GB, 64 * GB, 64 * GB, 256 * GB, 512 * GB),
    "storage_free_bytes": (50 * GB, 0, 30 * GB, 100 * GB, 200 * GB),  # 0 free of a known total is real
    "sd_total_bytes": (N, 32 * GB, N, N, N),
    "sd_free_bytes": (N, 16 * GB, N, N, N),
    "user_name": ("山田 太郎", "佐藤 花子", "中村 愛", "Chen Wei", "佐藤 太郎"),
    "jailbroken": (N, N, False, False, N),  # Intune "Unknown" is None
    "encrypted": (N, N, True, True, False),
    "compliance": (N, N, "compliant", "compliant", "noncompliant"),
    "mdm_managed": (True, False, True, N, N),
    "mdm_status": (N, N, "ACTIVE", N, N),
    "last_alive_at": (T, T, T, T, N),  # "0001-01-01T00:00:00Z" = never
}
SAMPLES = [(System.SDM, OsClass.SI, SDM_IOS), (System.SDM, OsClass.SA, SDM_ANDROID_OLD),
           (System.MOBILEIRON, OsClass.M, MI_IOS), (System.INTUNE, OsClass.IS, INTUNE_IPHONE),
           (System.INTUNE, OsClass.IP, INTUNE_PC)]
CELLS = [pytest.param(field, i, id=f"{field}-{SAMPLES[i][1].value}") for field in EXPECTED for i in range(5)]


def test_every_collected_field_has_expectations():
    assert set(EXPECTED) == set(COLLECTED_FIELDS)


@pytest.mark.parametrize(("field", "index"), CELLS)
def test_cell(field, index):
    system, os_class, wire = SAMPLES[index]
    record = mapping.map_device(system, os_class, wire, mdm_device_id="x")
    assert getattr(record, field) == EXPECTED[field][index]


def test_sdm_android_serial_and_passcode_from_11_00_04():
    record = mapping.map_device(System.SDM, OsClass.SA, {**SDM_ANDROID_OLD, "managerVersion": "11-00-04"},
                                mdm_device_id="x")
    assert (record.serial_number, record.passcode_set) == ("ABCDEFGHJK1", True)


def test_sdm_android_without_version_is_not_collected_rather_than_guessed():
    wire = {k: v for k, v in SDM_ANDROID_OLD.items() if k != "managerVersion"}
    assert mapping.map_device(System.SDM, OsClass.SA, wire, mdm_device_id="x").serial_number is None
    assert mapping.map_device(System.SDM, OsClass.SA, wire, mdm_device_id="x",
                              sdm_version="11-00-05").serial_number == "ABCDEFGHJK1"


def test_sdm_name_mapping_user_phone_model_when_configured():
    record = mapping.map_device(System.SDM, OsClass.SI, SDM_IOS, mdm_device_id="x",
                                name_mapping="User:PhoneNumber:Model")
    assert record.computer_name == "山田 太郎:09012345678:iPhone 15"


def test_sdm_name_before_11_00_03_is_user_phone_model():
    record = mapping.map_device(System.SDM, OsClass.SI, {**SDM_IOS, "managerVersion": "11-00-02"}, mdm_device_id="x")
    assert record.computer_name == "山田 太郎:09012345678:iPhone 15"


def test_sdm_name_keeps_empty_parts_in_place():
    wire = {**SDM_IOS, "managerVersion": "11-00-02", "phoneNumber": None}
    assert mapping.map_device(System.SDM, OsClass.SI, wire, mdm_device_id="x").computer_name == "山田 太郎::iPhone 15"


@pytest.mark.parametrize(("wifi", "eth", "adapters", "rep"), [
    ("40BDD0AA4B00", "0050B6112233", "Wi-Fi, Ethernet", "40:BD:D0:AA:4B:00"),
    (None, "0050B6112233", "Ethernet", "00:50:B6:11:22:33"),
    ("", "0050B6112233", "Ethernet", "00:50:B6:11:22:33"),
    ("40BDD0AA4B00", None, "Wi-Fi", "40:BD:D0:AA:4B:00"),
    (None, None, None, None),
    ("000000000000", None, None, None),
])
def test_pc_adapters_and_representative_mac(wifi, eth, adapters, rep):
    record = mapping.map_device(System.INTUNE, OsClass.IP, {**INTUNE_PC, "wiFiMacAddress": wifi,
                                                            "ethernetMacAddress": eth}, mdm_device_id="x")
    assert (record.network_adapter_name, record.mac_address) == (adapters, rep)


@pytest.mark.parametrize("value", [0, "0", "", None, -1, "garbage"])
def test_unknown_sizes_are_none_never_zero(value):
    record = mapping.map_device(System.INTUNE, OsClass.IS, {**INTUNE_IPHONE, "totalStorageSpaceInBytes": value,
                                                            "physicalMemoryInBytes": value}, mdm_device_id="x")
    assert (record.storage_total_bytes, record.storage_free_bytes, record.ram_total_bytes) == (None, None, None)


@pytest.mark.parametrize(("os_name", "expected"), [
    ("iOS", OsClass.IS), ("iPadOS", OsClass.IS), ("Android", OsClass.IS), ("AndroidForWork", OsClass.IS),
    ("Windows", OsClass.IP), ("windows", OsClass.IP), ("macOS", OsClass.IP), (None, OsClass.IS),
])
def test_intune_classification_from_the_os(os_name, expected):
    assert mapping.intune_os_class(os_name) is expected


def test_intune_udid_only_for_apple_devices():
    wire = {**INTUNE_IPHONE, "operatingSystem": "Android"}
    assert mapping.map_device(System.INTUNE, OsClass.IS, wire, mdm_device_id="x").udid is None


def test_mobileiron_android_has_no_udid_iccid_or_name():
    wire = {**MI_IOS, "common.platform": "Android", "ios.iPhone UDID": "", "ios.iPhone ICCID": "", "ios.DeviceName": ""}
    record = mapping.map_device(System.MOBILEIRON, OsClass.M, wire, mdm_device_id="x")
    assert (record.udid, record.iccid, record.computer_name) == (None, None, None)


@pytest.mark.parametrize(("value", "expected"), [
    ("2026-11-20T10:00:00Z", T), ("2026-11-20T10:00:00.000Z", T), ("2026-11-20T19:00:00+09:00", T),
    (int(T.timestamp() * 1000), T), ("0001-01-01T00:00:00Z", None), ("", None), (None, None), ("yesterday", None),
])
def test_last_alive_confirmation(value, expected):
    assert mapping.when(value) == expected


def test_change_marker_moves_with_any_listed_value():
    a = mapping.change_marker(INTUNE_IPHONE, "lastSyncDateTime")
    b = mapping.change_marker({**INTUNE_IPHONE, "phoneNumber": "08000000000"}, "lastSyncDateTime")
    assert a != b and a.startswith("2026-11-20T10:00:00Z|")
    assert a == mapping.change_marker(dict(INTUNE_IPHONE), "lastSyncDateTime")


def test_wire_keys_cover_only_real_names_per_source():
    assert "PasscodePresent" in mapping.wire_keys(System.MOBILEIRON)
    assert "physicalMemoryInBytes" in mapping.wire_keys(System.INTUNE)
    assert not any(k.startswith("common.") for k in mapping.wire_keys(System.INTUNE))


@pytest.mark.parametrize("garbage", ["inf", "Infinity", float("inf"), "-inf", "1e300", 2**70, "NaN"])
def test_absurd_sizes_are_not_collected_rather_than_failing_the_run(garbage):
    """One device's garbage must not fail a whole linkage's collection (found in review)."""
    from mdmtui import mapping

    assert mapping.size(garbage) is None


@pytest.mark.parametrize("garbage", [10**20, "99999999999999999999", 1e300, "9999-12-31T23:59:59-05:00"])
def test_absurd_dates_are_not_collected_rather_than_failing_the_run(garbage):
    """A contact time beyond the years a datetime holds raised OverflowError/OSError (issue 11 #7)."""
    from mdmtui import mapping

    assert mapping.when(garbage) is None


def test_the_change_marker_of_a_lone_surrogate_is_computed():
    """JSON may carry "\\ud800"; the marker's checksum raised UnicodeEncodeError and failed the run."""
    from mdmtui import mapping

    assert mapping.change_marker({"id": "a", "deviceName": "x\ud800"}, "id").startswith("a|")
