"""Intune through Graph: token endpoint, paging, $select/$filter, the LIST quirk, $batch, apps, actions."""

from __future__ import annotations

import json
import time

import pytest

from conftest import SCOPE, graph_token

DEV = "/v1.0/deviceManagement/managedDevices"


def _token(sim, client, **changes):
    i = sim.intune
    data = {"client_id": i.client_id, "client_secret": i.client_secret, "scope": SCOPE,
            "grant_type": "client_credentials", **changes}
    tenant = data.pop("tenant", i.tenant_id)
    return client.post(f"{i.base_url}/{tenant}/oauth2/v2.0/token", data=data)


def _all(client, headers, url):
    pages = []
    while url:
        r = client.get(url, headers=headers)
        assert r.status_code == 200, r.text
        pages.append(r.json())
        url = r.json().get("@odata.nextLink")
    return pages


# --- token endpoint ---------------------------------------------------------------------------------
def test_token_issued(sim, client):
    r = _token(sim, client)
    body = r.json()
    assert r.status_code == 200 and body["token_type"] == "Bearer" and body["expires_in"] == 3599
    assert body["access_token"]


def test_token_secret_in_basic_header(sim, client):
    i = sim.intune
    r = client.post(f"{i.base_url}/{i.tenant_id}/oauth2/v2.0/token", auth=(i.client_id, i.client_secret),
                    data={"scope": SCOPE, "grant_type": "client_credentials"})
    assert r.status_code == 200


def test_wrong_secret_is_invalid_client(sim, client):
    r = _token(sim, client, client_secret="nope")
    body = r.json()
    assert r.status_code == 401 and body["error"] == "invalid_client"
    assert body["error_codes"] == [7000215] and body["error_description"].startswith("AADSTS7000215")
    assert {"timestamp", "trace_id", "correlation_id"} <= set(body)


@pytest.mark.parametrize("change, status, error, code", [
    ({"tenant": "11111111-2222-3333-4444-555555555555"}, 400, "invalid_request", 90002),
    ({"client_id": "00000000-0000-0000-0000-000000000000"}, 400, "unauthorized_client", 700016),
    ({"scope": "https://graph.microsoft.com/User.Read"}, 400, "invalid_scope", 1002012),
    ({"grant_type": ""}, 400, "invalid_request", 900144),
])
def test_token_refusals(sim, client, change, status, error, code):
    r = _token(sim, client, **change)
    assert (r.status_code, r.json()["error"], r.json()["error_codes"]) == (status, error, [code])


# --- auth ---------------------------------------------------------------------------------------------
def test_missing_unknown_and_expired_tokens(sim, client):
    base = sim.intune.base_url + DEV
    r = client.get(base)
    assert r.status_code == 401 and r.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert r.json()["error"]["message"] == "Access token is empty."
    r = client.get(base, headers={"Authorization": "Bearer forged"})
    assert r.status_code == 401 and "CompactToken" in r.json()["error"]["message"]
    sim.intune.token_lifetime = 1
    try:
        tok = graph_token(sim, client)
    finally:
        sim.intune.token_lifetime = 3599
    assert client.get(base + "?$top=1", headers={"Authorization": "Bearer " + tok}).status_code == 200
    time.sleep(1.1)
    r = client.get(base, headers={"Authorization": "Bearer " + tok})
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]


def test_error_body_and_request_ids(graph):
    client, headers, base = graph
    r = client.get(base + DEV + "/00000000-0000-4000-8000-000000000000",
                   headers={**headers, "client-request-id": "abc-123"})
    err = r.json()["error"]
    assert r.status_code == 404 and err["code"] == "ResourceNotFound"
    assert json.loads(err["message"])["_version"] == 3
    assert err["innerError"]["client-request-id"] == "abc-123" == r.headers["client-request-id"]
    assert err["innerError"]["request-id"] == r.headers["request-id"]


def test_missing_read_permission_is_403(sim, graph):
    client, headers, base = graph
    sim.intune.permissions = {"DeviceManagementManagedDevices.PrivilegedOperations.All"}
    try:
        r = client.get(base + DEV, headers=headers)
    finally:
        sim.intune.permissions = {"DeviceManagementManagedDevices.Read.All",
                                  "DeviceManagementManagedDevices.ReadWrite.All",
                                  "DeviceManagementManagedDevices.PrivilegedOperations.All"}
    assert r.status_code == 403 and r.json()["error"]["code"] == "Forbidden"
    assert "DeviceManagementManagedDevices.Read.All" in r.json()["error"]["message"]


def test_unlicensed_tenant_is_403(sim, graph):
    client, headers, base = graph
    sim.intune.licensed = False
    try:
        r = client.get(base + DEV, headers=headers)
    finally:
        sim.intune.licensed = True
    assert r.status_code == 403 and "license" in r.json()["error"]["message"]


# --- listing ------------------------------------------------------------------------------------------
def test_paging_follows_nextlink_to_every_device(sim, graph):
    client, headers, base = graph
    pages = _all(client, headers, base + DEV)
    assert [len(p["value"]) for p in pages] == [1000, 1000, 300]
    assert pages[0]["@odata.context"].endswith("$metadata#deviceManagement/managedDevices")
    assert "$skiptoken=" in pages[0]["@odata.nextLink"] and pages[0]["@odata.nextLink"].startswith("http://127.0.0.1")
    ids = [d["id"] for p in pages for d in p["value"]]
    assert ids == sim.device_ids("intune")


def test_top_and_select(graph):
    client, headers, base = graph
    pages = _all(client, headers, base + DEV + "?$top=400&$select=deviceName,imei,lastSyncDateTime")
    assert [len(p["value"]) for p in pages] == [400] * 5 + [300]
    assert "%24select" not in pages[0]["@odata.nextLink"] and "$select=deviceName" in pages[0]["@odata.nextLink"]
    assert set(pages[-1]["value"][0]) == {"id", "deviceName", "imei", "lastSyncDateTime"}


def test_select_unknown_property_is_400(graph):
    client, headers, base = graph
    r = client.get(base + DEV + "?$select=deviceName,keepEnrollmentData", headers=headers)
    assert r.status_code == 400 and "keepEnrollmentData" in r.json()["error"]["message"]


def test_filter_on_last_sync(sim, graph):
    client, headers, base = graph
    cut = "2000-01-01T00:00:00Z"
    gt = sum(len(p["value"]) for p in _all(client, headers, base + DEV + f"?$filter=lastSyncDateTime gt {cut}"))
    assert gt == 2300 - sum(1 for s in range(2300) if sim.fleets["intune"].last_sync(s) is None)
    recent = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(sim.fleets["intune"].now0 - 86400))
    pages = _all(client, headers, base + DEV + f"?$filter=lastSyncDateTime ge {recent}&$select=lastSyncDateTime")
    values = [d["lastSyncDateTime"] for p in pages for d in p["value"]]
    assert values and all(v >= recent for v in values) and len(values) < 2000
    lt = _all(client, headers, base + DEV + f"?$filter=lastSyncDateTime lt {recent}&$select=id")
    assert len(values) + sum(len(p["value"]) for p in lt) == 2300
    for bad in (f"'{recent}'", "2026-13-01T00:00:00Z", "yesterday"):   # a quoted time is a string to OData
        r = client.get(base + DEV + f"?$filter=lastSyncDateTime gt {bad}", headers=headers)
        assert r.status_code == 400 and r.json()["error"]["code"] == "BadRequest"


def test_filter_os_and_unsupported_filter(graph):
    client, headers, base = graph
    pages = _all(client, headers, base + DEV + "?$filter=operatingSystem eq 'Windows' and lastSyncDateTime gt 2000-01-01T00:00:00Z")
    assert pages[0]["value"] and {d["operatingSystem"] for p in pages for d in p["value"]} == {"Windows"}
    r = client.get(base + DEV + "?$filter=startswith(deviceName,'a')", headers=headers)
    assert r.status_code == 400 and r.json()["error"]["code"] == "BadRequest"


def test_list_quirk_and_single_get_real_values(sim, graph):
    client, headers, base = graph
    ident = sim.scenario_devices["intune"]["pc_two_macs"]
    listed = next(d for d in _all(client, headers, base + DEV)[0]["value"] if d["id"] == ident) \
        if ident in sim.device_ids("intune")[:1000] else None
    truth = sim.truth("intune", ident)
    if listed:
        assert listed["ethernetMacAddress"] is None and listed["physicalMemoryInBytes"] == 0
    sel = "id,iccid,udid,ethernetMacAddress,physicalMemoryInBytes,wiFiMacAddress"
    v1 = client.get(f"{base}{DEV}/{ident}?$select={sel}", headers=headers).json()
    assert v1["ethernetMacAddress"] == truth["ethernetMacAddress"] and v1["ethernetMacAddress"]
    assert v1["wiFiMacAddress"] == truth["wiFiMacAddress"] and len(v1["ethernetMacAddress"]) == 12
    assert v1["physicalMemoryInBytes"] == 0                   # v1.0 never tells the memory
    beta = client.get(f"{base}/beta/deviceManagement/managedDevices('{ident}')?$select=id,hardwareInformation,physicalMemoryInBytes",
                      headers=headers).json()
    assert beta["physicalMemoryInBytes"] == truth["physicalMemoryInBytes"] > 0
    assert beta["hardwareInformation"]["serialNumber"] == truth["serialNumber"]
    plain = client.get(f"{base}{DEV}/{ident}", headers=headers).json()
    assert plain["udid"] == "" and plain["iccid"] == ""


def test_list_quirk_for_apple_sim_devices(sim, graph):
    client, headers, base = graph
    page = client.get(base + DEV + "?$top=200", headers=headers).json()["value"]
    phone = next(d for d in page if d["operatingSystem"] == "iOS" and d["imei"])
    assert phone["iccid"] == "" and phone["udid"] == ""
    truth = sim.truth("intune", phone["id"])
    real = client.get(f"{base}{DEV}/{phone['id']}?$select=iccid,udid", headers=headers).json()
    assert real["iccid"] == truth["iccid"] and real["iccid"].startswith("89")
    assert real["udid"] == truth["udid"] and real["udid"]


def test_never_synced_device_says_0001(sim, graph):
    client, headers, base = graph
    fleet = sim.fleets["intune"]
    slot = next(s for s in range(2300) if fleet.last_sync(s) is None)
    r = client.get(f"{base}{DEV}/{fleet.id_of(slot)}?$select=lastSyncDateTime", headers=headers)
    assert r.json()["lastSyncDateTime"] == "0001-01-01T00:00:00Z"


def test_unknown_segment_is_400(graph):
    client, headers, base = graph
    r = client.get(base + "/v1.0/deviceManagement/managedDevices/x/y/z", headers=headers)
    assert r.status_code == 400 and "segment" in r.json()["error"]["message"]


# --- $batch -------------------------------------------------------------------------------------------
def test_batch_answers_each_request(sim, graph):
    client, headers, base = graph
    ids = sim.device_ids("intune")[:20]
    reqs = [{"id": str(n), "method": "GET", "url": f"/deviceManagement/managedDevices/{i}?$select=id,udid,iccid"}
            for n, i in enumerate(ids)]
    reqs[5]["url"] = "/deviceManagement/managedDevices/00000000-0000-4000-8000-000000000000"
    r = client.post(base + "/v1.0/$batch", headers=headers, json={"requests": reqs})
    assert r.status_code == 200
    by_id = {x["id"]: x for x in r.json()["responses"]}
    assert set(by_id) == {str(n) for n in range(20)}
    assert by_id["5"]["status"] == 404 and by_id["5"]["body"]["error"]["code"] == "ResourceNotFound"
    assert by_id["0"]["status"] == 200 and by_id["0"]["body"]["udid"] == (sim.truth("intune", ids[0])["udid"] or None)


def test_batch_over_20_is_400(graph):
    client, headers, base = graph
    reqs = [{"id": str(n), "method": "GET", "url": "/deviceManagement/managedDevices?$top=1"} for n in range(21)]
    r = client.post(base + "/v1.0/$batch", headers=headers, json={"requests": reqs})
    assert r.status_code == 400 and "20" in r.json()["error"]["message"]


def test_batch_needs_token(sim, client):
    r = client.post(sim.intune.base_url + "/v1.0/$batch", json={"requests": []})
    assert r.status_code == 401


# --- detected apps ------------------------------------------------------------------------------------
def test_detected_apps_consistent_tenant_and_device(sim, graph):
    client, headers, base = graph
    apps = [a for p in _all(client, headers, base + "/v1.0/deviceManagement/detectedApps") for a in p["value"]]
    assert apps and set(apps[0]) == {"id", "displayName", "version", "sizeInByte", "deviceCount", "publisher", "platform"}
    counts = {a["id"]: a["deviceCount"] for a in apps}
    per_device: dict[str, int] = {}
    for ident in sim.device_ids("intune")[:40]:
        for page in _all(client, headers, f"{base}/beta/deviceManagement/managedDevices/{ident}/detectedApps"):
            for a in page["value"]:
                assert a["deviceCount"] == counts[a["id"]]
                per_device[a["id"]] = per_device.get(a["id"], 0) + 1
    app_id = max(per_device, key=per_device.get)
    devices = [d["id"] for p in _all(client, headers, f"{base}/v1.0/deviceManagement/detectedApps/{app_id}/managedDevices")
               for d in p["value"]]
    assert len(devices) == counts[app_id] and len(set(devices)) == len(devices)
    assert sum(counts.values()) == sum(len(sim.fleets["intune"].apps(s)) for s in range(2300))


def test_an_apps_device_list_pages_by_top_and_the_tenant_list_refuses_a_bad_top(sim, graph):
    client, headers, base = graph
    first = client.get(base + "/v1.0/deviceManagement/detectedApps", headers=headers, params={"$top": "5000"}).json()
    assert len(first["value"]) == 1000 and "@odata.nextLink" in first  # $top capped at the page limit
    app = max(first["value"], key=lambda a: a["deviceCount"])
    url = f"{base}/v1.0/deviceManagement/detectedApps/{app['id']}/managedDevices?$select=id&$top=2"
    pages = _all(client, headers, url)
    ids = [d["id"] for p in pages for d in p["value"]]
    assert len(ids) == app["deviceCount"] == len(set(ids)) and all(len(p["value"]) <= 2 for p in pages)
    assert all(set(d) == {"id"} for p in pages for d in p["value"])
    fleet = sim.fleets["intune"]
    assert all(any(fleet.catalog(fleet.slot_of(i))[x].name == app["displayName"] for x, _ in fleet.apps(fleet.slot_of(i)))
               for i in ids)
    r = client.get(base + "/v1.0/deviceManagement/detectedApps", headers=headers, params={"$top": "abc"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "BadRequest"


def test_device_with_thousands_of_apps_pages(sim, graph):
    client, headers, base = graph
    ident = sim.scenario_devices["intune"]["many_apps"]
    pages = _all(client, headers, f"{base}/beta/deviceManagement/managedDevices/{ident}/detectedApps")
    assert sum(len(p["value"]) for p in pages) == 2500 and len(pages) == 3


def test_per_device_apps_are_beta_only(sim, graph):
    client, headers, base = graph
    r = client.get(f"{base}{DEV}/{sim.device_ids('intune')[0]}/detectedApps", headers=headers)
    assert r.status_code == 400


# --- actions ------------------------------------------------------------------------------------------
def _first(sim, os_name, fleet_sim=None):
    s = fleet_sim or sim
    fleet = s.fleets["intune"]
    return next(fleet.id_of(x) for x in fleet.live_slots() if fleet.os_of(x) == os_name)


def test_remote_lock_accepted_then_done(fresh, client):
    headers = {"Authorization": "Bearer " + graph_token(fresh, client)}
    ident = _first(fresh, "iOS")
    r = client.post(f"{fresh.intune.base_url}{DEV}/{ident}/remoteLock", headers=headers)
    assert r.status_code == 204 and r.content == b""
    res = fresh.truth("intune", ident)["deviceActionResults"]
    assert res[-1]["actionName"] == "remoteLock" and res[-1]["actionState"] == "pending"
    time.sleep(0.25)
    got = client.get(f"{fresh.intune.base_url}{DEV}/{ident}?$select=deviceActionResults", headers=headers).json()
    assert got["deviceActionResults"][-1]["actionState"] == "done"


def test_lock_and_passcode_reset_refused_on_windows(fresh, client):
    headers = {"Authorization": "Bearer " + graph_token(fresh, client)}
    pc = _first(fresh, "Windows")
    for action in ("remoteLock", "resetPasscode"):
        r = client.post(f"{fresh.intune.base_url}{DEV}/{pc}/{action}", headers=headers)
        assert r.status_code == 400 and r.json()["error"]["code"] == "BadRequest"
        assert action in json.loads(r.json()["error"]["message"])["Message"]
    assert fresh.truth("intune", pc)["deviceActionResults"] == []


@pytest.mark.parametrize("body, fragment", [
    ({"keepEnrolmentData": False}, "keepEnrolmentData"),
    ({"keepUserData": "no"}, "Edm.Boolean"),
    ([1, 2], "JSON object"),
])
def test_wipe_body_checked(fresh, client, body, fragment):
    headers = {"Authorization": "Bearer " + graph_token(fresh, client)}
    r = client.post(f"{fresh.intune.base_url}{DEV}/{_first(fresh, 'Android')}/wipe", headers=headers, json=body)
    assert r.status_code == 400 and fragment in r.json()["error"]["message"]


WIPE_BODY = {"keepEnrollmentData": False, "keepUserData": False, "macOsUnlockCode": None, "persistEsimDataPlan": False}


def _state(client, headers, base, ident) -> tuple[int, str | None]:
    r = client.get(f"{base}/beta/deviceManagement/managedDevices/{ident}?$select=id,managementState", headers=headers)
    return r.status_code, r.json().get("managementState")


def test_wipe_goes_through_management_state_then_the_record_is_removed(fresh, client):
    """Real Intune lists no wipe in deviceActionResults: pending, issued, then the device is gone."""
    headers = {"Authorization": "Bearer " + graph_token(fresh, client)}
    base, ident = fresh.intune.base_url, _first(fresh, "Android")
    fresh.intune.action_delay = 0.6  # each step lasts this long
    assert client.post(f"{base}{DEV}/{ident}/wipe", headers=headers, json=WIPE_BODY).status_code == 204
    truth = fresh.truth("intune", ident)
    assert truth["managementState"] == "wipePending" and truth["deviceActionResults"] == []
    assert _state(client, headers, base, ident) == (200, "wipePending")
    time.sleep(0.7)
    assert _state(client, headers, base, ident) == (200, "wipeIssued")
    time.sleep(0.6)
    assert _state(client, headers, base, ident)[0] == 404
    assert client.get(f"{base}{DEV}/{ident}?$select=id", headers=headers).status_code == 404
    assert ident not in fresh.device_ids("intune")


def test_completed_wipe_leaves_the_fleet_on_time_without_any_request(fresh, client):
    headers = {"Authorization": "Bearer " + graph_token(fresh, client)}
    ident = _first(fresh, "Android")
    assert client.post(f"{fresh.intune.base_url}{DEV}/{ident}/wipe", headers=headers).status_code == 204
    time.sleep(0.6)  # 2 x action_delay (0.2) and then some
    assert ident not in fresh.device_ids("intune")
    assert ident not in client.get(f"{fresh.intune.base_url}/_sim/devices").json()["ids"]


@pytest.mark.parametrize("how, final", [("fail", "wipeFailed"), ("cancel", "wipeCanceled")])
def test_wipe_failure_or_cancel_injected_through_the_admin_api(fresh, client, how, final):
    headers = {"Authorization": "Bearer " + graph_token(fresh, client)}
    base, ident = fresh.intune.base_url, _first(fresh, "iOS")
    assert client.post(f"{base}/_sim/devices/{ident}/wipe-{how}").status_code == 200  # the next wipe ends so
    assert client.post(f"{base}{DEV}/{ident}/wipe", headers=headers).status_code == 204
    time.sleep(0.45)
    assert _state(client, headers, base, ident) == (200, final)  # the record stays
    assert fresh.truth("intune", ident)["deviceActionResults"] == []
    # a new wipe after the failure starts again and, this time, completes
    assert client.post(f"{base}{DEV}/{ident}/wipe", headers=headers).status_code == 204
    assert _state(client, headers, base, ident) == (200, "wipePending")
    time.sleep(0.45)
    assert _state(client, headers, base, ident)[0] == 404


def test_wipe_of_a_device_without_profile_stays_pending(fresh, client):
    headers = {"Authorization": "Bearer " + graph_token(fresh, client)}
    base, ident = fresh.intune.base_url, _first(fresh, "iOS")
    fresh.admin.remove_profile("intune", ident)
    assert client.post(f"{base}{DEV}/{ident}/wipe", headers=headers).status_code == 204
    time.sleep(0.5)
    assert _state(client, headers, base, ident) == (200, "wipePending")  # the device never checks in


def test_wipe_end_injection_refuses_other_mdms_and_words(fresh, client):
    mi = fresh.device_ids("mobileiron")[0]
    assert client.post(f"{fresh.mobileiron.base_url}/_sim/devices/{mi}/wipe-fail").status_code == 400
    with pytest.raises(ValueError, match="fail.*cancel"):
        fresh.admin.end_wipe("intune", _first(fresh, "iOS"), "explode")


def test_wipe_body_obliteration_behavior_only_in_beta(fresh, client):
    """obliterationBehavior is documented for the beta wipe only (v1.0 lists four parameters)."""
    headers = {"Authorization": "Bearer " + graph_token(fresh, client)}
    base, ident = fresh.intune.base_url, _first(fresh, "Android")
    body = {**WIPE_BODY, "obliterationBehavior": "doNotObliterate"}
    r = client.post(f"{base}{DEV}/{ident}/wipe", headers=headers, json=body)
    assert r.status_code == 400 and "obliterationBehavior" in r.json()["error"]["message"]
    r = client.post(f"{base}/beta/deviceManagement/managedDevices/{ident}/wipe", headers=headers,
                    json={**body, "obliterationBehavior": "sometimes"})
    assert r.status_code == 400 and "enum" in r.json()["error"]["message"]
    r = client.post(f"{base}/beta/deviceManagement/managedDevices/{ident}/wipe", headers=headers, json=body)
    assert r.status_code == 204


@pytest.mark.parametrize("name", ["deviceType", "chassisType", "hardwareInformation", "joinType", "skuFamily",
                                  "lostModeState", "managementState"])
def test_v1_select_naming_a_beta_only_property_is_400(sim, graph, name):
    client, headers, base = graph
    ident = sim.device_ids("intune")[0]
    for url in (f"{base}{DEV}?$select=id,{name}", f"{base}{DEV}/{ident}?$select=id,{name}"):
        r = client.get(url, headers=headers)
        assert r.status_code == 400 and name in r.json()["error"]["message"], url
        assert r.json()["error"]["code"] == "BadRequest" and "innerError" in r.json()["error"]
    r = client.post(f"{sim.intune.base_url}/v1.0/$batch", headers=headers, json={"requests": [
        {"id": "1", "method": "GET", "url": f"/deviceManagement/managedDevices/{ident}?$select=id,{name}"}]})
    assert r.json()["responses"][0]["status"] == 400
    beta = client.get(f"{sim.intune.base_url}/beta/deviceManagement/managedDevices/{ident}?$select=id,{name}",
                      headers=headers)
    assert beta.status_code == 200 and name in beta.json()


def test_memory_only_from_beta_with_hardware_information(sim, graph):
    """physicalMemoryInBytes alone gives 0, even on beta; in the list always 0."""
    client, headers, base = graph
    beta = f"{sim.intune.base_url}/beta/deviceManagement/managedDevices"
    for ident in (sim.device_ids("intune")[1], sim.scenario_devices["intune"]["pc_two_macs"]):
        truth = sim.truth("intune", ident)["physicalMemoryInBytes"]
        assert truth > 0
        alone = client.get(f"{beta}/{ident}?$select=id,physicalMemoryInBytes", headers=headers).json()
        assert alone["physicalMemoryInBytes"] == 0
        both = client.get(f"{beta}/{ident}?$select=id,hardwareInformation,physicalMemoryInBytes",
                          headers=headers).json()
        assert both["physicalMemoryInBytes"] == truth
        r = client.post(f"{sim.intune.base_url}/beta/$batch", headers=headers, json={"requests": [
            {"id": "a", "method": "GET", "url": f"/deviceManagement/managedDevices/{ident}?$select=id,physicalMemoryInBytes"},
            {"id": "b", "method": "GET",
             "url": f"/deviceManagement/managedDevices/{ident}?$select=id,physicalMemoryInBytes,hardwareInformation"}]})
        got = {x["id"]: x["body"]["physicalMemoryInBytes"] for x in r.json()["responses"]}
        assert got == {"a": 0, "b": truth}
    listed = client.get(f"{beta}?$select=id,hardwareInformation,physicalMemoryInBytes&$top=5", headers=headers).json()
    assert {d["physicalMemoryInBytes"] for d in listed["value"]} == {0}


def test_sync_device_moves_last_sync(fresh, client):
    headers = {"Authorization": "Bearer " + graph_token(fresh, client)}
    ident = fresh.scenario_devices["intune"]["stale"]
    before = fresh.truth("intune", ident)["lastSyncDateTime"]
    assert client.post(f"{fresh.intune.base_url}{DEV}/{ident}/syncDevice", headers=headers).status_code == 204
    assert fresh.truth("intune", ident)["lastSyncDateTime"] > before


def test_action_on_removed_profile_fails_later(fresh, client):
    headers = {"Authorization": "Bearer " + graph_token(fresh, client)}
    ident = _first(fresh, "iOS")
    fresh.admin.remove_profile("intune", ident)
    assert client.post(f"{fresh.intune.base_url}{DEV}/{ident}/remoteLock", headers=headers).status_code == 204
    time.sleep(0.25)
    assert fresh.truth("intune", ident)["deviceActionResults"][-1]["actionState"] == "failed"


def test_action_errors_404_403_and_unknown(fresh, client):
    headers = {"Authorization": "Bearer " + graph_token(fresh, client)}
    base = fresh.intune.base_url + DEV
    r = client.post(f"{base}/00000000-0000-4000-8000-000000000000/remoteLock", headers=headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "ResourceNotFound"
    r = client.post(f"{base}/{_first(fresh, 'iOS')}/selfDestruct", headers=headers)
    assert r.status_code == 400
    fresh.intune.permissions = {"DeviceManagementManagedDevices.Read.All"}
    r = client.post(f"{base}/{_first(fresh, 'iOS')}/remoteLock", headers=headers)
    assert r.status_code == 403 and "PrivilegedOperations" in r.json()["error"]["message"]
    fresh.intune.permissions = {"DeviceManagementManagedDevices.ReadWrite.All"}
    for action in ("wipe", "retire", "remoteLock", "resetPasscode"):  # ReadWrite.All is not enough
        r = client.post(f"{base}/{_first(fresh, 'Android')}/{action}", headers=headers)
        assert r.status_code == 403 and "PrivilegedOperations" in r.json()["error"]["message"], action
    fresh.intune.permissions = {"DeviceManagementManagedDevices.PrivilegedOperations.All"}
    r = client.post(f"{base}/{_first(fresh, 'Android')}/wipe", headers=headers)
    assert r.status_code == 204
    fresh.intune.permissions = {"DeviceManagementManagedDevices.ReadWrite.All"}
    r = client.post(f"{base}/{_first(fresh, 'Android')}/remoteLock", headers=headers)
    assert r.status_code == 403
