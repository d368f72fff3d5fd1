"""How fast the simulator serves 100,000 devices, and how much memory it needs doing so.

Runs the simulator in a subprocess (so its memory is its own: VmHWM from /proc), then pages through
every device with httpx the way a connector would: Intune via @odata.nextLink (1000 per page, also
with $select), MobileIron Core via limit/offset (200, 1000, 5000), the SDM via offset/limit (500).

Then it times $batch (20 single-device GETs with $select per batch, as connectors send them) and, in
this process without HTTP, building and serialising Intune pages (the simulator's own share).

    .venv/bin/python bench/sim.py [--devices 100000] [--json bench/results/sim.json]
    PYTHONPATH=/tmp/ref .venv/bin/python bench/sim.py --sim-module oldsim   # a saved copy, to compare
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import httpx

SERVER = r"""
import importlib, json, sys
Simulator = importlib.import_module(sys.argv[2]).Simulator
n = int(sys.argv[1])
sim = Simulator(seed=1, intune=n, mobileiron=n, sdm=n).start()
print(json.dumps({"intune": vars(sim.intune) | {"permissions": []}, "mobileiron": {"base_url": sim.mobileiron.base_url,
      "user": sim.mobileiron.user, "password": sim.mobileiron.password},
      "sdm": {"base_url": sim.sdm.base_url, "user": sim.sdm.user, "password": sim.sdm.password}}), flush=True)
sys.stdin.read()
sim.stop()
"""
MI_FIELDS = ("common.uuid,common.id,common.imei,common.imsi,common.SerialNumber,common.status,common.last_connected_at,"
             "common.mdm_managed,common.model,common.manufacturer,common.platform,common.os_version,"
             "common.current_phone_number,common.home_operator_name,common.wifi_mac_address,common.storage_capacity,"
             "common.storage_free,common.memory_capacity,common.memory_free,user.display_name,user.email_address,"
             "ios.iPhone UDID,ios.iPhone ICCID,ios.DeviceName")
SELECT = ("id,deviceName,operatingSystem,osVersion,model,manufacturer,serialNumber,imei,phoneNumber,"
          "subscriberCarrier,wiFiMacAddress,totalStorageSpaceInBytes,freeStorageSpaceInBytes,lastSyncDateTime,"
          "userDisplayName,emailAddress")


def memory(pid: int) -> dict:
    """VmRSS and VmHWM (peak) of a process, in MiB."""
    out = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS", "VmHWM")):
                key, value = line.split(":")
                out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


def run(label: str, fetch, expected: int) -> dict:
    """Time one full collection; fetch() yields (bytes, items) per page."""
    started = time.perf_counter()
    pages = total_bytes = items = 0
    for size, count in fetch():
        pages += 1
        total_bytes += size
        items += count
    secs = time.perf_counter() - started
    assert items == expected, (label, items, expected)
    row = {"run": label, "devices": items, "pages": pages, "seconds": round(secs, 2),
           "pages_per_s": round(pages / secs, 1), "devices_per_s": round(items / secs),
           "MB_per_s": round(total_bytes / secs / 1e6, 1), "MB": round(total_bytes / 1e6, 1)}
    print(f"{label:34} {items:>7} devices {pages:>5} pages {secs:7.2f} s {row['pages_per_s']:7.1f} pages/s "
          f"{row['devices_per_s']:>7} dev/s {row['MB_per_s']:6.1f} MB/s", flush=True)
    return row


def intune(info, client: httpx.Client, select: str | None):
    i = info["intune"]
    tok = client.post(f"{i['base_url']}/{i['tenant_id']}/oauth2/v2.0/token",
                      data={"client_id": i["client_id"], "client_secret": i["client_secret"],
                            "scope": "https://graph.microsoft.com/.default", "grant_type": "client_credentials"}).json()
    headers = {"Authorization": "Bearer " + tok["access_token"]}
    url = f"{i['base_url']}/v1.0/deviceManagement/managedDevices" + (f"?$select={select}" if select else "")

    def fetch():
        nonlocal url
        while url:
            r = client.get(url, headers=headers)
            r.raise_for_status()
            body = r.json()
            yield len(r.content), len(body["value"])
            url = body.get("@odata.nextLink")
    return fetch


def offset_pager(client: httpx.Client, url: str, params: dict, limit: int, key: str, auth):
    def fetch():
        offset = 0
        while True:
            r = client.get(url, params={**params, "limit": limit, "offset": offset}, auth=auth)
            r.raise_for_status()
            body = r.json()
            yield len(r.content), len(body[key])
            offset += limit
            if not body.get("hasMore", offset < body.get("total", 0)):
                break
    return fetch


def batches(info, client: httpx.Client, count: int) -> dict:
    """Time `count` $batch requests of 20 single-device GETs ($select) over the first devices."""
    i = info["intune"]
    tok = client.post(f"{i['base_url']}/{i['tenant_id']}/oauth2/v2.0/token",
                      data={"client_id": i["client_id"], "client_secret": i["client_secret"],
                            "scope": "https://graph.microsoft.com/.default", "grant_type": "client_credentials"}).json()
    headers = {"Authorization": "Bearer " + tok["access_token"]}
    ids = [d["id"] for d in client.get(f"{i['base_url']}/v1.0/deviceManagement/managedDevices?$select=id",
                                       headers=headers).json()["value"]]
    started = time.perf_counter()
    for k in range(count):
        chunk = [ids[(k * 20 + j) % len(ids)] for j in range(20)]
        reqs = [{"id": str(j), "method": "GET", "url": f"/deviceManagement/managedDevices/{d}?$select={SELECT},iccid,udid"}
                for j, d in enumerate(chunk)]
        r = client.post(f"{i['base_url']}/v1.0/$batch", headers=headers, json={"requests": reqs})
        r.raise_for_status()
        assert len(r.json()["responses"]) == 20
    secs = time.perf_counter() - started
    row = {"run": "intune $batch (20 GETs $select)", "batches": count, "seconds": round(secs, 2),
           "batches_per_s": round(count / secs, 1), "ms_per_batch": round(secs / count * 1000, 2)}
    print(f"{row['run']:34} {count:>7} batches {secs:7.2f} s {row['batches_per_s']:7.1f} batches/s "
          f"{row['ms_per_batch']:6.2f} ms/batch", flush=True)
    return row


def build_only(module: str, n: int, pages: int = 10) -> list[dict]:
    """Build and serialise Intune pages in this process, no HTTP: the simulator's own cost per page."""
    import importlib
    sim_mod = importlib.import_module(module)
    dumps = importlib.import_module(module + ".web").dumps
    svc = sim_mod.Simulator(seed=1, intune=n, mobileiron=0, sdm=0).services["intune"]
    rows = []
    for label, select, first in (("no $select", None, n // 4), ("$select (16 props)", SELECT, n // 2)):
        started = time.perf_counter()
        size = 0
        for k in range(pages):            # devices no earlier request built (the profile cache is cold)
            query = {"$skiptoken": svc._token(min(first + k * 1000, max(0, n - 1000)), False)}
            if select:
                query["$select"] = select
            res = svc.list_devices(None, "v1.0", query)
            body = getattr(res, "raw", None)
            size += len(body if body is not None else dumps(res.body))
        secs = time.perf_counter() - started
        row = {"run": f"build intune page {label}, no HTTP", "pages": pages,
               "ms_per_page": round(secs / pages * 1000, 1), "MB": round(size / 1e6, 1)}
        print(f"{row['run']:34} {pages:>7} pages   {row['ms_per_page']:7.1f} ms/page", flush=True)
        rows.append(row)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--sim-module", default="mdmtui.sim", help="the simulator package to measure")
    parser.add_argument("--batches", type=int, default=500, help="$batch requests to time")
    args = parser.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(args.devices), args.sim_module], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        info = json.loads(proc.stdout.readline())
        idle = memory(proc.pid)
        print(f"simulator pid {proc.pid}: {args.devices} devices per MDM, idle RSS {idle['VmRSS']} MiB", flush=True)
        rows = []
        n = args.devices
        with httpx.Client(timeout=120) as client:
            rows.append(run("intune nextLink (1000/page)", intune(info, client, None), n))
            rows.append(run("intune nextLink $select (16 props)", intune(info, client, SELECT), n))
            m = info["mobileiron"]
            for limit in (200, 1000, 5000):
                rows.append(run(f"mobileiron limit={limit} (24 fields)", offset_pager(
                    client, m["base_url"] + "/api/v2/devices", {"adminDeviceSpaceId": 1, "fields": MI_FIELDS},
                    limit, "results", (m["user"], m["password"])), n))
            s = info["sdm"]
            rows.append(run("sdm limit=500", offset_pager(client, s["base_url"] + "/sdm/api/v1/devices", {}, 500,
                                                          "devices", (s["user"], s["password"])), n))
            rows.append(batches(info, client, args.batches))
        mem = memory(proc.pid)
        print(f"simulator memory: idle {idle['VmRSS']} MiB, now {mem['VmRSS']} MiB, peak (VmHWM) {mem['VmHWM']} MiB")
        rows += build_only(args.sim_module, n)
        if args.json:
            os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
            with open(args.json, "w") as fh:
                json.dump({"devices": n, "runs": rows, "memory_MiB": {"idle": idle["VmRSS"], **mem}}, fh, indent=2)
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
