"""Intune's list route reads detected apps from the tenant-wide counts: ``GET detectedApps`` (paged), and
``detectedApps/{id}/managedDevices`` only for a (name, version) whose ``deviceCount`` moved. The request
shapes pinned with respx, then against the simulator over loopback: after a day of the fleet's life the
daily run's software equals the simulator's, and the one hole (an equal-count swap) is closed by the
rolling per-device refresh."""

from __future__ import annotations

import time

import httpx
import pytest
import respx
from conn_helpers import GRAPH, TOKEN_URL, intune_config, pairs, records_of, stored_marker
from conn_sim import collect as sim_collect
from conn_sim import stored_software

from mdmtui.connectors import churn
from mdmtui.connectors.intune import IntuneConnector
from mdmtui.records import StoredSoftware
from mdmtui.sim import Simulator
from mdmtui.sim.day import DayRates

LIST_URL = f"{GRAPH}/v1.0/deviceManagement/managedDevices"
APPS_URL = f"{GRAPH}/v1.0/deviceManagement/detectedApps"
APPS_PATH = "/v1.0/deviceManagement/detectedApps"  # the tenant-wide list itself (not an app's device list)


def item(n: int) -> dict:
    return {"id": f"dev-{n}", "deviceName": f"Phone {n}", "operatingSystem": "iOS", "osVersion": "18.5",
            "serialNumber": f"SN{n}", "lastSyncDateTime": "2026-11-20T10:00:00Z", "iccid": "", "udid": "",
            "ethernetMacAddress": None, "physicalMemoryInBytes": 0}


def app(ident: str, name: str | None, version: str, count: int, platform: str = "ios") -> dict:
    return {"id": ident, "displayName": name, "version": version, "sizeInByte": 0, "deviceCount": count,
            "publisher": "", "platform": platform}


def stored_of(held: dict[str, list[tuple[str, str | None]]]) -> StoredSoftware:
    out = StoredSoftware()
    for device, held_pairs in held.items():
        for name, version in held_pairs:
            out.add(device, name, version)
    return out


def connector(held: dict) -> IntuneConnector:
    conn = IntuneConnector(intune_config(extra={"intune_route": "list", "retry": {"attempts": 1}}))
    loads = []

    async def load() -> StoredSoftware:
        loads.append(1)
        return stored_of(held)

    conn.stored_software = load
    conn.loads = loads  # type: ignore[attr-defined]
    return conn


def mock_base(items: list[dict], new: list[str]) -> None:
    respx.post(TOKEN_URL).mock(return_value=httpx.Response(200, json={"access_token": "tok-1", "expires_in": 3599}))
    respx.get(url__startswith=LIST_URL + "?").mock(return_value=httpx.Response(200, json={"value": items}))
    respx.post(f"{GRAPH}/beta/$batch").mock(return_value=httpx.Response(200, json={"responses": [
        {"id": str(n), "status": 200, "body": {"id": i, "udid": "U", "physicalMemoryInBytes": 1}}
        for n, i in enumerate(new)]}))


def per_device(ident: str, apps: list[dict]):
    return respx.get(url__startswith=f"{GRAPH}/beta/deviceManagement/managedDevices/{ident}/detectedApps").mock(
        return_value=httpx.Response(200, json={"value": apps}))


def app_devices(ident: str, pages: list[list[str]]):
    """``detectedApps/{ident}/managedDevices`` answering ``pages`` of device ids, linked by nextLink."""
    url = f"{APPS_URL}/{ident}/managedDevices"
    answers = []
    for n, ids in enumerate(pages):
        body: dict = {"value": [{"id": i} for i in ids]}
        if n + 1 < len(pages):
            body["@odata.nextLink"] = f"{url}?$select=id&$top=1000&$skiptoken=p{n + 1}"
        answers.append(httpx.Response(200, json=body))
    return respx.get(url__startswith=url).mock(side_effect=answers)


def fresh_markers(items: list[dict]) -> dict:
    return {i["id"]: stored_marker(i, time.time()) for i in items}


@respx.mock
async def test_only_a_moved_count_costs_a_device_list_and_each_device_gets_its_new_software():
    items = [item(1), item(2), item(3), item(4)]
    mock_base(items, ["dev-4"])
    held = {"dev-1": [("LINE", "14.2"), ("Slack", "4.0")], "dev-2": [("LINE", "14.2"), ("Slack", "4.0")],
            "dev-3": [("Box", "5.1")]}
    # the truth: dev-1 removed Slack, dev-3 installed Teams, dev-4 is new (LINE, read by the per-device call)
    second = f"{APPS_URL}?$top=1000&$skiptoken=page2"
    tenant = respx.get(host="graph.test", path=APPS_PATH).mock(side_effect=lambda request: httpx.Response(200, json=(
        {"value": [app("line-ios", "LINE", "14.2", 2), app("line-and", "LINE", "14.2", 1, "androidWorkProfile"),
                   app("slack", "Slack", "4.0", 1)], "@odata.nextLink": second}
        if "skiptoken" not in str(request.url) else
        {"value": [app("slack", "Slack", "4.0", 1),  # repeated by an offset-paged list: counted once
                   app("box", "Box", "5.1", 1), app("teams", "Microsoft Teams", "7.1", 1),
                   app("noname", None, "1.0", 9)]})))
    slack = app_devices("slack", [[], ["dev-2"]])  # an empty first page: the next link still followed
    teams = app_devices("teams", [["dev-3"]])
    unchanged = [app_devices(i, [["dev-1"]]) for i in ("line-ios", "line-and", "box", "noname")]
    reads = {i: per_device(f"dev-{i}", [{"displayName": "LINE", "version": "14.2"}]) for i in (1, 2, 3, 4)}
    conn = connector(held)
    records = await records_of(conn, fresh_markers(items[:3]))

    assert conn.route == "list" and conn.software_route == "tenant-wide" and conn.warnings == []
    list_calls = list(tenant.calls)
    assert [str(c.request.url) for c in list_calls] == [f"{APPS_URL}?%24top=1000", second]
    assert all(c.request.headers["authorization"] == "Bearer tok-1" for c in list_calls)
    # a moved count: its device list, paged, ids only; an unchanged count (summed over platforms): nothing
    assert [str(c.request.url) for c in slack.calls] == [
        f"{APPS_URL}/slack/managedDevices?%24select=id&%24top=1000",
        f"{APPS_URL}/slack/managedDevices?$select=id&$top=1000&$skiptoken=p1"]
    assert teams.call_count == 1 and not any(m.called for m in unchanged)
    # per-device calls only for the new device (the others' refresh is not due)
    assert [reads[i].call_count for i in (1, 2, 3, 4)] == [0, 0, 0, 1]
    assert pairs(records["dev-1"].software) == [("LINE", "14.2")]
    assert records["dev-2"].software is None  # nothing moved for it: it keeps its stored software
    assert pairs(records["dev-3"].software) == [("Box", "5.1"), ("Microsoft Teams", "7.1")]
    assert pairs(records["dev-4"].software) == [("LINE", "14.2")]
    assert all(r.change_marker is not None for r in records.values()) and conn.loads == [1]


@respx.mock
async def test_a_pair_the_list_lacks_is_read_device_by_device_and_a_vanished_app_is_on_no_device():
    items = [item(1), item(2)]
    mock_base(items, [])
    held = {"dev-1": [("Gone App", "1.0"), ("LINE", "14.2")],
            "dev-2": [("Box", "5.1"), ("LINE", "14.2"), ("Notes", None)]}
    respx.get(host="graph.test", path=APPS_PATH).mock(return_value=httpx.Response(200, json={"value": [
        app("line", "LINE", "14.2", 2), app("box", "Box", "5.1", 0), app("notes", "Notes", None, 0),
        app("notes2", "Notes", "2.0", 1)]}))  # no version and a version: one app, two pairs, both moved
    app_devices("notes", [[]])
    app_devices("notes2", [["dev-2"]])
    box = respx.get(url__startswith=f"{APPS_URL}/box/managedDevices").mock(return_value=httpx.Response(
        404, json={"error": {"code": "ResourceNotFound", "message": "Resource not found"}}))
    one = per_device("dev-1", [{"displayName": "LINE", "version": "14.2"}])
    two = per_device("dev-2", [])
    conn = connector(held)
    records = await records_of(conn, fresh_markers(items))
    # "Gone App" is not in the list: skipped by a shifting list, or its last device dropped it — never
    # taken as removed, its holder is asked; Box's device list is gone (404): no device has it
    assert one.call_count == 1 and not two.called and box.call_count == 1
    assert pairs(records["dev-1"].software) == [("LINE", "14.2")]
    assert pairs(records["dev-2"].software) == [("LINE", "14.2"), ("Notes", "2.0")]
    assert conn.warnings == []


@respx.mock
@pytest.mark.parametrize("answer", [
    httpx.Response(400, json={"error": {"code": "BadRequest", "message": "nope"}}),
    httpx.Response(200, json={"value": ["not an app", 7]}),  # garbage entries: no crash, the same fallback
    httpx.Response(200, json={"value": [{"id": "a1", "deviceCount": True}]}),
], ids=["400", "entries not objects", "count not a number"])
async def test_an_unreadable_tenant_wide_list_falls_back_to_per_device_calls_with_a_warning(answer):
    items = [item(1), item(2)]
    mock_base(items, ["dev-2"])
    respx.get(host="graph.test", path=APPS_PATH).mock(return_value=answer)
    one = per_device("dev-1", [])
    two = per_device("dev-2", [{"displayName": "Box", "version": "5.1"}])
    conn = connector({"dev-1": [("LINE", "14.2")]})
    records = await records_of(conn, fresh_markers(items[:1]))
    assert conn.software_route == "per-device" and len(conn.warnings) == 1
    assert "tenant-wide detected apps" in conn.warnings[0] and "device by device" in conn.warnings[0]
    assert not one.called and two.call_count == 1 and records["dev-1"].software is None
    assert pairs(records["dev-2"].software) == [("Box", "5.1")]


@respx.mock
async def test_a_first_collection_reads_every_device_and_not_the_tenant_wide_list():
    items = [item(1), item(2)]
    mock_base(items, ["dev-1", "dev-2"])
    tenant = respx.get(host="graph.test", path=APPS_PATH).mock(return_value=httpx.Response(200, json={"value": []}))
    reads = [per_device(f"dev-{i}", [{"displayName": "Box", "version": "5.1"}]) for i in (1, 2)]
    conn = connector({})
    records = await records_of(conn, {})
    assert not tenant.called and [r.call_count for r in reads] == [1, 1] and conn.software_route == "per-device"
    assert all(pairs(r.software) == [("Box", "5.1")] for r in records.values())


# --- against the simulator over loopback --------------------------------------------------------------

LIST = {"intune_route": "list"}


def truth_of(sim) -> dict:
    fleet = sim.services["intune"].fleet
    out = {}
    for ident in sim.device_ids("intune"):
        slot = fleet.slot_of(ident)
        out[ident] = sorted((fleet.catalog(slot)[i].name, fleet.catalog(slot)[i].versions[v]) for i, v in fleet.apps(slot))
    return out


def inventory(held: dict, records) -> dict:
    """Each listed device's software after a run (None: the stored one stays), sorted (name, version)."""
    return {r.mdm_device_id: pairs(r.software) if r.software is not None
            else sorted((n, v or "") for n, v in held.get(r.mdm_device_id, [])) for r in records}


def held_of(records, before: dict | None = None) -> dict:
    out = dict(before or {})
    out.update({r.mdm_device_id: [(s.name, s.version) for s in r.software] for r in records if r.software is not None})
    return out


async def test_after_a_day_the_list_routes_software_equals_the_simulators_at_a_fraction_of_the_calls():
    with Simulator(seed=23, intune=400, mobileiron=1, sdm=1, budget=None) as sim:
        first, _ = await sim_collect(sim, "intune", extra=LIST)
        held = held_of(first)
        done = sim.admin.advance(24, "intune", DayRates(apps=0.2))["intune"]
        assert done["apps_changed"] > 30 and done["enrolled"] + done["reenrolled"] + done["left"] > 0
        sim.meter.reset()
        daily, conn = await sim_collect(sim, "intune", {r.mdm_device_id: r.change_marker for r in first},
                                        stored=stored_software([], held), extra=LIST)
        assert conn.software_route == "tenant-wide" and conn.warnings == []
        assert inventory(held, daily) == truth_of(sim)
        units = sim.meter.report()["intune"]["units"]
        assert units < len(daily)  # fewer than one request unit a device (a seventh of them is the refresh)


def _swap_pair(sim, first) -> tuple[str, str, int]:
    """Two devices of one platform, each with another version of the same app: (a, b, app index)."""
    fleet = sim.services["intune"].fleet
    slots = {r.mdm_device_id: fleet.slot_of(r.mdm_device_id) for r in first}
    seen: dict[tuple[str, int], tuple[str, int]] = {}
    for ident, slot in slots.items():
        for idx, ver in fleet.apps(slot):
            if len(fleet.catalog(slot)[idx].versions) < 2:
                continue
            key = (fleet.os_of(slot) == "Android", idx)
            other = seen.get(key)
            if other is not None and other[1] != ver:
                return other[0], ident, idx
            seen.setdefault(key, (ident, ver))
    raise AssertionError("no two devices with different versions of one app")


async def test_an_equal_count_swap_is_missed_by_the_counts_and_mended_by_the_rolling_refresh():
    quiet = DayRates(checkin=0, stale_checkin=0, sim_swap=0, enrol=0, reenrol=0, leave=0, apps=0)
    with Simulator(seed=29, intune=200, mobileiron=1, sdm=1, budget=None) as sim:
        first, _ = await sim_collect(sim, "intune", extra=LIST)
        held = held_of(first)
        known = {r.mdm_device_id: r.change_marker for r in first}
        fleet = sim.services["intune"].fleet
        a, b, idx = _swap_pair(sim, first)
        va, vb = dict(fleet.apps(fleet.slot_of(a)))[idx], dict(fleet.apps(fleet.slot_of(b)))[idx]
        fleet.update(fleet.slot_of(a), app_versions={idx: vb})  # a takes b's version and b a's:
        fleet.update(fleet.slot_of(b), app_versions={idx: va})  # both counts stay as they were
        sim.admin.advance(1, "intune", quiet)
        # a third device, whose refresh is not due, updates an app: a count the tenant-wide list shows moves
        later = fleet.clock() + 600
        c = next(i for i in known if i not in (a, b)
                 and len(fleet.catalog(fleet.slot_of(i))[fleet.apps(fleet.slot_of(i))[0][0]].versions) > 1
                 and churn.period_number(churn.parse(known[i]).slot, later, 7) == churn.parse(known[i]).period)
        c_idx, c_ver = fleet.apps(fleet.slot_of(c))[0]
        versions = len(fleet.catalog(fleet.slot_of(c))[c_idx].versions)
        fleet.update(fleet.slot_of(c), app_versions={c_idx: (c_ver + 1) % versions})
        daily, _ = await sim_collect(sim, "intune", known, stored=stored_software([], held), extra=LIST)
        after, truth = inventory(held, daily), truth_of(sim)
        markers = {r.mdm_device_id: r.change_marker for r in daily}
        due = {i for i in (a, b, c) if churn.due(known[i], markers[i]).refresh}
        assert c not in due and after[c] == truth[c]  # a moved count: seen the same day
        for ident in (a, b):  # the swap: equal counts, so only a due refresh reads them today
            assert (after[ident] == truth[ident]) == (ident in due)
        assert due != {a, b}  # the hole is shown (at least one of them not read today)
        held = held_of(daily, held)
        known = {r.mdm_device_id: r.change_marker for r in daily}
        sim.admin.advance(24 * 7, "intune", quiet)  # one refresh period: every device's refresh ticks once
        week, _ = await sim_collect(sim, "intune", known, stored=stored_software([], held), extra=LIST)
        assert inventory(held, week) == truth_of(sim)
