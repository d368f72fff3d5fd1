"""Intune report export jobs in the simulator: the job's shape and lifecycle, the refused requests,
the file on the storage host (another origin, no token, expiring URL) and what it costs of the budget."""

from __future__ import annotations

import csv
import io
import time
import zipfile
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import graph_token

from mdmtui.sim import BudgetLimits, Faults, Simulator
from mdmtui.sim.faults import parse_spec

BODY = {"reportName": "DevicesWithInventory", "select": ["DeviceId", "ICCID", "EthernetMAC", "StorageTotal"],
        "format": "csv"}


@pytest.fixture
def tenant():
    with Simulator(seed=3, intune=40, mobileiron=1, sdm=1, budget=BudgetLimits()) as s, httpx.Client(timeout=10) as c:
        s.intune.export_delay_s = 0.1
        yield s, c, {"Authorization": "Bearer " + graph_token(s, c)}


def jobs_url(sim, ver: str = "beta") -> str:
    return f"{sim.intune.base_url}/{ver}/deviceManagement/reports/exportJobs"


def completed(sim, client, headers, job_id: str) -> dict:
    for _ in range(50):
        job = client.get(f"{jobs_url(sim)}('{job_id}')", headers=headers).json()
        if job["status"] in ("completed", "failed"):
            return job
        time.sleep(0.03)
    return job


def test_job_lifecycle_and_the_file(tenant):
    sim, client, headers = tenant
    created = client.post(jobs_url(sim, "v1.0"), headers=headers, json=BODY)
    assert created.status_code == 201
    job = created.json()
    assert job["id"].startswith("DevicesWithInventory_") and job["status"] == "notStarted" and job["url"] is None
    assert job["select"] == BODY["select"] and job["expirationDateTime"] == "0001-01-01T00:00:00Z"
    assert client.get(f"{jobs_url(sim)}('{job['id']}')", headers=headers).json()["status"] == "inProgress"
    done = completed(sim, client, headers, job["id"])
    assert done["status"] == "completed" and done["expirationDateTime"] != "0001-01-01T00:00:00Z"
    url = urlsplit(done["url"])
    assert f"{url.scheme}://{url.netloc}" == sim.intune.storage_url != sim.intune.base_url  # another origin
    got = client.get(done["url"])
    assert got.status_code == 200
    with zipfile.ZipFile(io.BytesIO(got.content)) as zf:
        (name,) = zf.namelist()
        text = zf.read(name).decode("utf-8")
    assert name == f"{job['id']}.csv" and text.startswith("\ufeff\"Device ID\",\"ICCID\",\"Ethernet MAC\",\"Total storage\"")
    rows = list(csv.reader(io.StringIO(text[1:])))[1:]
    assert [r[0] for r in rows] == sim.device_ids("intune")
    truth = sim.truth("intune", rows[0][0])
    assert rows[0][1] == (truth["iccid"] or "") and rows[0][3] == str(truth["totalStorageSpaceInBytes"] // 2**20)


def test_refused_requests(tenant):
    sim, client, headers = tenant
    assert client.post(jobs_url(sim), json=BODY).status_code == 401                      # no token
    for body, words in (({**BODY, "reportName": "Devices"}, "not supported"),
                        ({**BODY, "select": ["DeviceId", "UDID"]}, "UDID"),
                        ({**BODY, "format": "pdf"}, "format")):
        answer = client.post(jobs_url(sim), headers=headers, json=body)
        assert answer.status_code == 400 and words in answer.json()["error"]["message"]
    assert client.get(f"{jobs_url(sim)}('DevicesWithInventory_nope')", headers=headers).status_code == 404


def test_the_storage_host_wants_no_token_and_honours_the_expiry(tenant):
    sim, client, headers = tenant
    job = completed(sim, client, headers, client.post(jobs_url(sim), headers=headers, json=BODY).json()["id"])
    leaked = client.get(job["url"], headers=headers)
    assert leaked.status_code == 403 and b"AuthenticationFailed" in leaked.content
    assert sim.services["storage"].refused_auth == [urlsplit(job["url"]).path]
    assert client.get(job["url"].replace("&sig=", "&sig=A")).status_code == 403               # tampered
    sim.admin.advance(2, "intune", {"checkin": 0})                                        # the MDM's clock moves
    expired = client.get(job["url"])
    assert expired.status_code == 403 and b"not valid in the specified time frame" in expired.content


def test_fault_knobs_and_the_budget(tenant):
    sim, client, headers = tenant
    sim.meter.reset()
    sim.set_faults(Faults(export_job_fails=1), "intune", "exportJobs")
    failed = completed(sim, client, headers, client.post(jobs_url(sim), headers=headers, json=BODY).json()["id"])
    assert failed["status"] == "failed" and failed["url"] is None
    sim.set_faults(Faults(export_job_hangs=1), "intune", "exportJobs")
    hung = client.post(jobs_url(sim), headers=headers, json=BODY).json()["id"]
    time.sleep(0.2)
    assert client.get(f"{jobs_url(sim)}('{hung}')", headers=headers).json()["status"] == "inProgress"
    sim.set_faults(Faults(export_url_expired=1), "intune", "exportJobs")
    stale = completed(sim, client, headers, client.post(jobs_url(sim), headers=headers, json=BODY).json()["id"])
    assert stale["status"] == "completed" and client.get(stale["url"]).status_code == 403
    report = sim.meter.report()
    graph_calls = sum(1 for mdm, method, path, _ in sim.requests_log if mdm == "intune" and "exportJobs" in path)
    assert report["intune"]["units"] == graph_calls and report["storage"]["requests"] == 1
    assert report["intune"]["throttled"] == 0


APPS = {"reportName": "AppInvRawData", "select": ["ApplicationVersion", "DeviceId", "ApplicationShortVersion",
                                                  "ApplicationName"], "format": "csv"}


def app_file(sim, client, headers, body=APPS) -> list[list[str]]:
    job = client.post(jobs_url(sim), headers=headers, json=body).json()
    assert job["id"].startswith("AppInvRawData_") and job["reportName"] == "AppInvRawData"
    done = completed(sim, client, headers, job["id"])
    with zipfile.ZipFile(io.BytesIO(client.get(done["url"]).content)) as zf:
        (name,) = zf.namelist()
        return list(csv.reader(io.StringIO(zf.read(name).decode("utf-8-sig"))))


def test_app_inventory_rows_are_the_detected_apps_of_every_device(tenant):
    sim, client, headers = tenant
    header, *rows = app_file(sim, client, headers)
    # the requested names, in the report's own order (not the order of `select`)
    assert header == ["ApplicationName", "ApplicationShortVersion", "ApplicationVersion", "DeviceId"]
    by_device: dict[str, list] = {}
    for name, short, version, ident in rows:
        by_device.setdefault(ident, []).append((name, version))
        assert version.startswith(short) and short.count(".") == 1
    assert any(short != version for _, short, version, _ in rows)  # the short version is another value
    without = 0
    for ident in sim.device_ids("intune"):
        apps = client.get(f"{sim.intune.base_url}/beta/deviceManagement/managedDevices/{ident}/detectedApps",
                          headers=headers, params={"$top": "5000"}).json()["value"]
        assert sorted(by_device.get(ident, [])) == sorted((a["displayName"], a["version"]) for a in apps)
        admin = client.get(f"{sim.intune.base_url}/_sim/devices/{ident}/apps").json()
        assert [(a["name"], a["version"]) for a in admin] == sorted(by_device.get(ident, []))
        without += not apps
    assert without and set(by_device) <= set(sim.device_ids("intune"))  # no row at all for a device without apps


def test_app_inventory_follows_the_fleet_and_refuses_a_filter(tenant):
    sim, client, headers = tenant
    before = app_file(sim, client, headers)
    sim.admin.advance(24, "intune", {"apps": 1, "checkin": 1})
    assert app_file(sim, client, headers) != before
    refused = client.post(jobs_url(sim), headers=headers, json={**APPS, "filter": "(DeviceId eq 'x')"})
    assert refused.status_code == 400 and "cannot be filtered" in refused.json()["error"]["message"]
    assert client.post(jobs_url(sim), headers=headers, json={**APPS, "select": ["ICCID"]}).status_code == 400


def test_a_report_can_fail_on_its_own(tenant):
    sim, client, headers = tenant
    mdm, endpoint, faults = parse_spec("intune.exportJobs.AppInvRawData:export_job_fails=1")  # mdmtui sim --faults
    sim.set_faults(faults, mdm, endpoint)
    apps = completed(sim, client, headers, client.post(jobs_url(sim), headers=headers, json=APPS).json()["id"])
    devices = completed(sim, client, headers, client.post(jobs_url(sim), headers=headers, json=BODY).json()["id"])
    assert apps["status"] == "failed" and devices["status"] == "completed"


@pytest.mark.parametrize("select", [["DeviceId", "ApplicationName", "ApplicationVersion"],
                                    ["ApplicationVersion", "UserName", "DeviceId", "Platform", "OSVersion"],
                                    None])
def test_app_report_csv_is_csv_writers_text(select):
    """AppInvRawData's CSV, written from pre-quoted pieces, is byte for byte what csv.writer (every value
    quoted) writes of the report's rows, after a day in which apps were installed, removed and updated."""
    from mdmtui.sim.exports import APP_COLUMNS, zip_of

    sim = Simulator(seed=5, intune=300, mobileiron=0, sdm=0)
    sim.admin.advance(24, mdm="intune", rates={"apps": 1.0})
    sim.fleets["intune"].update(7, user_name='Quote "the" user, 100%')      # quotes, a comma, a percent
    jobs = sim.services["intune"].exports
    columns = select or list(APP_COLUMNS)
    reference = zip_of("j", jobs.app_rows(columns), "csv")
    fast = zip_of("j", None, "csv", jobs.app_csv(columns))
    text = zipfile.ZipFile(io.BytesIO(fast)).read("j.csv")
    assert text == zipfile.ZipFile(io.BytesIO(reference)).read("j.csv")
    rows = list(csv.reader(io.StringIO(text.decode("utf-8-sig"))))
    assert len(rows) - 1 == sum(len(sim.fleets["intune"].apps(s)) for s in sim.fleets["intune"].live_slots())
