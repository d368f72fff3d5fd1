"""Collection speed and memory: mdmtui against a floor script, in the same run, on loopback.

The simulator runs in its own process with N Intune and N MobileIron Core devices. Each measured
phase runs in a fresh subprocess of this script, which reports its wall time and its peak RSS
(VmHWM from /proc/self/status):

(a) **floor** — the least any collector must do, written plainly: httpx paging (Intune: v1.0
    ``managedDevices`` with the connector's ``$select``, 1000 per page, following ``@odata.nextLink``;
    MobileIron: v2 device search, 200 per page), the same per-device enrichment the connectors fetch
    for new devices (Intune: ``$batch`` of 20 single-device beta GETs for ICCID/UDID/Ethernet MAC/RAM;
    MobileIron: ``/details`` of every device), with the same concurrency (8 requests in flight),
    ``json`` parsing, and ``sqlite3.executemany`` of the same columns (raw wire values, no mapping)
    into one table, one transaction.
(b) **first** — ``mdmtui``'s first collection of each linkage into an empty SQLite inventory.
(c) **again** — the re-collection of the unchanged fleet: it must write no device row (checked).

What is measured: devices and their matrix items. Software is not collected in any phase (Intune's
detected apps are switched off, MobileIron software is not collected by mdmtui); it would add one
request per new device on both sides.

    .venv/bin/python bench/collect.py [--devices 100000] [--json bench/results/collect.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SERVER = r"""
import json, sys
from mdmtui.sim import BudgetLimits, Simulator
n, scale, speed = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
mdms = sys.argv[4].split(",") if len(sys.argv) > 4 else ["intune", "mobileiron"]
limits = BudgetLimits().scaled(scale) if scale else None
if limits is not None and speed != 1:   # --budget-speed: the same window, K times the tokens (K times the rate)
    limits = BudgetLimits(round(limits.app_limit * speed), round(limits.tenant_limit * speed), limits.window_s,
                          limits.without_retry_after)
# an MDM the run leaves out keeps one device (a simulator port still answers for it)
sim = Simulator(seed=7, intune=n if "intune" in mdms else 1, mobileiron=n if "mobileiron" in mdms else 1, sdm=1,
                budget=limits).start()
print(json.dumps({"intune": {"base_url": sim.intune.base_url, "tenant_id": sim.intune.tenant_id,
      "client_id": sim.intune.client_id, "client_secret": sim.intune.client_secret},
      "mobileiron": {"base_url": sim.mobileiron.base_url, "user": sim.mobileiron.user,
      "password": sim.mobileiron.password}}), flush=True)
sys.stdin.read()
sim.stop()
"""
CONCURRENCY = 8


def peak_rss_mib() -> float:
    """This process's peak resident set size (VmHWM), MiB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM"):
                return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


# ------------------------------------------------------------------------------------------ (a) floor


async def floor_intune(sim: dict, db: sqlite3.Connection) -> int:
    """Intune: list pages, $batch the quirk properties of every device, executemany the columns."""
    import httpx

    from mdmtui.connectors.intune import ENRICH_SELECT, LIST_SELECT

    i = sim["intune"]
    columns = list(LIST_SELECT) + [k for k in ENRICH_SELECT if k != "id"]
    _table(db, "intune", columns)
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=CONCURRENCY + 1)) as client:
        token = (await client.post(f"{i['base_url']}/{i['tenant_id']}/oauth2/v2.0/token", data={
            "client_id": i["client_id"], "client_secret": i["client_secret"],
            "scope": f"{i['base_url']}/.default", "grant_type": "client_credentials"})).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        url = f"{i['base_url']}/v1.0/deviceManagement/managedDevices"
        params: dict | None = {"$select": ",".join(LIST_SELECT), "$top": "1000"}
        count, sem = 0, asyncio.Semaphore(CONCURRENCY)
        while url:
            body = json.loads((await client.get(url, params=params, headers=headers)).content)
            items = body["value"]
            details = await _batches(client, i["base_url"], headers, [d["id"] for d in items], sem)
            rows = [[_flat(d.get(c)) for c in LIST_SELECT] + [_flat(details.get(d["id"], {}).get(k))
                                                               for k in ENRICH_SELECT if k != "id"] for d in items]
            db.executemany(f"INSERT INTO intune VALUES ({','.join('?' * len(columns))})", rows)
            count += len(items)
            url, params = body.get("@odata.nextLink"), None
    return count


async def _batches(client, base: str, headers: dict, ids: list[str], sem) -> dict[str, dict]:
    from mdmtui.connectors.intune import ENRICH_SELECT

    async def one(chunk: list[str]) -> list[dict]:
        reqs = [{"id": str(n), "method": "GET",
                 "url": f"/deviceManagement/managedDevices/{d}?$select={','.join(ENRICH_SELECT)}"}
                for n, d in enumerate(chunk)]
        async with sem:
            reply = await client.post(f"{base}/beta/$batch", json={"requests": reqs}, headers=headers)
        return [r["body"] for r in json.loads(reply.content)["responses"] if r.get("status") == 200]

    parts = await asyncio.gather(*(one(ids[n:n + 20]) for n in range(0, len(ids), 20)))
    return {b["id"]: b for part in parts for b in part}


async def floor_mobileiron(sim: dict, db: sqlite3.Connection) -> int:
    """MobileIron: search pages, /details of every device, executemany the columns."""
    import httpx

    from mdmtui.connectors.mobileiron import SEARCH_FIELDS

    m = sim["mobileiron"]
    columns = list(SEARCH_FIELDS) + ["PasscodePresent"]
    _table(db, "mobileiron", columns)
    auth = httpx.BasicAuth(m["user"], m["password"])
    async with httpx.AsyncClient(timeout=60, auth=auth, limits=httpx.Limits(max_connections=CONCURRENCY + 1)) as client:
        offset, count, sem = 0, 0, asyncio.Semaphore(CONCURRENCY)
        while True:
            reply = await client.get(f"{m['base_url']}/api/v2/devices", params={
                "adminDeviceSpaceId": 1, "query": "", "fields": ",".join(SEARCH_FIELDS), "limit": 200,
                "offset": offset, "sortField": "common.id", "sortOrder": "ASC"})
            body = json.loads(reply.content)
            rows = body["results"]

            async def details(uuid: str) -> dict:
                async with sem:
                    r = await client.get(f"{m['base_url']}/api/v2/devices/{uuid}/details",
                                         params={"adminDeviceSpaceId": 1})
                return {d["name"]: d["value"] for d in json.loads(r.content)["results"]}

            extra = await asyncio.gather(*(details(r["common.uuid"]) for r in rows))
            db.executemany(f"INSERT INTO mobileiron VALUES ({','.join('?' * len(columns))})",
                           [[_flat(r.get(c)) for c in SEARCH_FIELDS] + [_flat(e.get("PasscodePresent"))]
                            for r, e in zip(rows, extra)])
            count += len(rows)
            offset += len(rows)
            if not body.get("hasMore") or not rows:
                return count


def _table(db: sqlite3.Connection, name: str, columns: list[str]) -> None:
    db.execute(f"CREATE TABLE {name} ({', '.join(f'c{n}' for n in range(len(columns)))})")


def _flat(value):
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def phase_floor(sim: dict, workdir: Path) -> dict:
    db = sqlite3.connect(workdir / "floor.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=wal")
    db.execute("PRAGMA synchronous=normal")
    out = {}
    for name, fn in (("intune", floor_intune), ("mobileiron", floor_mobileiron)):
        started = time.perf_counter()
        db.execute("BEGIN")
        devices = asyncio.run(fn(sim, db))
        db.execute("COMMIT")
        out[name] = {"seconds": round(time.perf_counter() - started, 2), "devices": devices}
    out["peak_rss_mib"] = peak_rss_mib()
    return out


# ------------------------------------------------------------------------------------- (b), (c) mdmtui


def _context(workdir: Path, database: str | None = None):
    from mdmtui.config import Settings
    from mdmtui.services.context import open_context

    return open_context(Settings(data_dir=workdir / "data", config_dir=workdir / "config", database_url=database))


def _factory(config):
    from mdmtui.connectors.base import connector_for

    config.extra = {**config.extra, "collect_software": False}
    return connector_for(config)


def phase_mdmtui(sim: dict, workdir: Path, first: bool) -> dict:
    from mdmtui.storage.models import Device
    from mdmtui.services import collection, linkages

    ctx = _context(workdir)
    if first:
        i, m = sim["intune"], sim["mobileiron"]
        linkages.create(ctx, dict(name="intune", system="intune", server_url=i["base_url"], tenant_id=i["tenant_id"],
                                  client_id=i["client_id"], client_secret=i["client_secret"],
                                  authority_url=i["base_url"]))
        linkages.create(ctx, dict(name="mobileiron", system="mobileiron", server_url=m["base_url"], user=m["user"],
                                  password=m["password"]))
    out = {}
    for name in ("intune", "mobileiron"):
        started = time.perf_counter()
        since = Device.select(Device.last_collected_at).order_by(Device.last_collected_at.desc(nulls="LAST")).scalar()
        summary = asyncio.run(collection.collect(ctx, name, connector_factory=_factory))
        seconds = round(time.perf_counter() - started, 2)
        if summary.status != "succeeded":
            raise SystemExit(f"{name}: {summary.status}: {summary.reason}")
        written = Device.select().where(Device.linkage_name == name, Device.last_collected_at > since).count() \
            if since else summary.new
        out[name] = {"seconds": seconds, "devices": summary.devices_seen, "new": summary.new,
                     "changed": summary.changed, "unchanged": summary.unchanged, "device_rows_written": written}
    out["peak_rss_mib"] = peak_rss_mib()
    ctx.db.close()
    return out


# ------------------------------------------------------------------------------------------- driver


def run_phase(phase: str, sim: dict, workdir: Path) -> dict:
    """Run one phase in a fresh interpreter; its JSON answer."""
    proc = subprocess.run([sys.executable, __file__, "--phase", phase, "--workdir", str(workdir)],
                          input=json.dumps(sim), capture_output=True, text=True, cwd=ROOT)
    if proc.returncode:
        raise SystemExit(f"phase {phase} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def start_server(devices: int, budget_scale: float, speed: float = 1.0,
                 mdms: tuple[str, ...] = ("intune", "mobileiron")) -> tuple[subprocess.Popen, dict]:
    """The simulator in its own process (budget_scale 0: Intune unthrottled; speed: the budget's rate times
    that; `devices` for each of `mdms`, one for the other); its connection facts."""
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(devices), str(budget_scale), str(speed), ",".join(mdms)],
                              stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return server, json.loads(server.stdout.readline())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=100_000, help="devices per MDM (default 100000)")
    parser.add_argument("--json", metavar="FILE", help="also write the results here")
    parser.add_argument("--scenario", choices=("frozen", "daily"), default="frozen",
                        help="frozen: floor, first, again on an unchanging fleet (default); daily: first, a day of "
                             "the fleet's life (advance 24 h), the daily run, under Intune's budget (bench/daily.py)")
    parser.add_argument("--budget-scale", type=float, default=0.1, metavar="F",
                        help="daily: Intune's budget scaled by F (0.1 = 200 per 2 s, the real rate with a tenth of "
                             "the burst; default 0.1)")
    parser.add_argument("--budget-speed", type=float, default=1.0, metavar="K",
                        help="daily: Intune's budget rate times K (default 1: the real 100 units/s); for big fleets "
                             "whose first collection would otherwise wait out the budget for half an hour. Projected "
                             "minutes still use the real rate")
    parser.add_argument("--database", metavar="URL", help="daily: run mdmtui on this database (e.g. postgresql://…)")
    parser.add_argument("--against-sqlite", action="store_true",
                        help="daily, with --database: run the scenario on SQLite first, then on --database, each on "
                             "a fresh simulator, and report the ratio of each phase's wall time")
    parser.add_argument("--intune-route", choices=("auto", "list", "export", "both"), default="auto",
                        help="daily: Intune's collection route (auto: export from 5,000 devices in the inventory or in Intune's "
                             "device overview; "
                             "both: run the scenario twice, list then export, and report both)")
    parser.add_argument("--mdm", choices=("both", "intune", "mobileiron"), default="both",
                        help="daily: collect only this MDM (default both)")
    parser.add_argument("--phase", choices=("floor", "first", "again", "daily-first", "daily-daily", "daily-truth"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.against_sqlite and (not args.database or args.intune_route == "both"):
        parser.error("--against-sqlite needs --database URL and one Intune route")
    if args.phase:
        return run_phase_here(args)
    if args.scenario == "daily":
        from daily import main_daily
        return main_daily(args)
    server, sim = start_server(args.devices, 0)   # frozen: unthrottled, so the floor needs no retries
    try:
        with tempfile.TemporaryDirectory(prefix="mdmtui-bench-") as tmp:
            work = Path(tmp)
            results = {"devices_per_mdm": args.devices, "software": "not collected in any phase"}
            for phase in ("floor", "first", "again"):
                print(f"running {phase} ...", file=sys.stderr, flush=True)
                results[phase] = run_phase(phase, sim, work)
    finally:
        stop_server(server)
    report(results)
    save(results, args.json)
    return 0


def stop_server(server: subprocess.Popen) -> None:
    """End the simulator process (it stops when its stdin closes)."""
    server.stdin.close()
    server.wait(timeout=30)


def save(results: dict, path: str | None) -> None:
    """Write the figures as JSON when --json was given."""
    if path:
        Path(path).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


def run_phase_here(args) -> int:
    """A phase in this subprocess: its JSON answer on the last line of stdout."""
    sim = json.loads(sys.stdin.read())
    work = Path(args.workdir)
    if args.phase.startswith("daily-"):
        from daily import phase_daily
        result = phase_daily(args.phase, sim, work)
    elif args.phase == "floor":
        result = phase_floor(sim, work)
    else:
        result = phase_mdmtui(sim, work, args.phase == "first")
    print(json.dumps(result))
    return 0


def report(r: dict) -> None:
    """Times, ratios against the floor of the same run, rows written and peak memory."""
    print(f"{r['devices_per_mdm']:,} devices per MDM; software not collected")
    for mdm in ("intune", "mobileiron"):
        floor, first, again = r["floor"][mdm]["seconds"], r["first"][mdm]["seconds"], r["again"][mdm]["seconds"]
        r.setdefault("ratios", {})[mdm] = {"first_vs_floor": round(first / floor, 2),
                                           "again_vs_first": round(again / first, 2)}
        print(f"{mdm:>10}: floor {floor:7.1f} s | first {first:7.1f} s ({first / floor:.2f}x floor, target <= 2) | "
              f"again {again:6.1f} s ({again / first:.2f}x first, target <= 0.5), "
              f"device rows written again: {r['again'][mdm]['device_rows_written']}")
    print(f"peak RSS: floor {r['floor']['peak_rss_mib']} MiB, first {r['first']['peak_rss_mib']} MiB, "
          f"again {r['again']['peak_rss_mib']} MiB (target <= 300)")


if __name__ == "__main__":
    sys.exit(main())
