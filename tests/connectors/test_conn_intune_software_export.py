"""Intune's software by the export route (AppInvRawData, MDM-APIS.md §4): the two jobs' request shapes
pinned with respx, the file's reading, then against the simulator over loopback — software equal to the
per-device calls, every fallback, no token on the storage host, and what the daily run costs."""

from __future__ import annotations

import csv
import io
import json
import time
import zipfile

import httpx
import pytest
import respx
from conn_helpers import GRAPH, TOKEN_URL, intune_config, pairs, records_of, stored_marker
from conn_sim import collect as sim_collect
from conn_sim import stored_software

from mdmtui.connectors.intune import SOFTWARE_SELECT, IntuneConnector, parse_software_export
from mdmtui.errors import ProtocolError
from mdmtui.sim import Faults, Simulator

LIST_URL = f"{GRAPH}/v1.0/deviceManagement/managedDevices"
JOBS_URL = f"{GRAPH}/beta/deviceManagement/reports/exportJobs"
FAST = {"export_poll_s": 0.01, "export_wait_s": 5}


def storage(report: str) -> str:
    return f"https://storage.test/c0ffee/{report}_1.zip?sv=2019-02-02&se=2099-01-01T00%3A00%3A00Z&sig=abc"


def item(n: int) -> dict:
    return {"id": f"dev-{n}", "deviceName": f"Phone {n}", "operatingSystem": "iOS", "osVersion": "18.5",
            "serialNumber": f"SN{n}", "lastSyncDateTime": "2026-11-20T10:00:00Z", "iccid": "", "udid": "",
            "ethernetMacAddress": None, "physicalMemoryInBytes": 0}


def zip_csv(name: str, rows: list[list[str]]) -> bytes:
    text = io.StringIO()
    csv.writer(text, quoting=csv.QUOTE_ALL).writerows(rows)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{name}.csv", "\ufeff" + text.getvalue())
    return out.getvalue()


def mocked(items: list[dict], device_rows: list[list[str]], app_rows: list[list[str]], app_polls: list[str]):
    """Graph with both export jobs; the storage host serves each job's zip."""
    respx.post(TOKEN_URL).mock(return_value=httpx.Response(200, json={"access_token": "tok-1", "expires_in": 3599}))
    respx.get(url__startswith=LIST_URL + "?").mock(return_value=httpx.Response(200, json={"value": items}))

    def create(request):
        report = json.loads(request.content)["reportName"]
        return httpx.Response(201, json={"id": f"{report}_1", "status": "notStarted", "url": None})

    post = respx.post(JOBS_URL).mock(side_effect=create)
    respx.get(f"{JOBS_URL}('DevicesWithInventory_1')").mock(return_value=httpx.Response(200, json={
        "id": "DevicesWithInventory_1", "status": "completed", "url": storage("DevicesWithInventory")}))
    polls = respx.get(f"{JOBS_URL}('AppInvRawData_1')").mock(side_effect=[
        httpx.Response(200, json={"id": "AppInvRawData_1", "status": s,
                                  "url": storage("AppInvRawData") if s == "completed" else None}) for s in app_polls])
    files = {"DevicesWithInventory": zip_csv("DevicesWithInventory_1", device_rows),
             "AppInvRawData": zip_csv("AppInvRawData_1", app_rows)}
    download = respx.get(url__startswith="https://storage.test/").mock(side_effect=lambda request: httpx.Response(
        200, content=files[request.url.path.rsplit("/", 1)[1].split("_")[0]]))
    return post, polls, download


def detected_apps(ident: str, apps: list[dict]):
    return respx.get(url__startswith=f"{GRAPH}/beta/deviceManagement/managedDevices/{ident}/detectedApps").mock(
        return_value=httpx.Response(200, json={"value": apps}))


DEVICE_ROWS = [["Device ID", "ICCID", "EthernetMAC"], ["dev-1", "8981", ""], ["dev-2", "8982", ""]]
# display-style headers, the columns in another order than requested, a column not asked for
APP_ROWS = [["Application version", "Device ID", "Platform", "Application name"],
            ["7.1", "dev-1", "ios", "Microsoft Teams"], ["", "dev-1", "ios", "LINE"], ["1.0", "dev-1", "ios", ""]]


@respx.mock
async def test_both_jobs_requested_and_software_read_from_the_file_without_per_device_calls():
    items = [item(1), item(2), item(3)]
    post, polls, download = mocked(items, DEVICE_ROWS, APP_ROWS, ["inProgress", "completed"])
    per_device = {i: detected_apps(f"dev-{i}", [{"displayName": "Slack", "version": "4.0"}]) for i in (1, 2, 3)}
    respx.post(f"{GRAPH}/beta/$batch").mock(return_value=httpx.Response(200, json={"responses": [
        {"id": "0", "status": 200, "body": {"id": "dev-3", "udid": "U3", "physicalMemoryInBytes": 1}}]}))
    conn = IntuneConnector(intune_config(extra={"intune_route": "export", **FAST}))
    known = {i["id"]: stored_marker(i, time.time()) for i in items[:2]}  # dev-3 is new
    records = await records_of(conn, known)
    bodies = sorted((json.loads(c.request.content) for c in post.calls), key=lambda b: b["reportName"])
    assert bodies == [{"reportName": "AppInvRawData", "select": ["DeviceId", "ApplicationName", "ApplicationVersion"],
                       "format": "csv"},
                      {"reportName": "DevicesWithInventory", "select": ["DeviceId", "ICCID", "EthernetMAC"],
                       "format": "csv"}]
    assert all(c.request.headers["authorization"] == "Bearer tok-1" for c in [*post.calls, *polls.calls])
    assert polls.call_count == 2 and download.call_count == 2
    assert all("authorization" not in c.request.headers for c in download.calls)
    assert conn.route == "export" and conn.software_route == "export" and conn.warnings == []
    # in the file: its rows (an app without a name is no item); in the device file only: no apps
    assert pairs(records["dev-1"].software) == [("LINE", ""), ("Microsoft Teams", "7.1")]
    assert [s.version for s in records["dev-1"].software if s.name == "LINE"] == [None]
    assert records["dev-2"].software == []
    # in neither report (enrolled after their snapshot): the per-device call, as on the list route
    assert pairs(records["dev-3"].software) == [("Slack", "4.0")]
    assert not per_device[1].called and not per_device[2].called and per_device[3].call_count == 1
    assert all(r.change_marker is not None for r in records.values())


@pytest.mark.parametrize("polls, expect", [(["inProgress", "failed"], "failed"),
                                           (["inProgress"] * 50, "did not complete within")])
@respx.mock
async def test_a_failed_or_hanging_software_job_falls_back_to_per_device_calls_with_a_warning(polls, expect):
    items = [item(1), item(2)]
    mocked(items, DEVICE_ROWS, APP_ROWS, polls)
    one = detected_apps("dev-1", [{"displayName": "Slack", "version": "4.0"}])
    two = detected_apps("dev-2", [])
    conn = IntuneConnector(intune_config(extra={"intune_route": "export", "export_poll_s": 0.01,
                                                "export_wait_s": 0.1}))
    stale = stored_marker(item(1), time.time() - 30 * 86_400)  # dev-1's rolling refresh is due
    known = {"dev-1": stale, "dev-2": stored_marker(item(2), time.time())}
    records = await records_of(conn, known)
    assert conn.route == "export" and conn.software_route == "per-device"  # the device job still counts
    assert len(conn.warnings) == 1 and "software export job" in conn.warnings[0] and expect in conn.warnings[0]
    assert "device by device" in conn.warnings[0]
    assert pairs(records["dev-1"].software) == [("Slack", "4.0")] and one.call_count == 1
    assert records["dev-2"].software is None and not two.called  # not due: keeps its stored software


def test_parse_software_export_reads_names_in_any_order_and_refuses_what_it_cannot_trust():
    got = parse_software_export(zip_csv("a", [["ApplicationName", "DeviceId", "ApplicationVersion"],
                                              ["LINE", "d1", "14.2.0"], ["Box", "d2", ""], ["", "d3", "1"]]))
    assert pairs(got.of("d1")) == [("LINE", "14.2.0")] and got.of("d2")[0].version is None
    assert got.covers("d3") and got.of("d3") == [] and not got.covers("d4") and got.of("d4") == []
    with pytest.raises(ProtocolError, match="cut line"):
        parse_software_export(zip_csv("a", [["DeviceId", "ApplicationName", "ApplicationVersion"],
                                            ["d1", "LINE", "1"], ["d1", "Box"]]))
    with pytest.raises(ProtocolError, match="lacks"):
        parse_software_export(zip_csv("a", [["DeviceId", "ApplicationName", "ApplicationShortVersion"]]))
    with pytest.raises(ProtocolError, match="not a readable zip"):
        parse_software_export(b"PK\x03\x04 truncated")
    assert SOFTWARE_SELECT == ("DeviceId", "ApplicationName", "ApplicationVersion")


# --- against the simulator over loopback --------------------------------------------------------------

@pytest.fixture
def sim():
    with Simulator(seed=11, intune=300, mobileiron=1, sdm=1, budget=None) as s:
        s.intune.export_delay_s = 0.05
        yield s


EXPORT = {"intune_route": "export", **FAST}
LIST = {"intune_route": "list"}


def software_of(records) -> dict:
    return {r.mdm_device_id: pairs(r.software) for r in records}


async def test_the_daily_run_costs_a_handful_of_units_on_the_export_route_and_sees_every_app_change(sim):
    first, _ = await sim_collect(sim, "intune", extra=LIST)
    done = sim.admin.advance(24, "intune")["intune"]  # a normal day at the default rates
    assert done["apps_changed"] > 5
    known = {r.mdm_device_id: r.change_marker for r in first}
    units, runs = {}, {}
    for route, extra in (("list", LIST), ("export", {**EXPORT, "export_poll_s": 0.06})):
        sim.meter.reset()
        records, conn = await sim_collect(sim, "intune", known, stored=stored_software(first), extra=extra)
        units[route] = sim.meter.report()["intune"]["units"]
        assert conn.warnings == [] and conn.software_route == ("export" if route == "export" else "tenant-wide")
        runs[route] = records
    new = done["enrolled"] + done["reenrolled"]
    # export: one list page, two jobs (a POST and at most 2 polls each: the job completes 0.05 s after its
    # POST, the first poll comes 0.06 s after it), one $batch item per new device; no per-device apps call
    assert units["export"] <= 1 + 2 * (1 + 2) + new
    # list: a seventh of the fleet's apps (the rolling refresh), new devices, the tenant-wide list's pages
    # and one device list per (name, version) whose count moved
    assert units["export"] < units["list"] and units["list"] > 300 / 7 / 2
    truth, _ = await sim_collect(sim, "intune", extra=LIST)  # every device's apps, device by device
    assert software_of(runs["export"]) == software_of(truth)
    stored = software_of(first)
    kept = {i: apps if apps is not None else stored.get(i) for i, apps in software_of(runs["list"]).items()}
    assert kept == software_of(truth)  # the list route sees every app change of the day too
    assert sim.services["storage"].refused_auth == []


@pytest.mark.parametrize("fault, expect", [
    ({"export_job_fails": 1}, "failed"),
    ({"export_job_hangs": 1}, "did not complete within"),
    ({"export_url_expired": 1}, "HTTP 403"),
])
async def test_each_software_job_fault_falls_back_to_the_per_device_route(sim, fault, expect):
    first, _ = await sim_collect(sim, "intune", extra=LIST)
    sim.admin.advance(24, "intune")
    known = {r.mdm_device_id: r.change_marker for r in first}
    sim.set_faults(Faults(**fault), "intune", "exportJobs.AppInvRawData")
    records, conn = await sim_collect(sim, "intune", known, extra={**EXPORT, "export_wait_s": 0.3})
    assert conn.route == "export" and conn.software_route == "per-device"
    assert len(conn.warnings) == 1 and "software export job" in conn.warnings[0] and expect in conn.warnings[0]
    listed, _ = await sim_collect(sim, "intune", known, extra=LIST)
    assert software_of(records) == software_of(listed)  # the same devices read, the others None (kept)
    assert any(r.software is None for r in records) and any(r.software for r in records)
