"""End to end over loopback: collect from the simulator for all five OS classes and check every mapped
column against the simulator's truth; incremental collection; actions and their follow-ups.

The expected values are derived from the truth here, with the spec's rules written out again, so a
mapping mistake in mdmtui.mapping cannot hide behind itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from datetime import datetime, UTC

import pytest
from conn_sim import collect, sim_config

from mdmtui.connectors.base import connector_for
from mdmtui.connectors.intune import WIPE_DONE
from mdmtui.records import COLLECTED_FIELDS, Action, DeviceRef, OsClass, Outcome, WipeOptions
from mdmtui.sim import Simulator
from mdmtui.sim.catalog import catalog_for

SIZE = 360


@pytest.fixture(scope="module")
def sim():
    with Simulator(seed=7, intune=SIZE, mobileiron=SIZE, sdm=SIZE) as simulator:
        simulator.intune.action_delay = 0
        simulator.sdm.command_step = 0
        yield simulator


def s(value):
    """Blank -> None."""
    return None if value is None or value == "" else value


def digits(value):
    """IMEI, ICCID: stored without the separators Graph and Core send (35 391808 912345 6)."""
    return s((value or "").replace(" ", "").replace("-", ""))


def pos(value):
    """Sizes: 0 and blank are unknown."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def colon(value):
    """Any MAC form -> AA:BB:CC:DD:EE:FF."""
    bare = (value or "").replace(":", "").upper()
    return ":".join(bare[i:i + 2] for i in range(0, 12, 2)) if bare else None


def moment(value):
    if not value or value.startswith("0001-"):
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def expect_intune(t: dict) -> tuple[OsClass, dict]:
    pc = t["operatingSystem"] == "Windows"
    apple = t["operatingSystem"] in ("iOS", "iPadOS")
    wifi, eth = colon(t["wiFiMacAddress"]), colon(t["ethernetMacAddress"])
    total = pos(t["totalStorageSpaceInBytes"])
    return (OsClass.IP if pc else OsClass.IS), dict(
        device_type="PC" if pc else "Smart Device", computer_name=t["deviceName"], host_name=t["deviceName"],
        manufacturer=t["manufacturer"], model=t["model"], serial_number=t["serialNumber"],
        bios_serial_number=t["serialNumber"] if pc else None, os_name=t["operatingSystem"], os_version=t["osVersion"],
        network_adapter_name=", ".join(n for n, m in (("Wi-Fi", wifi), ("Ethernet", eth)) if m) or None if pc else None,
        mac_address=(wifi or eth) if pc else wifi, wifi_mac=wifi if pc else None, ethernet_mac=eth if pc else None,
        imei=digits(t["imei"]), udid=s(t["udid"]) if apple else None, imsi=None, iccid=digits(t["iccid"]),
        phone_number=s(t["phoneNumber"]), email=None, carrier=s(t["subscriberCarrier"]), passcode_set=None,
        ram_total_bytes=pos(t["physicalMemoryInBytes"]), ram_free_bytes=None, storage_total_bytes=total,
        storage_free_bytes=t["freeStorageSpaceInBytes"] if total else None, sd_total_bytes=None, sd_free_bytes=None,
        user_name=t["userDisplayName"], jailbroken={"True": True, "False": False}.get(t["jailBroken"]),
        encrypted=t["isEncrypted"], compliance=t["complianceState"], mdm_managed=None, mdm_status=None,
        last_alive_at=moment(t["lastSyncDateTime"]))


def expect_mobileiron(t: dict) -> tuple[OsClass, dict]:
    apple = t["common.platform"] == "iOS"
    details = {d["name"]: d["value"] for d in t["details"]}
    ram, storage = pos(int(details["total_ram_size_bytes"])), pos(t["common.storage_capacity"])  # RAM: /details
    return OsClass.M, dict(
        device_type="Smart Device", computer_name=s(t["ios.DeviceName"]), host_name=s(t["ios.DeviceName"]),
        manufacturer=None, model=None, serial_number=s(t["common.SerialNumber"]), bios_serial_number=None,
        os_name=t["common.platform"], os_version=t["common.os_version"], network_adapter_name=None,
        mac_address=colon(t["common.wifi_mac_address"]), wifi_mac=None, ethernet_mac=None,
        imei=digits(t["common.imei"]),
        udid=s(t["ios.iPhone UDID"]) if apple else None, imsi=s(t["common.imsi"]), iccid=digits(t["ios.iPhone ICCID"]),
        phone_number=s(t["common.current_phone_number"]), email=s(t["user.email_address"]),
        carrier=s(t["common.home_operator_name"]), passcode_set=details["PasscodePresent"] == "true",
        ram_total_bytes=ram, ram_free_bytes=t["common.memory_free"] if ram else None, storage_total_bytes=storage,
        storage_free_bytes=t["common.storage_free"] if storage else None, sd_total_bytes=None, sd_free_bytes=None,
        user_name=t["user.display_name"], jailbroken=t["common.device_is_compromised"],
        encrypted=t["common.device_encrypted"], compliance="compliant" if t["common.compliant"] else "noncompliant",
        mdm_managed=t["common.mdm_managed"], mdm_status=t["common.status"],
        last_alive_at=moment(t["common.last_connected_at"]))


def expect_sdm(t: dict) -> tuple[OsClass, dict]:
    ios = t["os"] in ("iOS", "iPadOS")
    version = tuple(int(p) for p in t["managerVersion"].split("-"))
    android_ok = ios or version >= (11, 0, 4)
    name = t["listName"] if version >= (11, 0, 3) else f"{t['user'] or ''}:{t['phoneNumber'] or ''}:{t['model'] or ''}"
    ram = pos(t["ramTotalBytes"]) if not ios else None
    sd = pos(t["sdCardTotalBytes"]) if not ios else None
    return (OsClass.SI if ios else OsClass.SA), dict(
        device_type="Smart Device", computer_name=name, host_name=s(t["hostName"]) if ios else None,
        manufacturer=t["manufacturer"], model=t["model"], serial_number=s(t["serialNumber"]) if android_ok else None,
        bios_serial_number=None, os_name=t["os"], os_version=t["osVersion"], network_adapter_name=None,
        mac_address=colon(t["wifiMac"]), wifi_mac=None, ethernet_mac=None, imei=digits(t["imei"]),
        udid=s(t["udid"]) if ios else None, imsi=s(t["imsi"]), iccid=digits(t["iccid"]),
        phone_number=s(t["phoneNumber"]),
        email=s(t["email"]), carrier=s(t["carrier"]), passcode_set=t["passcodeSet"] if android_ok else None,
        ram_total_bytes=ram, ram_free_bytes=t["ramFreeBytes"] if ram else None,
        storage_total_bytes=pos(t["internalTotalBytes"]),
        storage_free_bytes=t["internalFreeBytes"] if pos(t["internalTotalBytes"]) else None,
        sd_total_bytes=sd, sd_free_bytes=t["sdCardFreeBytes"] if sd else None, user_name=s(t["user"]),
        jailbroken=None, encrypted=None, compliance=None, mdm_managed=t["managed"], mdm_status=None,
        last_alive_at=moment(t["lastContact"]))


EXPECT = {"intune": expect_intune, "mobileiron": expect_mobileiron, "sdm": expect_sdm}
PAGES = {"intune": 100, "mobileiron": 150, "sdm": 150}


def mismatches(sim, system: str, records) -> list[str]:
    out = []
    for record in records:
        os_class, expected = EXPECT[system](sim.truth(system, record.mdm_device_id))
        if record.os_class is not os_class:
            out.append(f"{record.mdm_device_id}: class {record.os_class} != {os_class}")
        out += [f"{record.mdm_device_id} {record.os_class.value} {f}: {getattr(record, f)!r} != {expected[f]!r}"
                for f in COLLECTED_FIELDS if getattr(record, f) != expected[f]]
    return out


@pytest.mark.parametrize("system", ["intune", "mobileiron", "sdm"])
async def test_every_column_matches_the_truth(sim, system):
    records, conn = await collect(sim, system, page_size=PAGES[system])
    ids = [r.mdm_device_id for r in records]
    assert len(ids) == len(set(ids)) and set(ids) == set(sim.device_ids(system))
    assert mismatches(sim, system, records)[:10] == []
    assert all(not r.unfetched and r.change_marker for r in records) and conn.warnings == []


async def test_all_five_os_classes_are_collected(sim):
    classes = Counter()
    for system in ("intune", "mobileiron", "sdm"):
        records, _ = await collect(sim, system, page_size=PAGES[system], extra={"collect_software": False})
        classes.update(r.os_class for r in records)
    assert set(classes) == set(OsClass) and min(classes.values()) > 10


def truth_apps(sim, system: str, ident: str, vendor: bool) -> list[tuple]:
    fleet = sim.fleets[system]
    slot = fleet.slot_of(ident)
    cat = catalog_for(fleet.os_of(slot))
    return sorted((cat[i].name, cat[i].versions[v], cat[i].publisher if vendor else None) for i, v in fleet.apps(slot))


@pytest.mark.parametrize(("system", "vendor"), [("intune", False), ("sdm", True)])
async def test_software_matches_the_truth(sim, system, vendor):
    records, _ = await collect(sim, system, page_size=PAGES[system])
    for record in records[:60]:
        got = sorted((a.name, a.version, a.vendor) for a in record.software)
        assert got == truth_apps(sim, system, record.mdm_device_id, vendor)
    assert any(r.software == [] for r in records) or all(r.software for r in records)


def per_device_calls(sim, since: int) -> Counter:
    log = list(sim.requests_log)[since:]
    kinds = Counter()
    for mdm, _method, path, _status in log:
        if path.endswith(("$batch", "/details")) or "/detectedApps" in path or path == "/software":
            kinds[mdm] += 1
    return kinds


@pytest.mark.parametrize("system", ["intune", "mobileiron", "sdm"])
async def test_check_ins_cost_no_per_device_call_a_sim_swap_does(sim, system):
    first, _ = await collect(sim, system, page_size=PAGES[system])
    known = {r.mdm_device_id: r.change_marker for r in first}
    touched, swapped = first[3].mdm_device_id, next(
        r.mdm_device_id for r in first[4:] if r.phone_number and r.mdm_device_id not in _scenario_ids(sim, system))
    sim.admin.touch(system, touched)             # a check-in: sync time moves, nothing enrichment yields
    sim.admin.sim_swap(system, swapped)          # new number and ICCID: the list shows the number moving
    mark = len(sim.requests_log)
    second, _ = await collect(sim, system, known, page_size=PAGES[system])
    calls = per_device_calls(sim, mark)
    assert calls[system] == (1 if system != "intune" else 2)  # Intune: one $batch + one detectedApps
    fetched = [r for r in second if r.change_marker != known.get(r.mdm_device_id)]
    assert [r.mdm_device_id for r in fetched] == [swapped]
    by_id = {r.mdm_device_id: r for r in second}
    assert by_id[touched].last_alive_at > {r.mdm_device_id: r for r in first}[touched].last_alive_at
    assert all(r.software is None for r in second if r.mdm_device_id != swapped)
    if system == "intune":
        assert {r.unfetched for r in second if r.mdm_device_id != swapped} == {
            frozenset({"iccid", "udid", "ram_total_bytes"}),
            frozenset({"iccid", "ethernet_mac", "mac_address", "network_adapter_name", "ram_total_bytes"})}
    if system == "mobileiron":
        assert all(r.unfetched == {"passcode_set", "ram_total_bytes", "ram_free_bytes"} for r in second if r.mdm_device_id != swapped)


def _scenario_ids(sim, system: str) -> set[str]:
    return set(sim.scenario_devices.get(system, {}).values())


async def test_test_connection_for_each_mdm(sim):
    for system in ("intune", "mobileiron", "sdm"):
        conn = connector_for(sim_config(sim, system))
        try:
            assert "signed in" in await conn.test_connection()
        finally:
            await conn.aclose()


def pick(sim, system: str, os_names: tuple[str, ...]) -> str:
    for ident in sim.device_ids(system):
        t = sim.truth(system, ident)
        os_name = t.get("operatingSystem") or t.get("common.platform") or t.get("os")
        if os_name in os_names:
            return ident
    raise AssertionError(f"no {os_names} device in {system}")


async def follow_wipe(conn, ref, result, rounds=40):
    """Follow a wipe the way services/control.py does: a state under way is kept as evidence."""
    seen = []
    for _ in range(rounds):
        newer = await conn.follow_up(ref, result)
        seen.append(newer.mdm_code)
        if newer.outcome is not Outcome.PENDING:
            return newer, seen
        if newer.mdm_code:
            result = dataclasses.replace(result, mdm_code=newer.mdm_code)
        await asyncio.sleep(0.1)
    return newer, seen


@pytest.fixture
def slow_actions(sim):
    sim.intune.action_delay = 0.3
    yield
    sim.intune.action_delay = 0


async def test_intune_wipe_followed_through_management_state_to_the_record_s_removal(sim, slow_actions):
    conn = connector_for(sim_config(sim, "intune"))
    try:
        ok = DeviceRef(pick(sim, "intune", ("Android",)), OsClass.IS)
        result = await conn.wipe(ok, WipeOptions())
        assert (result.outcome, result.reference, result.http_status) == (Outcome.PENDING, "wipe", 204)
        final, seen = await follow_wipe(conn, ok, result)
        assert final.outcome is Outcome.SUCCEEDED and final.message == WIPE_DONE, final
        assert "wipePending" in seen and "wipeIssued" in seen  # walked through the real states
        assert ok.mdm_device_id not in sim.device_ids("intune")
    finally:
        await conn.aclose()


@pytest.mark.parametrize("how, state", [("fail", "wipeFailed"), ("cancel", "wipeCanceled")])
async def test_intune_wipe_failed_or_cancelled_in_intune_is_failed(sim, slow_actions, how, state):
    conn = connector_for(sim_config(sim, "intune"))
    try:
        ref = DeviceRef(pick(sim, "intune", ("iOS", "iPadOS")), OsClass.IS)
        sim.admin.end_wipe("intune", ref.mdm_device_id, how)
        final, _ = await follow_wipe(conn, ref, await conn.wipe(ref, WipeOptions()))
        assert (final.outcome, final.mdm_code) == (Outcome.FAILED, state), final
        assert ref.mdm_device_id in sim.device_ids("intune")
    finally:
        await conn.aclose()


async def test_intune_record_gone_without_the_wipe_seen_under_way_is_unknown(sim):
    """With action_delay 0 the record is gone at the first look: no evidence it was this wipe."""
    conn = connector_for(sim_config(sim, "intune"))
    try:
        ref = DeviceRef(pick(sim, "intune", ("Android",)), OsClass.IS)
        final = await conn.follow_up(ref, await conn.wipe(ref, WipeOptions()))
        assert final.outcome is Outcome.UNKNOWN and "never seen under way" in final.message
    finally:
        await conn.aclose()


async def test_intune_lock_of_a_device_without_profile_fails(sim):
    conn = connector_for(sim_config(sim, "intune"))
    try:
        dead = DeviceRef(pick(sim, "intune", ("iOS",)), OsClass.IS)
        sim.admin.remove_profile("intune", dead.mdm_device_id)
        locked = await conn.lock(dead)
        assert locked.outcome is Outcome.PENDING
        assert (await conn.follow_up(dead, locked)).outcome is Outcome.FAILED
    finally:
        await conn.aclose()


async def test_mobileiron_judges_each_device_by_its_own_result(sim):
    conn = connector_for(sim_config(sim, "mobileiron"))
    try:
        ids = [i for i in sim.device_ids("mobileiron") if sim.truth("mobileiron", i)["common.status"] == "ACTIVE"]
        good, dead = DeviceRef(ids[10], OsClass.M), DeviceRef(ids[11], OsClass.M)
        sim.admin.remove_profile("mobileiron", dead.mdm_device_id)
        wiped = await conn.wipe(good, WipeOptions())
        assert wiped.outcome is Outcome.PENDING
        assert (await conn.follow_up(good, wiped)).outcome is Outcome.SUCCEEDED
        failed = await conn.reset_passcode(dead)
        assert failed.outcome is Outcome.FAILED and "no MDM profile" in failed.message
        assert (await conn.lock(dead)).outcome is Outcome.FAILED
        assert (await conn.lock(DeviceRef(ids[12], OsClass.M))).outcome is Outcome.SUCCEEDED
    finally:
        await conn.aclose()


async def test_sdm_command_follow_up(sim):
    conn = connector_for(sim_config(sim, "sdm"))
    try:
        ids = sim.device_ids("sdm")
        good, dead = DeviceRef(ids[20], OsClass.SA), DeviceRef(ids[21], OsClass.SA)
        sim.admin.remove_profile("sdm", dead.mdm_device_id)
        sent = await conn.lock(good)
        assert sent.outcome is Outcome.PENDING and sent.reference and sent.http_status == 202
        assert (await conn.follow_up(good, sent)).outcome is Outcome.SUCCEEDED
        failing = await conn.reset_passcode(dead)
        final = await conn.follow_up(dead, failing)
        assert final.outcome is Outcome.FAILED and "profile" in final.message and final.mdm_code == "failed"
        assert (await conn.lock(DeviceRef("no-such-device", OsClass.SA))).outcome is Outcome.FAILED
    finally:
        await conn.aclose()


async def test_actions_do_not_leak_across_protocol(sim):
    conn = connector_for(sim_config(sim, "intune"))
    try:
        result = await conn.lock(DeviceRef("00000000-0000-4000-8000-000000000000", OsClass.IS))
        assert result.outcome is Outcome.FAILED and "no longer exists" in result.message and result.http_status == 404
        assert result.action is Action.LOCK
    finally:
        await conn.aclose()


@pytest.mark.parametrize("system", ["intune", "mobileiron", "sdm"])
async def test_device_gone_is_the_mdms_own_answer_about_one_device(sim, system):
    """The per-device query that confirms a device absent from a listing (issue 11 #1)."""
    conn = connector_for(sim_config(sim, system))
    try:
        ids = sim.device_ids(system)
        live, removed = ids[-1], ids[-2]
        sim.admin.remove(system, removed)
        assert await conn.device_gone(live) is False
        assert await conn.device_gone(removed) is True
    finally:
        await conn.aclose()
