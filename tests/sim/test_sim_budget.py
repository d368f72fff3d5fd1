"""Intune's request budget in the simulator: token buckets, $batch items counted one by one, reports."""

from __future__ import annotations

import argparse

import httpx

from conftest import graph_token
from mdmtui.sim import BudgetLimits, Simulator
from mdmtui.sim.budget import Meter
from mdmtui.sim.cli import add_sim_parser, build

DEV = "/v1.0/deviceManagement/managedDevices"


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_bucket_allows_the_burst_then_the_rate():
    clock = FakeClock()
    meter = Meter(BudgetLimits().scaled(0.1), clock)          # 200 per 2 s
    assert [meter.spend("app") for _ in range(200)] == [None] * 200
    refused = meter.spend("app")
    assert refused == {"Retry-After": "0.1"}                  # one unit comes back after 0.01 s
    clock.t += 0.5                                            # 100 per s: 50 more
    assert sum(meter.spend("app") is None for _ in range(60)) == 50
    report = meter.report()["intune"]
    assert (report["units"], report["throttled"]) == (250, 11)


def test_the_tenant_bucket_binds_all_apps_and_the_real_scale_answers_whole_seconds():
    clock = FakeClock()
    meter = Meter(BudgetLimits(), clock)
    for app in ("a", "b"):
        assert all(meter.spend(app) is None for _ in range(2000))
    assert meter.spend("a") == {"Retry-After": "1"} and meter.spend("c") == {"Retry-After": "1"}
    clock.t += 20
    assert all(meter.spend("c") is None for _ in range(2000)) and meter.spend("c") is not None


def test_some_429s_come_without_retry_after():
    meter = Meter(BudgetLimits(app_limit=1, tenant_limit=1, window_s=100, without_retry_after=3), FakeClock())
    meter.spend("app")
    answers = [meter.spend("app") for _ in range(6)]
    assert [("Retry-After" in a) for a in answers] == [True, True, False, True, True, False]


def test_graph_answers_429_when_the_budget_is_spent_and_counts_batch_items(client):
    with Simulator(seed=3, intune=30, mobileiron=4, sdm=2, budget=BudgetLimits(5, 10, 60.0, 0)) as sim:
        headers = {"Authorization": "Bearer " + graph_token(sim, client)}
        base = sim.intune.base_url
        ids = sim.device_ids("intune")
        assert [client.get(f"{base}{DEV}?$top=1", headers=headers).status_code for _ in range(3)] == [200] * 3
        batch = {"requests": [{"id": str(i), "method": "GET", "url": f"/deviceManagement/managedDevices/{d}"}
                              for i, d in enumerate(ids[:4])]}
        answer = client.post(f"{base}/v1.0/$batch", json=batch, headers=headers)
        statuses = sorted(r["status"] for r in answer.json()["responses"])
        assert answer.status_code == 200 and statuses == [200, 200, 429, 429]   # 2 units were left
        late = [r for r in answer.json()["responses"] if r["status"] == 429]
        assert all(float(r["headers"]["Retry-After"]) >= 1 for r in late)
        plain = client.get(f"{base}{DEV}", headers=headers)
        assert plain.status_code == 429 and plain.json()["error"]["code"] == "TooManyRequests"
        assert int(plain.headers["Retry-After"]) >= 1
        report = httpx.get(base + "/_sim/budget").json()
        assert report["intune"]["units"] == 5 and report["intune"]["throttled"] == 3
        assert report["intune"]["requests"] == 6          # HTTP requests: the token call, 3 lists, 1 batch, 1 list
        assert report["intune"]["limits"]["app_limit"] == 5


def test_budget_over_http_counts_mobileiron_and_scales(client):
    with Simulator(seed=3, intune=3, mobileiron=4, sdm=2) as sim:
        m = sim.mobileiron
        for _ in range(3):
            assert httpx.get(m.base_url + "/api/v2/ping", auth=(m.user, m.password)).status_code == 200
        assert httpx.get(m.base_url + "/_sim/budget").json()["mobileiron"]["requests"] == 3
        assert httpx.delete(m.base_url + "/_sim/budget").status_code == 204
        assert sim.admin.budget()["mobileiron"]["requests"] == 0
        assert httpx.put(m.base_url + "/_sim/budget", json={"scale": 0.1}).status_code == 204
        assert sim.meter.limits == BudgetLimits(200, 400, 2.0)
        assert httpx.put(m.base_url + "/_sim/budget", json={"off": True}).status_code == 204
        assert sim.meter.limits is None
        for bad in ({"apps": 3}, {"app_limit": -1}, {"app_limit": 0}, {"scale": "x"}, {"window_s": True}):
            assert httpx.put(m.base_url + "/_sim/budget", json=bad).status_code == 400, bad


def test_requests_are_counted_by_kind(client):
    """The meter splits each MDM's requests by route, and MobileIron's searches into the listing, the
    status check of one uuid and other queries (bench/daily.py accounts the daily run with them)."""
    with Simulator(seed=3, intune=3, mobileiron=4, sdm=1) as sim:
        m = sim.mobileiron
        auth, search = (m.user, m.password), m.base_url + "/api/v2/devices"
        uuid = sim.device_ids("mobileiron")[0]
        common = {"adminDeviceSpaceId": 1, "fields": "common.uuid"}
        assert httpx.get(search, params={**common, "query": ""}, auth=auth).status_code == 200
        assert httpx.get(search, params={**common, "query": ""}, auth=auth).status_code == 200
        for ident in (uuid, "00000000-0000-0000-0000-000000000000"):
            reply = httpx.get(search, params={**common, "query": f'"common.uuid" = "{ident}"'}, auth=auth)
            assert reply.status_code == 200
        reply = httpx.get(search, params={**common, "query": '"common.platform" = "Android"'}, auth=auth)
        assert reply.status_code == 200
        assert httpx.get(f"{search}/{uuid}/details", params={"adminDeviceSpaceId": 1}, auth=auth).status_code == 200
        assert httpx.get(m.base_url + "/api/v2/ping", auth=("api_admin", "wrong")).status_code == 401
        report = httpx.get(m.base_url + "/_sim/budget").json()["mobileiron"]
        assert report["by_kind"] == {"details": 1, "devices": 2, "devices:query": 1, "devices:uuid": 2, "ping": 1}
        assert report["requests"] == 7
        headers = {"Authorization": "Bearer " + graph_token(sim, client)}
        assert client.get(f"{sim.intune.base_url}{DEV}?$top=1", headers=headers).status_code == 200
        kinds = sim.admin.budget()["intune"]["by_kind"]
        assert sum(kinds.values()) == sim.admin.budget()["intune"]["requests"] == 2 and len(kinds) == 2
        sim.admin.reset_budget()
        assert "by_kind" not in sim.admin.budget()["mobileiron"]


def test_no_budget_means_no_429s(client):
    with Simulator(seed=3, intune=3, mobileiron=1, sdm=1, budget=None) as sim:
        headers = {"Authorization": "Bearer " + graph_token(sim, client)}
        url = f"{sim.intune.base_url}{DEV}?$top=1"
        assert all(client.get(url, headers=headers).status_code == 200 for _ in range(30))
        assert sim.admin.budget()["intune"]["units"] == 30


def test_cli_budget_option():
    parser = argparse.ArgumentParser()
    add_sim_parser(parser.add_subparsers(dest="cmd"))
    assert build(parser.parse_args(["sim", "--devices", "1"])).meter.limits == BudgetLimits()
    assert build(parser.parse_args(["sim", "--devices", "1", "--budget", "0.1"])).meter.limits == BudgetLimits(200, 400, 2.0)
    assert build(parser.parse_args(["sim", "--devices", "1", "--budget", "off"])).meter.limits is None
