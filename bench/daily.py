"""`bench/collect.py --scenario daily`: a first collection, a day of the fleet's life, the daily run.

The simulator runs in its own process with N Intune and N MobileIron devices and Intune's budget
scaled by `--budget-scale` (0.1 = 200 units per 2 s: the real rate, a tenth of the burst) and sped up by
`--budget-speed K` (K times the rate, so a big fleet's run is bound by the CPU, not by the budget; the
projected minutes stay at the real rate). Phases run in fresh subprocesses, as in the frozen scenario:

1. **first** — mdmtui's first collection of both linkages (Intune with its detected apps);
2. the fleet lives 24 hours (`POST /_sim/advance`, the default rates);
3. **daily** — the daily run of both linkages;
4. **truth** — the inventory against the simulator's truth, device by device: every live device
   present and not missing, every departed one marked missing, and the listed items equal to what the
   MDM says now (identity, SIM, last alive confirmation, free storage; MobileIron's passcode state;
   every Intune device's software, name and version, against the simulator's app truth).

Per MDM and phase: wall time, HTTP requests answered, Intune request units (each `$batch` item one),
429s answered, and the projected minutes at the real budget (units / 100 per s, or the wall time if
longer). MobileIron has no published budget: its "units" are its requests. For Intune also: the budget's
floor for the units spent (units / the simulated rate) and the wall time against it, and the share of
request units asked for (each `$batch` item one) that were answered 429.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

import httpx

from collect import _context, run_phase, save, start_server, stop_server

REAL_RATE = 100.0          # Intune: 2,000 units per 20 s per app
COMPARED = ("serial_number", "imei", "phone_number", "iccid", "last_alive_at", "storage_free_bytes")


def phase_daily(phase: str, sim: dict, work: Path) -> dict:
    """One phase in this subprocess."""
    ctx = _context(work, sim.get("database"))
    ctx.settings.intune_route = sim.get("intune_route") or "auto"
    ctx.settings.intune_export_wait_s = 600
    try:
        if phase == "daily-truth":
            return {"truth": {mdm: truth_check(sim, mdm) for mdm in ("intune", "mobileiron")}}
        if phase == "daily-first":
            _linkages(ctx, sim)
        return {mdm: _collect(ctx, mdm) for mdm in ("intune", "mobileiron")}
    finally:
        ctx.db.close()


def _linkages(ctx, sim: dict) -> None:
    from mdmtui.services import linkages

    i, m = sim["intune"], sim["mobileiron"]
    linkages.create(ctx, dict(name="intune", system="intune", server_url=i["base_url"], tenant_id=i["tenant_id"],
                              client_id=i["client_id"], client_secret=i["client_secret"], authority_url=i["base_url"]))
    linkages.create(ctx, dict(name="mobileiron", system="mobileiron", server_url=m["base_url"], user=m["user"],
                              password=m["password"]))


def _collect(ctx, name: str) -> dict:
    from mdmtui.services import collection

    started = time.perf_counter()
    summary = asyncio.run(collection.collect(ctx, name))
    if summary.status != "succeeded":
        raise SystemExit(f"{name}: {summary.status}: {summary.reason}")
    return {"wall_s": round(time.perf_counter() - started, 2), "devices": summary.devices_seen, "new": summary.new,
            "changed": summary.changed, "unchanged": summary.unchanged, "missing": summary.missing,
            "warnings": summary.reason}


def truth_check(sim: dict, mdm: str) -> dict:
    """Stored inventory vs the simulator's truth: counts of devices and of differing items. The truth
    comes in one streamed request per MDM (``/_sim/devices?full=1``, and ``/_sim/apps`` for software),
    compared in one pass."""
    from mdmtui.storage.models import Device

    base = sim[mdm]["base_url"]
    started = time.perf_counter()
    software = _software_check(base, mdm) if mdm == "intune" else {}
    key = "common.uuid" if mdm == "mobileiron" else "id"
    stored = {d.mdm_device_id: d for d in Device.select().where(Device.linkage_name == mdm)}
    live: set[str] = set()
    out: dict = {"devices": 0, "absent": 0, "missing_but_live": 0, "differences": {}}
    for wire in _stream(base + "/_sim/devices?full=1"):
        ident = wire[key]
        live.add(ident)
        row = stored.get(ident)
        if row is None:
            out["absent"] += 1
            continue
        out["missing_but_live"] += row.missing_since is not None
        _compare(mdm, wire, row, out["differences"])
    out["devices"] = len(live)
    out["departed_not_missing"] = sum(1 for i, d in stored.items() if i not in live and d.missing_since is None)
    out.update(software)
    out["equal"] = not (out["absent"] or out["missing_but_live"] or out["departed_not_missing"] or out["differences"]
                        or out.get("software_differs"))
    out["check_s"] = round(time.perf_counter() - started, 1)
    return out


def _stream(url: str):
    """The JSON objects of an NDJSON answer, one by one."""
    with httpx.stream("GET", url, timeout=600) as reply:
        reply.raise_for_status()
        for line in reply.iter_lines():
            if line:
                yield json.loads(line)


def _apps_key(apps) -> bytes:
    """A digest of a device's (name, version) list, order-free: the software compared without holding
    every device's list in memory."""
    return hashlib.blake2b(repr(sorted(apps)).encode(), digest_size=16).digest()


def _software_check(base: str, mdm: str) -> dict:
    """Every live device's stored software (name, version) against the simulator's app truth: the truth
    streamed once (a digest per device), the database streamed device by device."""
    import itertools

    from mdmtui.storage.models import Device, Software

    truth = {d["id"]: _apps_key((a["name"], a["version"]) for a in d["apps"]) for d in _stream(base + "/_sim/apps")}
    empty = _apps_key([])
    rows = (Software.select(Device.mdm_device_id, Software.name, Software.version).join(Device)
            .where(Device.linkage_name == mdm).order_by(Device.mdm_device_id).tuples().iterator())
    differs = items = 0
    seen: set[str] = set()
    for ident, group in itertools.groupby(rows, key=lambda r: r[0]):
        stored = [(name, version or "") for _, name, version in group]
        items += len(stored)
        if ident in truth:
            seen.add(ident)
            differs += _apps_key(stored) != truth[ident]
    differs += sum(1 for ident, digest in truth.items() if ident not in seen and digest != empty)
    return {"software_items": items, "software_differs": differs}


def _compare(mdm: str, wire: dict, row, differences: dict) -> None:
    from mdmtui import mapping
    from mdmtui.records import OsClass, System

    if mdm == "mobileiron":
        wire = {**wire, **{d["name"]: d["value"] for d in wire.get("details", [])}}
        record = mapping.map_device(System.MOBILEIRON, OsClass.M, wire, mdm_device_id=row.mdm_device_id)
        fields = COMPARED + ("passcode_set",)
    else:
        os_class = mapping.intune_os_class(wire.get("operatingSystem"))
        record = mapping.map_device(System.INTUNE, os_class, wire, mdm_device_id=row.mdm_device_id)
        fields = COMPARED
    for name in fields:
        if getattr(record, name) != getattr(row, name):
            differences[name] = differences.get(name, 0) + 1


def _meter(sim: dict, reset: bool = False) -> dict:
    url = sim["intune"]["base_url"] + "/_sim/budget"
    if reset:
        httpx.delete(url, timeout=30)
        return {}
    return httpx.get(url, timeout=30).json()


def _figures(phase: dict, meter: dict) -> dict:
    out = {}
    for mdm in ("intune", "mobileiron"):
        wall = phase[mdm]["wall_s"]
        units = meter[mdm].get("units", meter[mdm]["requests"])
        projected = max(units / REAL_RATE, wall) / 60 if mdm == "intune" else wall / 60
        requests, throttled = meter[mdm]["requests"], meter[mdm].get("throttled", 0)
        out[mdm] = {"requests": requests, "units": units, "throttled": throttled, "wall_s": wall,
                    "projected_min": round(projected, 2), **phase[mdm]}
        limits = meter[mdm].get("limits")
        if limits:
            floor = units / (limits["app_limit"] / limits["window_s"])
            out[mdm].update(budget_floor_s=round(floor, 1), wall_vs_budget=round(wall / floor, 2) if floor else None,
                            # of the request units asked for (carried out + refused), the share answered 429
                            throttled_pct=round(100 * throttled / (units + throttled), 2) if units + throttled else 0.0)
    return out


def main_daily(args) -> int:
    """The daily scenario's driver; with ``--intune-route both`` once per route on fresh simulators,
    reported side by side (the list route's figures under ``by_route``)."""
    if args.intune_route != "both":
        return _one_daily(args, args.intune_route)
    runs = {}
    for route in ("list", "export"):
        print(f"=== Intune route: {route}", file=sys.stderr, flush=True)
        runs[route] = _one_daily(args, route, save_to=None)
    results = {**runs["export"], "by_route": {r: {"intune": v["intune"], "truth": v["truth"]["intune"]}
                                              for r, v in runs.items()}}
    lst, exp = runs["list"]["intune"]["daily"]["units"], runs["export"]["intune"]["daily"]["units"]
    results["intune_daily_units_export_vs_list"] = round(exp / lst, 3) if lst else None
    print(f"Intune daily units: list {lst:,}, export {exp:,} ({results['intune_daily_units_export_vs_list']}x)")
    save(results, args.json)
    return 0


def _one_daily(args, route: str, save_to: str | None | bool = False) -> dict | int:
    """One daily scenario (first, a day, the daily run, the truth check) with one Intune route."""
    server, sim = start_server(args.devices, args.budget_scale, args.budget_speed)
    sim["database"] = args.database
    sim["intune_route"] = route
    results: dict = {"devices_per_mdm": args.devices, "budget_scale": args.budget_scale,
                     "budget_speed": args.budget_speed, "intune_route": route,
                     "database": "postgresql" if args.database else "sqlite", "intune": {}, "mobileiron": {}}
    try:
        with tempfile.TemporaryDirectory(prefix="mdmtui-daily-") as tmp:
            work = Path(tmp)
            for phase in ("first", "daily"):
                if phase == "daily":
                    print("advancing the fleet 24 h ...", file=sys.stderr, flush=True)
                    results["advance"] = {mdm: httpx.post(sim[mdm]["base_url"] + "/_sim/advance",
                                                          json={"hours": 24}, timeout=300).json()
                                          for mdm in ("intune", "mobileiron")}
                print(f"running {phase} ...", file=sys.stderr, flush=True)
                _meter(sim, reset=True)
                figures = _figures(run_phase(f"daily-{phase}", sim, work), _meter(sim))
                for mdm in ("intune", "mobileiron"):
                    results[mdm][phase] = figures[mdm]
                if save_to is not None:      # what is measured so far, should a later phase fail
                    save(results, args.json)
            print("checking the inventory against the simulator ...", file=sys.stderr, flush=True)
            results["truth"] = run_phase("daily-truth", sim, work)["truth"]
    finally:
        stop_server(server)
    report_daily(results)
    if save_to is None:
        return results
    save(results, args.json)
    return 0


def report_daily(r: dict) -> None:
    """The figures, with the targets of issue 12 beside them."""
    print(f"{r['devices_per_mdm']:,} devices per MDM, Intune budget x{r['budget_scale']} (rate x"
          f"{r.get('budget_speed', 1)}), {r['database']}, "
          f"Intune route {r.get('intune_route', 'auto')}")
    for mdm in ("intune", "mobileiron"):
        for phase in ("first", "daily"):
            f = r[mdm][phase]
            print(f"{mdm:>10} {phase:>5}: {f['requests']:7,} requests, {f['units']:7,} units, {f['throttled']:5,} "
                  f"429s, {f['wall_s']:7.1f} s, projected {f['projected_min']:.1f} min at the real budget")
    for mdm, t in r["truth"].items():
        print(f"{mdm:>10} truth: {'equal' if t['equal'] else 'DIFFERENT'} ({t})")
