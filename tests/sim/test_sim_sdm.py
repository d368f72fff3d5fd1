"""The SDM contract: devices paging, version rules, the command lifecycle, the software service."""

from __future__ import annotations

import time

import httpx


def test_devices_page_with_total(sim, sdm):
    seen, offset = [], 0
    while True:
        body = sdm.get("/devices", params={"offset": offset, "limit": 50}).json()
        assert body["total"] == 120
        seen += [d["deviceId"] for d in body["devices"]]
        offset += 50
        if offset >= body["total"]:
            break
    assert seen == sim.device_ids("sdm")


def test_device_fields_and_version_rules(sim, sdm):
    devices = sdm.get("/devices", params={"limit": 120}).json()["devices"]
    keys = {"deviceId", "listName", "user", "phoneNumber", "email", "os", "osVersion", "manufacturer", "model",
            "serialNumber", "imei", "udid", "imsi", "iccid", "carrier", "passcodeSet", "ramTotalBytes", "ramFreeBytes",
            "internalTotalBytes", "internalFreeBytes", "sdCardTotalBytes", "sdCardFreeBytes", "wifiMac", "hostName",
            "lastContact", "managed", "managerVersion"}
    assert all(set(d) == keys for d in devices)
    assert {d["os"] for d in devices} <= {"iOS", "iPadOS", "Android"}
    old = [d for d in devices if d["os"] == "Android" and d["managerVersion"] < "11-00-04"]
    assert old and all(d["serialNumber"] is None and d["passcodeSet"] is None for d in old)
    new = [d for d in devices if d["os"] == "Android" and d["managerVersion"] == "11-00-04"]
    assert new and all(d["serialNumber"] and d["passcodeSet"] is not None for d in new)
    assert all(d["udid"] is None for d in devices if d["os"] == "Android")
    assert all(len(d["listName"].encode()) <= 128 and d["listName"].replace("_", "").replace("-", "").replace(".", "").isalnum()
               for d in devices)
    dead = sim.scenario_devices["sdm"]["profile_removed"]
    assert next(d for d in devices if d["deviceId"] == dead)["managed"] is False


def test_auth_and_limits(sim, sdm):
    assert httpx.get(sim.sdm.base_url + "/sdm/api/v1/devices", auth=("x", "y")).status_code == 401
    assert sdm.get("/devices", params={"limit": 501}).status_code == 400
    assert sdm.get("/devices", params={"offset": "abc"}).status_code == 400
    assert sdm.get("/devices/nope").status_code == 404


def _wait(sdm, cid, until=("succeeded", "failed")):
    for _ in range(100):
        body = sdm.get(f"/commands/{cid}").json()
        if body["state"] in until:
            return body
        time.sleep(0.02)
    raise AssertionError(body)


def test_command_lifecycle(fresh):
    s = fresh.sdm
    with httpx.Client(base_url=s.base_url + "/sdm/api/v1", auth=(s.user, s.password)) as c:
        dev = fresh.scenario_devices["sdm"]["stale"]
        r = c.post(f"/devices/{dev}/commands", json={"type": "lock"})
        assert r.status_code == 202 and r.json()["state"] == "queued"
        cid = r.json()["commandId"]
        assert _wait(c, cid, ("sent",))["state"] == "sent"
        done = _wait(c, cid)
        assert done == {"commandId": cid, "state": "succeeded"}
        r = c.post(f"/devices/{dev}/commands", json={"type": "wipe"})
        _wait(c, r.json()["commandId"])
        assert c.get(f"/devices/{dev}").json()["managed"] is False
        after = _wait(c, c.post(f"/devices/{dev}/commands", json={"type": "lock"}).json()["commandId"])
        assert after["state"] == "failed" and "profile" in after["error"]  # wiped: no profile any more


def test_command_fails_without_profile(fresh):
    s = fresh.sdm
    with httpx.Client(base_url=s.base_url + "/sdm/api/v1", auth=(s.user, s.password)) as c:
        dead = fresh.scenario_devices["sdm"]["profile_removed"]
        cid = c.post(f"/devices/{dead}/commands", json={"type": "passcodeReset"}).json()["commandId"]
        body = _wait(c, cid)
        assert body["state"] == "failed" and "profile" in body["error"]
        assert c.post(f"/devices/{dead}/commands", json={"type": "format"}).status_code == 400
        assert c.post("/devices/nope/commands", json={"type": "lock"}).status_code == 404
        assert c.get("/commands/nope").status_code == 404


def test_software_service(sim):
    dev = sim.scenario_devices["sdm"]["many_apps"]
    base = f"http://{sim.sdm.db_host}:{sim.sdm.db_port}/software"
    first = httpx.get(base, params={"deviceId": dev, "offset": 0, "limit": 500}).json()
    assert first["total"] == 2500 and len(first["items"]) == 500
    assert set(first["items"][0]) == {"name", "version", "manufacturer"}
    names = set()
    for off in range(0, 2500, 500):
        names |= {(i["name"], i["version"]) for i in httpx.get(base, params={"deviceId": dev, "offset": off, "limit": 500}).json()["items"]}
    assert len(names) == 2500
    assert httpx.get(base, params={"deviceId": "nope"}).status_code == 404


def test_device_commands_list_finds_a_command_by_its_client_request_id(fresh):
    """The contract's way to settle a command whose answer was lost: GET /devices/{id}/commands."""
    s = fresh.sdm
    with httpx.Client(base_url=s.base_url + "/sdm/api/v1", auth=(s.user, s.password)) as c:
        dev = fresh.scenario_devices["sdm"]["stale"]
        assert c.get(f"/devices/{dev}/commands").json() == {"commands": []}
        cid = c.post(f"/devices/{dev}/commands", json={"type": "wipe"},
                     headers={"client-request-id": "req-1"}).json()["commandId"]
        _wait(c, cid)
        listed = c.get(f"/devices/{dev}/commands").json()["commands"]
        assert [(x["commandId"], x["type"], x["state"], x["clientRequestId"]) for x in listed] == \
            [(cid, "wipe", "succeeded", "req-1")]
        assert listed[0]["createdAt"].endswith("Z")
        assert c.get("/devices/nope/commands").status_code == 404


def test_changed_since_lists_only_devices_in_contact_after_it(sim, sdm):
    fleet = sim.fleets["sdm"]
    times = sorted(t for t in (fleet.last_sync(s) for s in fleet.live_slots()) if t)
    cut = times[len(times) * 3 // 4]
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(cut))
    want = [fleet.id_of(s) for s in fleet.live_slots() if (fleet.last_sync(s) or 0) > cut]
    first = sdm.get("/devices", params={"changedSince": since, "limit": 10}).json()
    rest = sdm.get("/devices", params={"changedSince": since, "offset": 10, "limit": 500}).json()
    assert first["total"] == len(want) < 120
    assert [d["deviceId"] for d in first["devices"] + rest["devices"]] == want
    for bad in ("2026-11-30", "2026-11-30T01:50:00", "1764467400"):
        r = sdm.get("/devices", params={"changedSince": bad})
        assert r.status_code == 400 and "changedSince" in r.text
