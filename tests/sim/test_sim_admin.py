"""Scenario operations (Python and HTTP), the demo scenario, TLS, the CLI and the request log."""

from __future__ import annotations

import argparse
import json
import time

import httpx
import pytest

from conftest import graph_token
from mdmtui.sim import Simulator
from mdmtui.sim.cli import add_sim_parser, build, describe

DEV = "/v1.0/deviceManagement/managedDevices"


def test_add_remove_over_python(fresh):
    new = fresh.admin.add("intune", os="Windows")
    assert fresh.truth("intune", new)["operatingSystem"] == "Windows" and fresh.device_ids("intune")[-1] == new
    fresh.admin.remove("intune", new)
    assert new not in fresh.device_ids("intune")
    with pytest.raises(KeyError):
        fresh.truth("intune", new)


def test_reenrol_keeps_hardware(fresh):
    old = fresh.scenario_devices["sdm"]["sim_swap_candidate"]
    before = fresh.truth("sdm", old)
    new = fresh.admin.reenrol("sdm", old)
    after = fresh.truth("sdm", new)
    assert new != old and old not in fresh.device_ids("sdm")
    assert (after["serialNumber"], after["imei"], after["udid"]) == (before["serialNumber"], before["imei"], before["udid"])


def test_sim_swap_keeps_imei(fresh):
    ident = fresh.scenario_devices["mobileiron"]["sim_swap_candidate"]
    before = fresh.truth("mobileiron", ident)
    fresh.admin.sim_swap("mobileiron", ident)
    after = fresh.truth("mobileiron", ident)
    assert after["common.imei"] == before["common.imei"]
    assert after["common.current_phone_number"] != before["common.current_phone_number"]
    assert after["common.imsi"] != before["common.imsi"] and after["ios.iPhone ICCID"] != before["ios.iPhone ICCID"]


def test_touch_shows_in_incremental_listing(fresh, client):
    headers = {"Authorization": "Bearer " + graph_token(fresh, client)}
    ident = fresh.scenario_devices["intune"]["stale"]
    cut = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
    url = f"{fresh.intune.base_url}{DEV}?$filter=lastSyncDateTime gt {cut}&$select=id"
    assert ident not in [d["id"] for d in client.get(url, headers=headers).json()["value"]]
    fresh.admin.touch("intune", ident)
    assert ident in [d["id"] for d in client.get(url, headers=headers).json()["value"]]


def test_admin_over_http(fresh):
    base = fresh.mobileiron.base_url
    r = httpx.post(base + "/_sim/devices", json={"os": "Android"})
    assert r.status_code == 201
    new = r.json()["id"]
    assert httpx.get(base + f"/_sim/devices/{new}").json()["common.platform"] == "Android"
    listing = httpx.get(base + "/_sim/devices").json()
    assert listing["count"] == 61 and listing["ids"][-1] == new
    swapped = httpx.post(base + f"/_sim/devices/{new}/simswap").json()
    assert swapped["common.uuid"] == new
    assert httpx.post(base + f"/_sim/devices/{new}/touch").status_code == 200
    assert httpx.post(base + f"/_sim/devices/{new}/remove-profile").json()["common.mdm_managed"] is False
    renewed = httpx.post(base + f"/_sim/devices/{new}/reenrol").json()["id"]
    assert renewed != new and httpx.get(base + f"/_sim/devices/{new}").status_code == 404
    assert httpx.delete(base + f"/_sim/devices/{renewed}").status_code == 204
    assert httpx.post(base + "/_sim/devices/nope/touch").status_code == 404
    assert httpx.post(base + f"/_sim/devices/{fresh.device_ids('mobileiron')[0]}/explode").status_code == 404
    assert httpx.post(base + "/_sim/devices", json={"os": "Windows"}).status_code == 400   # no PCs in Core here
    assert httpx.get(base + "/_sim/scenario").json()["profile_removed"]


def _ndjson(url: str) -> list[dict]:
    reply = httpx.get(url, timeout=30)
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in reply.text.splitlines()]


@pytest.mark.parametrize("mdm", ["intune", "mobileiron", "sdm"])
def test_bulk_truth_equals_the_single_device_truth(fresh, mdm):
    """/_sim/devices?full=1 is every live device's /_sim/devices/{id}, in listing order, after the fleet
    changed (a removal, an enrolment, a day of its life)."""
    fresh.admin.remove(mdm, fresh.device_ids(mdm)[3])
    fresh.admin.add(mdm)
    fresh.admin.advance(24, mdm=mdm)
    base = getattr(fresh, mdm).base_url
    bulk = _ndjson(base + "/_sim/devices?full=1")
    singles = [httpx.get(f"{base}/_sim/devices/{i}").json() for i in fresh.device_ids(mdm)]
    assert len(bulk) == fresh.fleets[mdm].count() and bulk == singles


def test_bulk_apps_equal_the_single_device_apps(fresh):
    fresh.admin.advance(24, mdm="intune", rates={"apps": 1.0})
    base = fresh.intune.base_url
    bulk = _ndjson(base + "/_sim/apps")
    ids = fresh.device_ids("intune")
    assert [d["id"] for d in bulk] == ids
    assert [d["apps"] for d in bulk] == [httpx.get(f"{base}/_sim/devices/{i}/apps").json() for i in ids]
    assert any(d["apps"] for d in bulk)


def test_bulk_truth_streams_in_pieces(fresh):
    """More devices than one piece: the answer is still one line per device."""
    for _ in range(600):
        fresh.admin.add("sdm")
    assert len(_ndjson(fresh.sdm.base_url + "/_sim/devices?full=1")) == 660


def test_demo_scenario(sim):
    marks = sim.scenario_devices
    assert set(marks["intune"]) >= {"stale", "jailbroken", "pc_two_macs", "many_apps", "japanese_names"}
    assert set(marks["mobileiron"]) >= {"profile_removed", "stale", "jailbroken"}
    pc = sim.truth("intune", marks["intune"]["pc_two_macs"])
    assert pc["operatingSystem"] == "Windows" and pc["wiFiMacAddress"] and pc["ethernetMacAddress"]
    assert sim.truth("intune", marks["intune"]["jailbroken"])["jailBroken"] == "True"
    assert sim.truth("intune", marks["intune"]["japanese_names"])["deviceName"] == "営業部の iPhone"
    stale = sim.truth("sdm", marks["sdm"]["stale"])["lastContact"]
    assert stale < time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60 * 86400))
    assert sim.truth("mobileiron", marks["mobileiron"]["jailbroken"])["common.device_is_compromised"] is True


def test_tls_with_private_ca():
    with Simulator(seed=2, intune=5, mobileiron=5, sdm=5, tls=True) as sim:
        assert sim.intune.base_url.startswith("https://127.0.0.1:")
        m = sim.mobileiron
        r = httpx.get(m.base_url + "/api/v2/ping", auth=(m.user, m.password), verify=__import__("ssl").create_default_context(cafile=sim.ca_bundle))
        assert r.status_code == 200
        with pytest.raises(httpx.ConnectError):
            httpx.get(m.base_url + "/api/v2/ping", auth=(m.user, m.password))          # system trust store refuses it


def test_cli_builds_the_simulator():
    parser = argparse.ArgumentParser()
    add_sim_parser(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(["sim", "--devices", "7", "--sdm", "3", "--seed", "4", "--scenario", "demo",
                              "--faults", "latency_ms=1", "--faults", "intune.batch:batch_item_fail_rate=0.2"])
    sim = build(args)
    assert sim.fleets["intune"].count() == 7 and sim.fleets["sdm"].count() == 3 and sim.seed == 4
    assert sim.faults.effective("intune", "batch").batch_item_fail_rate == 0.2
    assert sim.faults.effective("sdm", "software").latency_ms == 1
    with sim:
        text = describe(sim)
    assert sim.intune.client_secret in text and sim.mobileiron.base_url in text and str(sim.sdm.db_port) in text


def _four_free_ports() -> int:
    """A base port below the ephemeral range whose next three ports are free too (other tests' servers
    take ephemeral ports, so a probed free port says nothing about port + 1 .. + 3)."""
    import random
    import socket

    for _ in range(50):
        base = random.randrange(20000, 30000)
        socks = []
        try:
            for offset in range(4):
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise AssertionError("no four consecutive free ports found")


def test_fixed_ports_and_request_log():
    port = _four_free_ports()
    with Simulator(seed=3, intune=1, mobileiron=1, sdm=1, port=port) as sim:
        assert sim.mobileiron.base_url.endswith(f":{port + 1}") and sim.sdm.db_port == port + 3
        httpx.get(sim.mobileiron.base_url + "/api/v2/ping")
        assert sim.requests_log[-1] == ("mobileiron", "GET", "/api/v2/ping", 401)


def test_same_seed_same_wire(sim):
    twin = Simulator(seed=7, intune=2300, mobileiron=120, sdm=120, scenario="demo", now=sim.fleets["intune"].now0)
    ident = sim.device_ids("sdm")[17]
    assert twin.truth("sdm", ident) == sim.truth("sdm", ident)
