"""Intune's export route (MDM-APIS.md §4): request shapes pinned with respx, then the whole route against
the simulator over loopback — identical to the list route, ICCID-only SIM changes seen, each fallback."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import time
import zipfile

import httpx
import pytest
import respx
from conn_helpers import GRAPH, TOKEN_URL, intune_config, stored_marker
from conn_sim import collect as sim_collect
from conn_sim import stored_software

from mdmtui.connectors import intune
from mdmtui.connectors.intune import EXPORT_SELECT, IntuneConnector, parse_export
from mdmtui.errors import ConfigurationError, ProtocolError
from mdmtui.sim import Faults, Simulator

LIST_URL = f"{GRAPH}/v1.0/deviceManagement/managedDevices"
JOBS_URL = f"{GRAPH}/beta/deviceManagement/reports/exportJobs"
STORAGE = "https://storage.test/c0ffee/DevicesWithInventory_1.zip?sv=2019-02-02&se=2099-01-01T00%3A00%3A00Z&sig=abc"
FAST = {"export_poll_s": 0.01, "export_wait_s": 5}


def item(n: int) -> dict:
    return {"id": f"dev-{n}", "deviceName": f"Phone {n}", "operatingSystem": "iOS", "osVersion": "18.5",
            "serialNumber": f"SN{n}", "imei": "35391808912345", "phoneNumber": "09012345678",
            "lastSyncDateTime": "2026-11-20T10:00:00Z", "iccid": "", "udid": "", "ethernetMacAddress": None,
            "physicalMemoryInBytes": 0}


def zip_csv(rows: list[list[str]], bom: bool = True) -> bytes:
    text = io.StringIO()
    csv.writer(text, quoting=csv.QUOTE_ALL).writerows(rows)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("DevicesWithInventory_1.csv", ("\ufeff" if bom else "") + text.getvalue())
    return out.getvalue()


def mocked_graph(items: list[dict], rows: list[list[str]], polls: list[str]):
    respx.post(TOKEN_URL).mock(return_value=httpx.Response(200, json={"access_token": "tok-1", "expires_in": 3599}))
    respx.get(url__startswith=LIST_URL).mock(return_value=httpx.Response(200, json={"value": items}))
    post = respx.post(JOBS_URL).mock(return_value=httpx.Response(201, json={
        "id": "DevicesWithInventory_1", "status": "notStarted", "url": None}))
    answers = [httpx.Response(200, json={"id": "DevicesWithInventory_1", "status": s,
                                         "url": STORAGE if s == "completed" else None}) for s in polls]
    poll = respx.get(f"{JOBS_URL}('DevicesWithInventory_1')").mock(side_effect=answers)
    download = respx.get(url__startswith="https://storage.test/").mock(
        return_value=httpx.Response(200, content=zip_csv(rows)))
    return post, poll, download


async def collect(conn, known) -> list:
    out = []
    async for page in conn.iter_device_pages(known):
        out.extend(page)
    await conn.aclose()
    return out


@respx.mock
async def test_job_body_poll_and_a_download_without_the_token():
    items = [item(1), item(2)]
    rows = [["Device ID", "ICCID", "Ethernet MAC"], ["dev-1", "8981 1080 1843 0206 4414", ""],
            ["dev-2", "8981100000000000001", "a1b2c3d4e5f6"]]
    post, poll, download = mocked_graph(items, rows, ["notStarted", "inProgress", "completed"])
    conn = IntuneConnector(intune_config(extra={"intune_route": "export", "collect_software": False, **FAST}))
    known = {i["id"]: stored_marker(i, time.time()) for i in items}
    records = {r.mdm_device_id: r for r in await collect(conn, known)}
    assert json.loads(post.calls[0].request.content) == {
        "reportName": "DevicesWithInventory", "select": ["DeviceId", "ICCID", "EthernetMAC"], "format": "csv"}
    assert post.calls[0].request.headers["authorization"] == "Bearer tok-1"
    assert poll.call_count == 3 and all(c.request.headers["authorization"] == "Bearer tok-1" for c in poll.calls)
    sent = download.calls[0].request
    assert "authorization" not in sent.headers and str(sent.url) == STORAGE
    assert conn.route == "export" and conn.warnings == []
    assert records["dev-1"].iccid == "89811080184302064414" and records["dev-2"].iccid == "8981100000000000001"
    assert records["dev-1"].unfetched == {"udid", "ram_total_bytes"}  # only those are left to the single GET
    assert all("$batch" not in str(c.request.url) for c in respx.calls)  # no single GET for known devices


@respx.mock
async def test_a_failed_job_falls_back_to_the_list_route_with_a_warning():
    items = [item(1)]
    mocked_graph(items, [], ["inProgress", "failed"])
    batch = respx.post(f"{GRAPH}/beta/$batch").mock(return_value=httpx.Response(200, json={"responses": [
        {"id": "0", "status": 200, "body": {"id": "dev-1", "iccid": "8981", "udid": "U", "physicalMemoryInBytes": 1}}]}))
    conn = IntuneConnector(intune_config(extra={"intune_route": "export", "collect_software": False, **FAST}))
    records = await collect(conn, {})
    assert conn.route == "list" and batch.called and records[0].iccid == "8981"
    assert len(conn.warnings) == 1 and "failed" in conn.warnings[0] and "list route" in conn.warnings[0]


@respx.mock
async def test_a_plain_http_download_link_from_an_https_graph_is_not_followed():
    mocked_graph([item(1)], [], ["completed"])
    respx.get(f"{JOBS_URL}('DevicesWithInventory_1')").mock(return_value=httpx.Response(
        200, json={"id": "DevicesWithInventory_1", "status": "completed", "url": "http://storage.test/x.zip"}))
    respx.post(f"{GRAPH}/beta/$batch").mock(return_value=httpx.Response(200, json={"responses": []}))
    conn = IntuneConnector(intune_config(extra={"intune_route": "export", "collect_software": False, **FAST}))
    await collect(conn, {"dev-1": stored_marker(item(1), time.time())})  # unchanged: no $batch retries
    assert conn.route == "list" and "not HTTPS" in conn.warnings[0]


@respx.mock
async def test_a_hostile_job_id_or_status_reaches_no_message():
    mocked_graph([item(1)], [], ["completed"])
    respx.post(JOBS_URL).mock(return_value=httpx.Response(201, json={"id": "x/../\x1b[31m", "status": "notStarted"}))
    respx.post(f"{GRAPH}/beta/$batch").mock(return_value=httpx.Response(200, json={"responses": []}))
    known = {"dev-1": stored_marker(item(1), time.time())}  # unchanged: no detail $batch (its retries)
    conn = IntuneConnector(intune_config(extra={"intune_route": "export", "collect_software": False, **FAST}))
    await collect(conn, known)
    assert conn.route == "list" and "no usable id" in conn.warnings[0] and "\x1b" not in conn.warnings[0]
    respx.post(JOBS_URL).mock(return_value=httpx.Response(201, json={"id": "DevicesWithInventory_1"}))
    respx.get(f"{JOBS_URL}('DevicesWithInventory_1')").mock(return_value=httpx.Response(
        200, json={"id": "DevicesWithInventory_1", "status": "\x1b[2Jdone"}))
    conn = IntuneConnector(intune_config(extra={"intune_route": "export", "collect_software": False,
                                                "export_poll_s": 0.01, "export_wait_s": 0.05}))
    await collect(conn, known)
    assert "an unexpected value" in conn.warnings[0] and "\x1b" not in conn.warnings[0]


async def test_route_choice_by_inventory_size_and_setting():
    known = {f"d{n}": None for n in range(10)}
    auto = IntuneConnector(intune_config(extra={"export_threshold": 10}))
    auto._enrolled_count = _count(None)  # the overview gives nothing: the inventory decides
    assert await auto._wants_export(known) and not await auto._wants_export(dict(list(known.items())[:9]))
    auto.since = 1.0  # a changed-only run lists a few devices: never a whole-fleet job on its own
    assert not await auto._wants_export(known)
    assert await IntuneConnector(intune_config(extra={"intune_route": "export"}))._wants_export({})
    forced_list = IntuneConnector(intune_config(extra={"intune_route": "list", "export_threshold": 0}))
    assert not await forced_list._wants_export(known)
    assert await IntuneConnector(intune_config())._wants_export({f"d{n}": None for n in range(5000)})
    with pytest.raises(ConfigurationError, match="intune_route"):
        IntuneConnector(intune_config(extra={"intune_route": "zip"}))


def _count(value):
    async def enrolled_count():
        return value
    return enrolled_count


async def test_an_empty_inventory_takes_the_export_route_when_the_overview_counts_a_big_tenant():
    auto = IntuneConnector(intune_config(extra={"export_threshold": 10}))
    auto._enrolled_count = _count(10)
    assert await auto._wants_export({})
    auto._enrolled_count = _count(9)
    assert not await auto._wants_export({})


@respx.mock
@pytest.mark.parametrize("answer", [
    httpx.Response(200, json={"id": "managedDeviceOverview", "enrolledDeviceCount": 120000}),
    httpx.Response(200, json={"enrolledDeviceCount": "120000"}),     # not a number: no count
    httpx.Response(200, json={"enrolledDeviceCount": -1}),
    httpx.Response(200, json=[1, 2]),
    httpx.Response(404, json={"error": {"code": "ResourceNotFound", "message": "nope"}}),
    httpx.Response(403, json={"error": {"code": "Forbidden", "message": "no"}}),
])
async def test_the_overview_count_is_one_plain_get_and_any_odd_answer_means_no_count(answer):
    respx.post(TOKEN_URL).mock(return_value=httpx.Response(200, json={"access_token": "tok-1", "expires_in": 3599}))
    route = respx.get(f"{GRAPH}/v1.0/deviceManagement/managedDeviceOverview").mock(return_value=answer)
    conn = IntuneConnector(intune_config(extra={"export_threshold": 5000}))
    try:
        got = await conn._enrolled_count()
    finally:
        await conn.aclose()
    assert route.call_count == 1 and route.calls[0].request.headers["Authorization"] == "Bearer tok-1"
    assert not route.calls[0].request.url.params  # no $select: the overview is one small entity
    assert got == (120000 if answer.status_code == 200 and answer.json() == {
        "id": "managedDeviceOverview", "enrolledDeviceCount": 120000} else None)


def test_parse_export_reads_received_or_requested_names_and_refuses_garbage():
    rows = parse_export(zip_csv([["DeviceId", "ICCID", "EthernetMAC"], ["d1", "", "a1b2c3d4e5f6"], ["d2", "8981"]],
                                bom=False))
    assert rows == {"d1": {"iccid": None, "ethernetMacAddress": "a1b2c3d4e5f6"}}  # the cut line is left out
    with pytest.raises(ProtocolError, match="not a readable zip"):
        parse_export(b"<html>gateway</html>")
    with pytest.raises(ProtocolError, match="lacks"):
        parse_export(zip_csv([["Device ID", "Serial number"], ["d1", "S"]]))
    empty = io.BytesIO()
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("readme.txt", "x")
    with pytest.raises(ProtocolError, match="no CSV"):
        parse_export(empty.getvalue())
    assert EXPORT_SELECT == ("DeviceId", "ICCID", "EthernetMAC")


# --- against the simulator over loopback --------------------------------------------------------------

COMPARED = [f.name for f in dataclasses.fields(intune.DeviceRecord)
            if f.name not in ("change_marker", "unfetched", "software")]


def known_of(records) -> dict:
    return {r.mdm_device_id: r.change_marker for r in records}


def merged(stored: dict, records) -> dict:
    """What the inventory holds after a run: unfetched fields keep their stored values, software not read
    (None) the stored software; software compared as a sorted list of (name, version)."""
    out = {}
    for r in records:
        old = stored.get(r.mdm_device_id)
        out[r.mdm_device_id] = {f: getattr(old, f) if old is not None and f in r.unfetched else getattr(r, f)
                                for f in COMPARED}
        software = r.software if r.software is not None or old is None else old.software
        out[r.mdm_device_id]["software"] = None if software is None else sorted((a.name, a.version or "")
                                                                               for a in software)
    return out


@pytest.fixture
def sim():
    with Simulator(seed=5, intune=120, mobileiron=1, sdm=1, budget=None) as s:
        s.intune.export_delay_s = 0.05
        yield s


EXPORT = {"intune_route": "export", "collect_software": False, **FAST}
LIST = {"intune_route": "list", "collect_software": False}
WITH_APPS = {"intune_route": "list", "collect_software": True}


async def test_list_and_export_routes_give_identical_inventories_and_the_export_sees_iccid_only_changes(sim):
    first, _ = await sim_collect(sim, "intune", extra=WITH_APPS)
    stored = {r.mdm_device_id: r for r in first}
    # a day in which every cellular device that checks in gets a new ICCID for the same number, and a
    # tenth of the devices install, update or remove an app
    done = sim.admin.advance(24, "intune", {"checkin": 1, "sim_swap": 1, "iccid_only": 1, "enrol": 0.05,
                                            "leave": 0, "reenrol": 0, "apps": 0.1})["intune"]
    assert done["iccid_only"] > 20 and done["sim_swaps"] == 0 and done["enrolled"] > 0 and done["apps_changed"] > 5
    sim.meter.reset()
    daily, conn = await sim_collect(sim, "intune", known_of(first), extra={**EXPORT, "collect_software": True})
    assert conn.route == "export" and conn.software_route == "export" and conn.warnings == []
    assert sim.services["storage"].refused_auth == [] and sim.services["storage"].downloads == 2
    units = sim.meter.report()["intune"]["units"]
    # a list page, the two jobs (POST + a poll or two each), and one $batch item per new device only
    assert units <= 1 + 2 * 4 + done["enrolled"]
    truth, _ = await sim_collect(sim, "intune", extra=WITH_APPS)  # a fresh full list run: every per-device call
    assert all(r.software is not None for r in daily + truth)
    assert merged(stored, daily) == merged({}, truth)
    changed = [r for r in daily if r.mdm_device_id in stored and r.iccid != stored[r.mdm_device_id].iccid]
    assert len(changed) == done["iccid_only"]
    # the list route, given the same stored markers, does not see them (the list shows no ICCID)
    listed, _ = await sim_collect(sim, "intune", known_of(first), extra=LIST)
    assert merged(stored, listed) != merged({}, truth)
    # its software, with the inventory's software handed over (the tenant-wide counts), is the export's
    with_apps, conn = await sim_collect(sim, "intune", known_of(first), stored=stored_software(first),
                                        extra=WITH_APPS)
    assert conn.software_route == "tenant-wide" and conn.warnings == []
    by_list, by_export = merged(stored, with_apps), merged(stored, daily)
    assert {i: d["software"] for i, d in by_list.items()} == {i: d["software"] for i, d in by_export.items()}
    # field by field, every other item too, except the ICCIDs the list route cannot see
    assert {i: {**d, "iccid": None} for i, d in by_list.items()} == {i: {**d, "iccid": None} for i, d in by_export.items()}


@pytest.mark.parametrize("fault, expect", [
    ({"export_job_fails": 1}, "failed"),
    ({"export_job_hangs": 1}, "did not complete within"),
    ({"export_url_expired": 1}, "HTTP 403"),
])
async def test_each_export_fault_falls_back_to_the_list_route(sim, fault, expect):
    first, _ = await sim_collect(sim, "intune", extra=LIST)
    sim.set_faults(Faults(**fault), "intune", "exportJobs")
    records, conn = await sim_collect(sim, "intune", known_of(first), extra={**EXPORT, "export_wait_s": 0.3})
    assert conn.route == "list" and len(conn.warnings) == 1 and expect in conn.warnings[0]
    again, _ = await sim_collect(sim, "intune", known_of(first), extra=LIST)
    assert merged({r.mdm_device_id: r for r in first}, records) == merged({r.mdm_device_id: r for r in first}, again)


async def test_export_job_requests_spend_the_budget_and_the_storage_host_refuses_a_token(sim):
    sim.meter.reset()
    _, conn = await sim_collect(sim, "intune", {"x": None}, extra={**EXPORT, "export_poll_s": 0.2})
    report = sim.meter.report()
    assert conn.route == "export" and report["storage"]["requests"] == 1
    # the list page, the POST, at least one poll, and one $batch item per (new) device
    assert report["intune"]["units"] >= 1 + 2 + 120
    job = next(iter(sim.services["intune"].exports.jobs.values()))
    assert httpx.get(job.url, headers={"Authorization": "Bearer leaked"}).status_code == 403
    assert len(sim.services["storage"].refused_auth) == 1
    assert httpx.get(job.url.replace("sig=", "sig=x")).status_code == 403
    assert httpx.get(job.url).status_code == 200


async def test_a_first_collection_reads_new_devices_while_the_export_jobs_run(sim):
    """The single GETs of never-enriched devices go out while Intune builds the export files, once each,
    and the records are those of the list route's run (no export to wait for)."""
    waited, _ = await sim_collect(sim, "intune", extra=LIST, page_size=25)
    sim.intune.export_delay_s = 1.0
    sim.requests_log.clear()
    sim.meter.reset()
    early, conn = await sim_collect(sim, "intune", extra=EXPORT, page_size=25)
    assert conn.route == "export" and conn.warnings == []
    log = [(mdm, path) for mdm, _method, path, _status in sim.requests_log]
    download = next(n for n, (mdm, _path) in enumerate(log) if mdm == "storage")
    assert any(path.endswith("/$batch") for _mdm, path in log[:download])     # before the file was there
    report = sim.meter.report()["intune"]
    single = sum(n for kind, n in report["by_kind"].items() if kind not in ("batch", "token"))
    assert report["units"] - single == 120                        # batch items: each device's GET once
    by_id = {r.mdm_device_id: r for r in waited}
    assert {r.mdm_device_id: (r.udid, r.iccid, r.ram_total_bytes, r.unfetched) for r in early} == \
        {i: (r.udid, r.iccid, r.ram_total_bytes, r.unfetched) for i, r in by_id.items()}
