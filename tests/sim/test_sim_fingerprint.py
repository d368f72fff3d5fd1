"""Wire fingerprint: the same seed serves the same bytes, whatever the simulator does to go faster.

The digests below were recorded from the simulator as it was before page serving was optimised
(commit 5da264b). They cover every device-serving path the connectors read: Intune list pages
(v1.0 and beta, with and without $select, $top, $filter), single GETs, $batch, MobileIron v2 search
(every field, a query), details and app inventory, SDM pages, single devices and software, plus
devices changed by admin operations and actions (the overlay). Only what varies by nature is masked:
the base URL (a free port) and MobileIron's two clock fields.
MobileIron's and the truth digests were re-recorded when Core's other device states, the success answer
for profile-removed devices and RAM only in /details were added (issue 10; docs/mobileiron-core-api.md).
"""

from __future__ import annotations

import hashlib
import json
import re

import httpx
import pytest

from mdmtui.sim import Simulator
from mdmtui.sim.mobileiron import FIELD_NAMES

from conftest import graph_token

# now far in the future: the sim clock (max(real time, now)) is then fixed, so admin operations
# that stamp "now" (add, re-enrol, SIM swap, touch) are deterministic too.
NOW = 4_000_000_000
SELECT = ("id,deviceName,operatingSystem,osVersion,model,manufacturer,serialNumber,imei,phoneNumber,"
          "subscriberCarrier,wiFiMacAddress,totalStorageSpaceInBytes,freeStorageSpaceInBytes,lastSyncDateTime,"
          "userDisplayName,emailAddress")
SELECT_QUIRK = "iccid,udid,physicalMemoryInBytes,ethernetMacAddress,notes,deviceActionResults,hardwareInformation,id"
# v1.0 refuses a $select naming a beta-only property (hardwareInformation)
QUIRK = {"beta": SELECT_QUIRK, "v1.0": SELECT_QUIRK.replace(",hardwareInformation", "")}

EXPECTED = {
    "intune": "551bf6d0de61e89ba489f064e8625c80f71168519b556e16a24fa733a3dac24e",
    "mobileiron": "73bd23bec8e4ba15f494352eb3645af3a640e8ebbdfd8413aa6246971af7ea22",
    "sdm": "8960a7140d8cae4e1c98ef287cf71798e28396cbe9fdeb4947de9892dd7d0aae",
    "truth": "87d97409c8a30dbbcde53d6695f0ede719541ff416ef33d115b109b4869c3f0b",
}


def _mask(body: bytes, base: str) -> bytes:
    body = body.replace(base.encode(), b"BASE")
    return re.sub(rb'"(searchTimeMillis|currentServerTimeMilliseconds)":\d+', rb'"\1":0', body)


def _change_some(sim: Simulator) -> None:
    """Admin operations and actions whose outcome is deterministic under a fixed clock."""
    for mdm in ("intune", "mobileiron", "sdm"):
        fleet = sim.fleets[mdm]
        ids = [fleet.id_of(s) for s in (3, 10, 17, 40, 41, 77)]
        sim.admin.sim_swap(mdm, ids[0])
        sim.admin.remove(mdm, ids[1])
        sim.admin.reenrol(mdm, ids[2])
        sim.admin.remove_profile(mdm, ids[3])
        sim.admin.touch(mdm, ids[4])
        sim.admin.add(mdm)
        sim.admin.add(mdm, os="Android")
        fleet.update(fleet.slot_of(ids[5]), wiped={"start": 1_000_000_000, "end": "wipeFailed"},
                     actions=[{"name": "remoteLock", "start": 3_999_999_000, "fails": True}])


def _intune(sim: Simulator, client: httpx.Client) -> list[bytes]:
    base = sim.intune.base_url
    h = {"Authorization": "Bearer " + graph_token(sim, client)}
    out = []

    def pages(url, params=None):
        while url:
            r = client.get(url, headers=h, params=params)
            assert r.status_code == 200, r.text
            out.append(_mask(r.content, base))
            url, params = r.json().get("@odata.nextLink"), None

    for ver in ("v1.0", "beta"):
        pages(f"{base}/{ver}/deviceManagement/managedDevices")
        pages(f"{base}/{ver}/deviceManagement/managedDevices", {"$select": SELECT})
        pages(f"{base}/{ver}/deviceManagement/managedDevices", {"$select": QUIRK[ver], "$top": "333"})
    pages(f"{base}/v1.0/deviceManagement/managedDevices", {"$filter": "operatingSystem eq 'Windows'", "$top": "97"})
    pages(f"{base}/v1.0/deviceManagement/managedDevices",
          {"$filter": "lastSyncDateTime ge 2125-01-01T00:00:00Z and operatingSystem ne 'iOS'"})
    ids = sim.device_ids("intune")
    for ver in ("v1.0", "beta"):
        for ident in ids[:12] + ids[-3:]:
            for params in (None, {"$select": SELECT}, {"$select": QUIRK[ver]}):
                r = client.get(f"{base}/{ver}/deviceManagement/managedDevices/{ident}", headers=h, params=params)
                assert r.status_code == 200, r.text
                out.append(_mask(r.content, base))
    for ver in ("v1.0", "beta"):
        for chunk in (ids[:20], ids[100:120], ids[-20:]):
            reqs = [{"id": str(k), "method": "GET",
                     "url": f"/deviceManagement/managedDevices/{i}?$select={SELECT if k % 2 else QUIRK[ver]}"}
                    for k, i in enumerate(chunk)]
            r = client.post(f"{base}/{ver}/$batch", headers=h, json={"requests": reqs})
            assert r.status_code == 200, r.text
            out.append(_mask(r.content, base))
    return out


def _mobileiron(sim: Simulator, client: httpx.Client) -> list[bytes]:
    m = sim.mobileiron
    auth, out = (m.user, m.password), []
    for fields, limit, query in ((",".join(FIELD_NAMES), 500, None), (SELECT, 1000, None),
                                 ("common.uuid,common.platform,user.display_name", 50, 'common.platform = "Android"')):
        fields = fields if fields != SELECT else ",".join(FIELD_NAMES[::3])
        offset = 0
        while True:
            params = {"adminDeviceSpaceId": 1, "fields": fields, "limit": limit, "offset": offset}
            if query:
                params["query"] = query
            r = client.get(f"{m.base_url}/api/v2/devices", params=params, auth=auth)
            assert r.status_code == 200, r.text
            out.append(_mask(r.content, m.base_url))
            offset += limit
            if not r.json()["hasMore"]:
                break
    ids = sim.device_ids("mobileiron")
    for ident in ids[:10]:
        r = client.get(f"{m.base_url}/api/v2/devices/{ident}/details", params={"adminDeviceSpaceId": 1}, auth=auth)
        out.append(_mask(r.content, m.base_url))
    r = client.get(f"{m.base_url}/api/v2/devices/appinventory",
                   params={"adminDeviceSpaceId": 1, "deviceUuids": ",".join(ids[:25])}, auth=auth)
    out.append(_mask(r.content, m.base_url))
    return out


def _sdm(sim: Simulator, client: httpx.Client) -> list[bytes]:
    s = sim.sdm
    auth, out, api = (s.user, s.password), [], s.base_url + "/sdm/api/v1"
    for limit in (500, 37):
        offset = 0
        while True:
            r = client.get(f"{api}/devices", params={"offset": offset, "limit": limit}, auth=auth)
            assert r.status_code == 200, r.text
            out.append(r.content)
            offset += limit
            if offset >= r.json()["total"]:
                break
    ids = sim.device_ids("sdm")
    for ident in ids[:10] + ids[-3:]:
        out.append(client.get(f"{api}/devices/{ident}", auth=auth).content)
        out.append(client.get(f"{s.software_url}/software", params={"deviceId": ident, "limit": 500}).content)
    return out


def _truth(sim: Simulator) -> list[bytes]:
    out = []
    for mdm in ("intune", "mobileiron", "sdm"):
        ids = sim.device_ids(mdm)
        out.append(json.dumps(ids).encode())
        out.append(json.dumps(sim.scenario_devices.get(mdm, {}), sort_keys=True).encode())
        for ident in ids[:30] + ids[-5:]:
            truth = sim.truth(mdm, ident)
            truth.pop("deviceActionResults", None)      # pending/done depends on the real clock
            out.append(json.dumps(truth, ensure_ascii=False).encode())
    return out


def _digest(parts: list[bytes]) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(len(p).to_bytes(8, "big") + p)
    return h.hexdigest()


@pytest.fixture(scope="module")
def fingerprints():
    sim = Simulator(seed=5, intune=2100, mobileiron=1100, sdm=1100, scenario="demo", now=NOW)
    sim.intune.action_delay = 3600
    for mdm in ("intune", "mobileiron"):  # the digests predate grouped IMEIs (tested in test_sim_data)
        sim.fleets[mdm].report_ids(grouped=False)
    _change_some(sim)
    with sim, httpx.Client(timeout=30) as client:
        return {"intune": _digest(_intune(sim, client)), "mobileiron": _digest(_mobileiron(sim, client)),
                "sdm": _digest(_sdm(sim, client)), "truth": _digest(_truth(sim))}


@pytest.mark.parametrize("part", sorted(EXPECTED))
def test_same_seed_same_bytes(fingerprints, part):
    assert fingerprints[part] == EXPECTED[part], f"{part}: the wire changed for seed 5"
