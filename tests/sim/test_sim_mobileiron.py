"""MobileIron Core: ping, device spaces, v2 search paging, details, app inventory, wipe/actions, v1 lock, auth."""

from __future__ import annotations

import time

import httpx
import pytest

FIELDS = "common.uuid,common.imei,common.SerialNumber,common.platform,ios.iPhone UDID,ios.iPhone ICCID,common.mdm_managed"
SPACE = {"adminDeviceSpaceId": 1}


def _search(mi, **params):
    return mi.get("/api/v2/devices", params={**SPACE, "fields": FIELDS, **params})


def test_ping_and_device_space(mi):
    assert mi.get("/api/v2/ping").json() == {"results": {"apiVersion": 2.0, "vspVersion": ""}}
    assert mi.get("/api/v2/device_spaces/mine").json()["results"][0]["id"] == 1


def test_search_pages_with_offset_limit_hasmore(sim, mi):
    seen, offset = [], 0
    while True:
        body = _search(mi, limit=50, offset=offset).json()
        assert body["totalCount"] == 120 and body["resultCount"] == len(body["results"])
        assert {"searchTimeMillis", "currentServerTimeMilliseconds"} <= set(body)
        seen += [row["common.uuid"] for row in body["results"]]
        offset += 50
        if not body["hasMore"]:
            break
    assert seen == sim.device_ids("mobileiron") and len(seen) == 120


def test_search_rows_are_flat_with_spaces_in_ios_keys(sim, mi):
    rows = _search(mi, limit=120).json()["results"]
    assert all(set(r) == set(FIELDS.split(",")) for r in rows)
    ios = next(r for r in rows if r["common.platform"] == "iOS" and r["common.imei"])
    android = next(r for r in rows if r["common.platform"] == "Android")
    assert ios["ios.iPhone UDID"] and ios["ios.iPhone ICCID"].startswith("89")
    assert android["ios.iPhone UDID"] == "" and android["ios.iPhone ICCID"] == ""     # absent values are ""
    assert ios["common.SerialNumber"] == sim.truth("mobileiron", ios["common.uuid"])["common.SerialNumber"]


def test_search_parameter_errors(mi):
    r = mi.get("/api/v2/devices", params={**SPACE, "limit": 10})
    assert r.status_code == 400 and "fields" in r.json()["messages"][0]["localizedMessage"]
    assert mi.get("/api/v2/devices", params={"fields": FIELDS}).status_code == 400      # no device space
    assert _search(mi, fields="common.uuid,common.nonsense").status_code == 400
    assert _search(mi, fields=",".join(["common.uuid"] * 513)).status_code == 400
    assert _search(mi, limit=0).status_code == 400
    assert _search(mi, query="common.platform ~ 'x'").status_code == 400


def test_query_and_count(mi):
    rows = _search(mi, query='common.platform = "Android"', limit=500).json()
    assert rows["results"] and {r["common.platform"] for r in rows["results"]} == {"Android"}
    count = mi.get("/api/v2/devices/count", params={**SPACE, "query": 'common.platform = "Android"'}).json()
    assert count["totalCount"] == rows["totalCount"]
    assert mi.get("/api/v2/devices/count", params={**SPACE, "query": ""}).json() == {"totalCount": 120}


def test_details_name_value_list(sim, mi):
    uuid = sim.scenario_devices["mobileiron"]["japanese_names"]
    body = mi.get(f"/api/v2/devices/{uuid}/details", params=SPACE).json()
    values = {d["name"]: d["value"] for d in body["results"]}
    truth = sim.truth("mobileiron", uuid)
    assert values["SerialNumber"] == truth["common.SerialNumber"] and values["imei"] == truth["common.imei"]
    assert values["udid"] == truth["ios.iPhone UDID"] and values["PasscodePresent"] in ("true", "false")
    ram = sim.fleets["mobileiron"].profile(sim.fleets["mobileiron"].slot_of(uuid))["ram"]
    assert int(values["total_ram_size_bytes"]) == ram > 0
    assert truth["common.memory_capacity"] == ""   # RAM only in /details (docs/mobileiron-core-api.md)
    assert int(values["total_storage_size_bytes"]) == truth["common.storage_capacity"]
    assert values["Number"] == truth["common.current_phone_number"]
    assert mi.get("/api/v2/devices/00000000-0000-4000-8000-000000000000/details", params=SPACE).status_code == 404


def test_app_inventory(sim, mi):
    uuids = sim.device_ids("mobileiron")[:3]
    body = mi.get("/api/v2/devices/appinventory", params={**SPACE, "deviceUuids": ",".join(uuids)}).json()
    assert len(body["results"]) == 3
    assert [len(r["appInventory"]) for r in body["results"]] == [len(sim.fleets["mobileiron"].apps(s)) for s in range(3)]
    too_many = ",".join(sim.device_ids("mobileiron")[:26])
    assert mi.get("/api/v2/devices/appinventory", params={**SPACE, "deviceUuids": too_many}).status_code == 400


@pytest.mark.parametrize("user, status", [("api_admin", 200), ("portal_admin", 401), ("nobody", 401)])
def test_basic_auth_needs_api_role(sim, user, status):
    pw = sim.mobileiron.users.get(user, ("x",))[0]
    r = httpx.get(sim.mobileiron.base_url + "/api/v2/ping", auth=(user, pw))
    assert r.status_code == status
    if status == 401:
        assert r.headers["www-authenticate"].startswith("Basic")


def _client(sim, user):
    m = sim.mobileiron
    return httpx.Client(base_url=m.base_url, auth=(user, m.users[user][0]), timeout=10)


OK_KEY = "com.mobileiron.vsp.messages.device.action.successful"


def test_wipe_reports_each_device(fresh):
    ids = fresh.scenario_devices["mobileiron"]
    ok, dead = ids["stale"], ids["profile_removed"]
    ghost = "00000000-0000-4000-8000-000000000000"
    with _client(fresh, "api_admin") as c:
        body = c.put("/api/v2/devices/wipe", params=SPACE, json={"deviceUuids": [ok, dead, ghost], "note": "lost"}).json()
        assert c.put("/api/v2/devices/wipe", params=SPACE, json={"note": "x"}).status_code == 400
    assert body["actionType"] == "WIPE_DEVICE" and body["successful"] is True
    assert body["deviceResults"][ok] == OK_KEY
    assert "not.found" in body["deviceResults"][ghost]
    assert fresh.truth("mobileiron", ok)["common.status"] == "WIPED"


@pytest.mark.parametrize("path, params", [("/api/v2/devices/wipe", {}),
                                          ("/api/v2/devices/action", {"actionType": "UNLOCK_DEVICE_ONLY"})])
def test_core_answers_success_for_a_profile_removed_device_and_changes_nothing(fresh, path, params):
    """Core 5.8+ (MDM-APIS.md section 2): the success key, while the device's state never changes."""
    dead = fresh.scenario_devices["mobileiron"]["profile_removed"]
    before = fresh.truth("mobileiron", dead)
    with _client(fresh, "api_admin") as c:
        call = c.put if path.endswith("wipe") else c.post
        body = call(path, params={**SPACE, **params}, json={"deviceUuids": [dead], "note": ""}).json()
        assert body["deviceResults"][dead] == OK_KEY and body["successful"] is True
    after = fresh.truth("mobileiron", dead)
    assert after == before and after["common.status"] == "ACTIVE" and after["common.mdm_managed"] is False


def test_generated_fleet_has_other_core_states_deterministically():
    from mdmtui.sim import Simulator

    def states(seed):
        sim = Simulator(seed=seed, intune=1, mobileiron=3000, sdm=1)
        svc = sim.services["mobileiron"]
        return [(svc.truth(s)["common.status"], svc.truth(s)["common.mdm_managed"]) for s in range(3000)]

    got = states(3)
    assert got == states(3)
    counts = {}
    for status, _ in got:
        counts[status] = counts.get(status, 0) + 1
    assert set(counts) == {"ACTIVE", "RETIRED", "WIPED", "BLOCKED", "LOST", "VERIFIED", "EXPIRED"}
    assert counts["ACTIVE"] > 0.93 * 3000 and counts["RETIRED"] < 0.03 * 3000
    assert {managed for status, managed in got if status in ("RETIRED", "WIPED", "VERIFIED", "EXPIRED")} == {False}
    assert {managed for status, managed in got if status in ("ACTIVE", "LOST", "BLOCKED")} == {True}


def test_unlock_device_only_clears_passcode(fresh):
    uuid = fresh.scenario_devices["mobileiron"]["japanese_names"]
    with _client(fresh, "api_admin") as c:
        r = c.post("/api/v2/devices/action", params={**SPACE, "actionType": "UNLOCK_DEVICE_ONLY"},
                   json={"deviceUuids": [uuid], "note": "forgot"})
        assert r.json()["deviceResults"][uuid].endswith("successful")
        details = {d["name"]: d["value"] for d in c.get(f"/api/v2/devices/{uuid}/details", params=SPACE).json()["results"]}
        assert details["PasscodePresent"] == "false"
        bad = c.post("/api/v2/devices/action", params={**SPACE, "actionType": "SELF_DESTRUCT"}, json={"deviceUuids": [uuid]})
        assert bad.status_code == 400


def test_actions_need_the_action_role(fresh):
    uuid = fresh.device_ids("mobileiron")[0]
    with _client(fresh, "api_readonly") as c:
        assert c.get("/api/v2/devices", params={**SPACE, "fields": "common.uuid"}).status_code == 200
        assert c.put("/api/v2/devices/wipe", params=SPACE, json={"deviceUuids": [uuid]}).status_code == 403
        assert c.put(f"/api/v1/dm/devices/lock/{uuid}", params={"reason": "x"}).status_code == 403


def test_v1_lock(fresh):
    ids = fresh.scenario_devices["mobileiron"]
    with _client(fresh, "api_admin") as c:
        r = c.put(f"/api/v1/dm/devices/lock/{ids['stale']}", params={"reason": "lost"})
        assert r.status_code == 200 and "lock" in r.json()["messages"]["message"]
        r = c.put(f"/api/v1/dm/devices/lock/{ids['profile_removed']}", params={"reason": "lost"})
        assert r.status_code == 400 and "not MDM managed" in r.json()["messages"]["message"]
        r = c.put("/api/v1/dm/devices/lock/00000000-0000-4000-8000-000000000000", params={"reason": "x"})
        assert r.status_code == 404 and "messages" in r.json()
    assert fresh.fleets["mobileiron"].profile(fresh.fleets["mobileiron"].slot_of(ids["stale"]))["locked_at"]


def test_profile_removed_device_reads_unmanaged(sim, mi):
    dead = sim.scenario_devices["mobileiron"]["profile_removed"]
    rows = _search(mi, query=f'common.uuid = "{dead}"').json()["results"]
    assert rows[0]["common.mdm_managed"] is False


def test_last_connected_at_query_compares_instants_in_cores_own_format(sim, mi):
    fleet = sim.fleets["mobileiron"]
    times = sorted(t for t in (fleet.last_sync(s) for s in fleet.live_slots()) if t)
    cut = times[len(times) // 2]
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(cut)) + ".000Z"
    rows = _search(mi, query=f'"common.last_connected_at" > "{text}"', limit=500).json()
    want = {fleet.id_of(s) for s in fleet.live_slots() if (fleet.last_sync(s) or 0) > cut}
    assert {r["common.uuid"] for r in rows["results"]} == want and rows["totalCount"] == len(want)
    for loose in ("2026-11-30", "2026-11-30T01:50:00Z", "2026-11-30 01:50:00.000Z", "yesterday"):
        r = _search(mi, query=f'"common.last_connected_at" > "{loose}"')
        assert r.status_code == 400 and "yyyy-MM-ddTHH:mm:ss.SSSZ" in r.json()["messages"][0]["localizedMessage"]


def test_filtered_search_follows_the_fleet_between_pages(fresh):
    """A filtered search's matches are kept per fleet version: a device that checks in, one that leaves
    and one that enrols between two requests of the same query are seen in the next answer."""
    m, fleet = fresh.mobileiron, fresh.fleets["mobileiron"]
    query = '"common.last_connected_at" > "' + time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 5)) + '.000Z"'
    with httpx.Client(base_url=m.base_url, auth=(m.user, m.password), timeout=10) as c:
        def found() -> tuple[set[str], int]:
            body = c.get("/api/v2/devices", params={**SPACE, "fields": FIELDS, "query": query, "limit": 500}).json()
            count = c.get("/api/v2/devices/count", params={**SPACE, "query": query}).json()["totalCount"]
            assert count == body["totalCount"]
            return {r["common.uuid"] for r in body["results"]}, count
        before, _ = found()
        quiet = next(i for i in fresh.device_ids("mobileiron") if i not in before)
        fresh.admin.touch("mobileiron", quiet)
        new = fresh.admin.add("mobileiron")
        gone = next(iter(before)) if before else None
        if gone:
            fresh.admin.remove("mobileiron", gone)
        after, count = found()
        assert quiet in after and new in after and gone not in after and count == len(after)
        want = {fleet.id_of(s) for s in fleet.live_slots() if (fleet.last_sync(s) or 0) > time.time() - 5}
        assert after == want


def test_uuid_query_finds_exactly_that_device(fresh):
    """`common.uuid = "…"` (the connector's status lookup): the device, in any letter case; nothing for a
    removed, a re-enrolled or an unknown uuid, or when another clause does not hold."""
    m = fresh.mobileiron
    ids = fresh.device_ids("mobileiron")
    with httpx.Client(base_url=m.base_url, auth=(m.user, m.password), timeout=10) as c:
        def uuids(query: str) -> list[str]:
            body = c.get("/api/v2/devices", params={**SPACE, "fields": FIELDS, "query": query, "limit": 500}).json()
            assert body["totalCount"] == len(body["results"])
            return [r["common.uuid"] for r in body["results"]]
        assert uuids(f'common.uuid = "{ids[5]}"') == [ids[5]]
        assert uuids(f'"common.uuid" = "{ids[5].upper()}"') == [ids[5]]
        platform = fresh.truth("mobileiron", ids[5])["common.platform"]
        other = "iOS" if platform == "Android" else "Android"
        assert uuids(f'common.uuid = "{ids[5]}" AND common.platform = "{platform}"') == [ids[5]]
        assert uuids(f'common.uuid = "{ids[5]}" AND common.platform = "{other}"') == []
        fresh.admin.remove("mobileiron", ids[6])
        renewed = fresh.admin.reenrol("mobileiron", ids[7])
        assert uuids(f'common.uuid = "{ids[6]}"') == [] and uuids(f'common.uuid = "{ids[7]}"') == []
        assert uuids(f'common.uuid = "{renewed}"') == [renewed]
        assert uuids('common.uuid = "00000000-0000-4000-8000-000000000000"') == []
        assert uuids(f'common.uuid != "{ids[5]}"') == [i for i in fresh.device_ids("mobileiron") if i != ids[5]]


def test_status_lookup_and_paging_do_not_walk_the_fleet_per_request(monkeypatch):
    """A uuid lookup builds one device's fields; the pages of one filtered search walk the fleet once
    (the daily run's status lookups of departed devices were one walk of 100,000 devices each)."""
    from mdmtui.sim import Simulator
    from mdmtui.sim.mobileiron import _query

    sim = Simulator(seed=3, intune=0, mobileiron=3000, sdm=0)
    svc, fleet = sim.services["mobileiron"], sim.fleets["mobileiron"]
    built = []
    inner = svc._fields
    monkeypatch.setattr(svc, "_fields", lambda slot: built.append(slot) or inner(slot))
    text = f'common.uuid = "{fleet.id_of(1234)}"'
    assert svc._matches(text, _query(text)) == [1234] and built == [1234]
    built.clear()
    text = 'common.platform = "Android"'
    pages = [svc._filtered_page(offset, 200, ["common.uuid"], _query(text), text) for offset in range(0, 3000, 200)]
    assert len(built) == 3000 + sum(len(rows) for rows, _ in pages)
    assert sum(len(rows) for rows, _ in pages) == pages[0][1] > 0
