"""Every fault switch: status codes, headers and bodies as a client sees them."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from mdmtui.sim import Faults, parse_spec

DEV = "/v1.0/deviceManagement/managedDevices"
SPACE = {"adminDeviceSpaceId": 1, "fields": "common.uuid"}


def test_latency(sim, graph):
    client, headers, base = graph
    sim.set_faults(Faults(latency_ms=150), mdm="intune", endpoint="managedDevices")
    started = time.perf_counter()
    assert client.get(base + DEV + "?$top=1", headers=headers).status_code == 200
    assert time.perf_counter() - started >= 0.15


def test_every_request_throttled_with_retry_after(sim, graph):
    client, headers, base = graph
    sim.set_faults(Faults(rate_429=1, retry_after=2), mdm="intune")
    r = client.get(base + DEV, headers=headers)
    assert r.status_code == 429 and r.headers["retry-after"] == "2"
    assert r.json()["error"]["code"] == "TooManyRequests" and r.headers["request-id"]


def test_throttled_without_retry_after(sim, graph):
    client, headers, base = graph
    sim.set_faults(Faults(rate_429=1, retry_after=None), mdm="intune", endpoint="deviceDetectedApps")
    r = client.get(f"{base}/beta/deviceManagement/managedDevices/{sim.device_ids('intune')[0]}/detectedApps", headers=headers)
    assert r.status_code == 429 and "retry-after" not in r.headers
    assert client.get(base + DEV + "?$top=1", headers=headers).status_code == 200      # other endpoints untouched


def test_burst_pattern(sim, mi):
    sim.set_faults(Faults(burst_429=(2, 5)), mdm="mobileiron", endpoint="devices")
    codes = [mi.get("/api/v2/devices", params=SPACE).status_code for _ in range(10)]
    assert codes == [429, 429, 200, 200, 200] * 2


def test_rate_429_is_a_deterministic_fraction(sim, sdm):
    sim.set_faults(Faults(rate_429=0.3), mdm="sdm", endpoint="sdm_devices")
    first = [sdm.get("/devices", params={"limit": 1}).status_code for _ in range(40)]
    sim.set_faults(Faults(rate_429=0.3), mdm="sdm", endpoint="sdm_devices")       # resets counters and RNG
    second = [sdm.get("/devices", params={"limit": 1}).status_code for _ in range(40)]
    assert first == second and 4 <= first.count(429) <= 20 and set(first) == {200, 429}


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors(sim, mi, status):
    sim.set_faults(Faults(rate_5xx=1, status_5xx=status), mdm="mobileiron")
    r = mi.get("/api/v2/ping")
    assert r.status_code == status and r.json()["messages"][0]["messageKey"].endswith(str(status))
    assert ("retry-after" in r.headers) == (status == 503)


def test_hung_response_times_out(sim, sdm):
    sim.set_faults(Faults(hang_s=2), mdm="sdm")
    with pytest.raises(httpx.ReadTimeout):
        sdm.get("/devices", timeout=0.3)


def test_reset_mid_page(sim, graph):
    client, headers, base = graph
    sim.set_faults(Faults(reset_mid_page=1), mdm="intune", endpoint="managedDevices")
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.get(base + DEV, headers=headers)


def test_truncated_json(sim, mi):
    sim.set_faults(Faults(truncated_json=1), mdm="mobileiron", endpoint="devices")
    r = mi.get("/api/v2/devices", params={**SPACE, "limit": 100})
    assert r.status_code == 200 and int(r.headers["content-length"]) == len(r.content)
    with pytest.raises(json.JSONDecodeError):
        r.json()


def test_malformed_json(sim, sdm):
    sim.set_faults(Faults(malformed_json=1), mdm="sdm", endpoint="sdm_devices")
    r = sdm.get("/devices", params={"limit": 10})
    assert r.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        r.json()


def test_repeated_page_intune(sim, graph):
    client, headers, base = graph
    sim.set_faults(Faults(repeat_page=1), mdm="intune", endpoint="managedDevices")
    url, ids, pages = base + DEV + "?$top=500&$select=id", [], 0
    while url:
        body = client.get(url, headers=headers).json()
        ids += [d["id"] for d in body["value"]]
        url, pages = body.get("@odata.nextLink"), pages + 1
    assert pages == 10 and len(ids) == 4600 and len(set(ids)) == 2300     # every page served twice


def test_repeated_page_offsets(sim, mi, sdm):
    sim.set_faults(Faults(repeat_page=1), mdm="mobileiron")
    a = mi.get("/api/v2/devices", params={**SPACE, "limit": 10, "offset": 0}).json()["results"]
    b = mi.get("/api/v2/devices", params={**SPACE, "limit": 10, "offset": 10}).json()["results"]
    assert a == b
    sim.set_faults(Faults(repeat_page=1), mdm="sdm")
    assert sdm.get("/devices", params={"limit": 5, "offset": 5}).json()["devices"] == \
        sdm.get("/devices", params={"limit": 5, "offset": 0}).json()["devices"]


def test_expired_nextlink(sim, graph):
    client, headers, base = graph
    first = client.get(base + DEV + "?$top=10", headers=headers).json()
    sim.set_faults(Faults(expired_nextlink=1), mdm="intune", endpoint="managedDevices")
    r = client.get(first["@odata.nextLink"], headers=headers)
    assert r.status_code == 400 and r.json()["error"]["message"] == "Invalid Skip Token"
    assert client.get(base + DEV + "?$top=10", headers=headers).status_code == 200      # a fresh listing works
    sim.set_faults(None)
    forged = first["@odata.nextLink"].split("$skiptoken=")[0] + "$skiptoken=MTAwOjA6ZGVhZGJlZWY"
    assert client.get(forged, headers=headers).status_code == 400


def test_batch_items_fail_on_their_own(sim, graph):
    client, headers, base = graph
    sim.set_faults(Faults(batch_item_fail_rate=0.5, retry_after=3), mdm="intune", endpoint="batch")
    reqs = [{"id": str(n), "method": "GET", "url": f"/deviceManagement/managedDevices/{i}?$select=id"}
            for n, i in enumerate(sim.device_ids("intune")[:20])]
    r = client.post(base + "/v1.0/$batch", headers=headers, json={"requests": reqs})
    assert r.status_code == 200
    items = r.json()["responses"]
    statuses = {x["status"] for x in items}
    assert 200 in statuses and statuses - {200} <= {429, 500, 404} and len(statuses) > 1
    throttled = [x for x in items if x["status"] == 429]
    assert all(x["headers"]["Retry-After"] == "3" and x["body"]["error"]["code"] == "TooManyRequests" for x in throttled)


def test_levels_merge_field_by_field(sim):
    sim.set_faults(Faults(latency_ms=5))
    sim.set_faults(Faults(rate_429=0.5), mdm="intune")
    sim.set_faults(Faults(batch_item_fail_rate=0.2), mdm="intune", endpoint="batch")
    f = sim.faults.effective("intune", "batch")
    assert (f.latency_ms, f.rate_429, f.batch_item_fail_rate) == (5, 0.5, 0.2)
    assert sim.faults.effective("sdm", "software").rate_429 == 0
    sim.set_faults(None, mdm="intune")
    assert sim.faults.effective("intune", "managedDevices").rate_429 == 0


def test_token_endpoint_faults(sim, client):
    sim.set_faults(Faults(rate_5xx=1), mdm="intune", endpoint="token")
    i = sim.intune
    r = client.post(f"{i.base_url}/{i.tenant_id}/oauth2/v2.0/token", data={})
    assert r.status_code == 503


def test_spec_parser():
    assert parse_spec("latency_ms=50,rate_429=0.1,retry_after=1") == (None, None, Faults(latency_ms=50, rate_429=0.1, retry_after=1))
    mdm, ep, f = parse_spec("intune.batch:batch_item_fail_rate=0.2")
    assert (mdm, ep, f.batch_item_fail_rate) == ("intune", "batch", 0.2)
    assert parse_spec("mobileiron:burst_429=3/50,retry_after=none")[2] == Faults(burst_429=(3, 50), retry_after=None)
    for bad in ("rate_429=2", "latency=5", "rate_429", "burst_429=5/3"):
        with pytest.raises(ValueError):
            parse_spec(bad)


def test_faults_over_http(sim, sdm):
    base = sim.sdm.base_url
    r = httpx.put(base + "/_sim/faults", json={"endpoint": "sdm_devices", "faults": {"rate_5xx": 1, "status_5xx": 500}})
    assert r.status_code == 204
    assert sdm.get("/devices").status_code == 500
    listed = httpx.get(base + "/_sim/faults").json()
    assert {"mdm": "sdm", "endpoint": "sdm_devices", "faults": {"rate_5xx": 1.0, "status_5xx": 500}} in listed
    assert httpx.delete(base + "/_sim/faults", params={"endpoint": "sdm_devices"}).status_code == 204
    assert sdm.get("/devices").status_code == 200
    assert httpx.put(base + "/_sim/faults", json={"rate_429": 7}).status_code == 400


def test_5xx_after_carries_the_command_out_then_loses_the_answer(fresh):
    """rate_5xx_after: the MDM acts, the client sees a 502 (issue 11 #2)."""
    from mdmtui.sim import Faults

    uuid = fresh.scenario_devices["mobileiron"]["stale"]
    m = fresh.mobileiron
    fresh.set_faults(Faults(rate_5xx_after=1, status_5xx=502), "mobileiron", "wipe")
    with httpx.Client(base_url=m.base_url, auth=(m.user, m.password), timeout=10) as c:
        r = c.put("/api/v2/devices/wipe", params={"adminDeviceSpaceId": 1}, json={"deviceUuids": [uuid]})
    assert r.status_code == 502
    assert fresh.truth("mobileiron", uuid)["common.status"] == "WIPED"


def test_page_latency_delays_only_later_pages(fresh):
    import time

    from mdmtui.sim import Faults

    s = fresh.sdm
    fresh.set_faults(Faults(page_latency_ms=400), "sdm", "sdm_devices")
    with httpx.Client(base_url=s.base_url, auth=(s.user, s.password), timeout=10) as c:
        started = time.monotonic()
        c.get("/sdm/api/v1/devices", params={"offset": 0, "limit": 5})
        first = time.monotonic() - started
        c.get("/sdm/api/v1/devices", params={"offset": 5, "limit": 5})
        second = time.monotonic() - started - first
    assert first < 0.3 <= 0.39 < second
