"""`bench/collect.py --scenario daily`: a first collection, a day of the fleet's life, the daily run.

The simulator runs in its own process with N Intune and N MobileIron devices and Intune's budget
scaled by `--budget-scale` (0.1 = 200 units per 2 s: the real rate, a tenth of the burst) and sped up by
`--budget-speed K` (K times the rate, so a big fleet's run is bound by the CPU, not by the budget; the
projected minutes stay at the real rate). Phases run in fresh subprocesses, as in the frozen scenario:

1. **first** — mdmtui's first collection of both linkages (Intune with its detected apps);
2. the fleet lives until 24 hours after the first run's listing started (`POST /_sim/advance`, the
   default rates): the daily run starts a day after the first, as a daily schedule's would;
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

Each run also reports its requests by kind (the simulator's meter: route names, MobileIron's search split
into the listing, uuid status checks and other queries), a timeline (until the first page was staged,
the pages, after the last page: the re-check and the apply, with the collector's CPU time of each), and
for MobileIron's daily run the issue's formula next to an accounting of every request (`mi_formula`).
`--mdm intune|mobileiron` runs one MDM only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import sys
import tempfile
import time
import uuid
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
            return {"truth": {mdm: truth_check(sim, mdm) for mdm in sim["mdms"]}}
        if phase == "daily-first":
            _linkages(ctx, sim)
        return {mdm: _collect(ctx, mdm) for mdm in sim["mdms"]}
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

    from mdmtui.storage import runs

    started, cpu0 = time.perf_counter(), time.process_time()
    pages: list[float] = []     # when each page was staged: the run's timeline (before, during, after the fetch)
    cpu: list[float] = []       # and this process's CPU time then (all threads): what the machine's load hides
    summary = asyncio.run(collection.collect(ctx, name, progress=lambda p: (pages.append(time.perf_counter()),
                                                                            cpu.append(time.process_time()))))
    if summary.status != "succeeded":
        raise SystemExit(f"{name}: {summary.status}: {summary.reason}")
    ended = time.perf_counter()
    wall = round(ended - started, 2)
    # until the first page was staged (token, route choice, export jobs, their files, the first page's
    # enrichment), from it to the last page, and after it (the re-check of absent devices and the apply)
    timeline = {"to_first_page_s": round(pages[0] - started, 1), "pages_s": round(pages[-1] - pages[0], 1),
                "after_last_page_s": round(ended - pages[-1], 1),
                "cpu_s": [round(cpu[0] - cpu0, 1), round(cpu[-1] - cpu[0], 1), round(time.process_time() - cpu[-1], 1)]
                } if pages else {}
    linkage = runs.linkage_named(name)
    listed_at = runs.last_mdm_start(linkage.id) if linkage is not None else None
    return {"wall_s": wall, "devices": summary.devices_seen, "new": summary.new,
            "changed": summary.changed, "unchanged": summary.unchanged, "missing": summary.missing,
            "warnings": summary.reason, "listed_at": listed_at.timestamp() if listed_at else None,
            "timeline": timeline}


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


def _figures(phase: dict, meter: dict, mdms) -> dict:
    out = {}
    for mdm in mdms:
        wall = phase[mdm]["wall_s"]
        units = meter[mdm].get("units", meter[mdm]["requests"])
        projected = max(units / REAL_RATE, wall) / 60 if mdm == "intune" else wall / 60
        requests, throttled = meter[mdm]["requests"], meter[mdm].get("throttled", 0)
        out[mdm] = {"requests": requests, "units": units, "throttled": throttled, "wall_s": wall,
                    "projected_min": round(projected, 2), "by_kind": meter[mdm].get("by_kind", {}), **phase[mdm]}
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
    if args.against_sqlite:
        return _against_sqlite(args)
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


def _against_sqlite(args) -> int:
    """The scenario on SQLite, then on ``--database``, in one benchmark run: each phase's wall time on the
    database against SQLite's (issue 12: the first collection at most 1.3x)."""
    runs = {}
    for label, url in (("sqlite", None), ("database", args.database)):
        print(f"=== database: {'SQLite' if url is None else url}", file=sys.stderr, flush=True)
        runs[label] = _one_daily(argparse.Namespace(**{**vars(args), "database": url}), args.intune_route,
                                 save_to=None)
    results = {**runs["database"], "sqlite": {m: runs["sqlite"][m] for m in runs["sqlite"]["mdms"]},
               "sqlite_truth": runs["sqlite"]["truth"], "vs_sqlite": {}}
    for mdm in runs["sqlite"]["mdms"]:
        for phase in ("first", "daily"):
            base, other = runs["sqlite"][mdm][phase]["wall_s"], runs["database"][mdm][phase]["wall_s"]
            ratio = round(other / base, 2) if base else None
            results["vs_sqlite"][f"{mdm}_{phase}"] = ratio
            print(f"{mdm:>10} {phase:5}: SQLite {base:8.1f} s, {results['database']} {other:8.1f} s = {ratio}x"
                  + ("  (target <= 1.3)" if phase == "first" else ""))
    save(results, args.json)
    return 0


def day_left(first: dict) -> float:
    """The hours the fleet lives before the daily run: what is left of the 24 h since the first run's
    listing started on the MDM's clock (the simulator's clock is this machine's until the first advance).
    A daily schedule starts its runs 24 h apart, so the MDM's clock moves 24 h between the two listings,
    not 24 h plus however long the first collection took (at 100,000 devices that was minutes, and the
    rolling refresh would tick for those minutes' share of the fleet on top of a day's)."""
    started = first.get("listed_at")
    elapsed = max(0.0, time.time() - started) if started else 0.0
    return max(1.0, 24 - elapsed / 3600)


def _one_daily(args, route: str, save_to: str | None | bool = False) -> dict | int:
    """One daily scenario (first, a day, the daily run, the truth check) with one Intune route."""
    mdms = ("intune", "mobileiron") if args.mdm == "both" else (args.mdm,)
    with fresh_schema(args.database) as database:
        return _one_daily_on(args, route, save_to, mdms, database)


@contextlib.contextmanager
def fresh_schema(url: str | None):
    """A PostgreSQL URL as a private, empty schema of that database for one run (dropped after it): the
    first collection is a first whatever the database already holds, and nothing of it is touched."""
    if not url or not url.startswith(("postgres://", "postgresql://")):
        yield url
        return
    import psycopg2

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with contextlib.closing(psycopg2.connect(url)) as conn:
        conn.autocommit = True
        conn.cursor().execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with contextlib.closing(psycopg2.connect(url)) as conn:
            conn.autocommit = True
            conn.cursor().execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _one_daily_on(args, route: str, save_to: str | None | bool, mdms: tuple, database: str | None) -> dict | int:
    server, sim = start_server(args.devices, args.budget_scale, args.budget_speed, mdms)
    sim["database"] = database
    sim["intune_route"] = route
    sim["mdms"] = list(mdms)
    results: dict = {"devices_per_mdm": args.devices, "budget_scale": args.budget_scale,
                     "budget_speed": args.budget_speed, "intune_route": route, "mdms": list(mdms),
                     "database": "postgresql" if args.database else "sqlite", **{m: {} for m in mdms}}
    before: dict[str, bytes] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="mdmtui-daily-") as tmp:
            work = Path(tmp)
            for phase in ("first", "daily"):
                if phase == "daily":
                    if "mobileiron" in mdms:
                        before, stored = mi_listed_state(sim), mi_stored_markers(sim, work)
                    print("advancing the fleet to a day after the first run's start ...", file=sys.stderr, flush=True)
                    results["advance"] = {mdm: httpx.post(sim[mdm]["base_url"] + "/_sim/advance",
                                                          json={"hours": day_left(results[mdm]["first"])},
                                                          timeout=300).json()
                                          for mdm in mdms}
                print(f"running {phase} ...", file=sys.stderr, flush=True)
                _meter(sim, reset=True)
                figures = _figures(run_phase(f"daily-{phase}", sim, work), _meter(sim), mdms)
                for mdm in mdms:
                    results[mdm][phase] = figures[mdm]
                if phase == "daily" and "mobileiron" in mdms:
                    results["mobileiron"]["daily"]["formula"] = mi_formula(
                        before, mi_listed_state(sim), results["mobileiron"], results["advance"]["mobileiron"],
                        (stored, mi_stored_markers(sim, work)))
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
    for mdm in r.get("mdms", ("intune", "mobileiron")):
        for phase in ("first", "daily"):
            f = r[mdm][phase]
            print(f"{mdm:>10} {phase:>5}: {f['requests']:7,} requests, {f['units']:7,} units, {f['throttled']:5,} "
                  f"429s, {f['wall_s']:7.1f} s, projected {f['projected_min']:.1f} min at the real budget")
            print(f"{'':>17}by kind: {', '.join(f'{k} {v:,}' for k, v in f.get('by_kind', {}).items())}; "
                  f"timeline {f.get('timeline')}")
            if "budget_floor_s" in f:
                print(f"{'':>17}budget floor {f['budget_floor_s']:.1f} s, wall {f['wall_vs_budget']}x the floor "
                      f"(target <= 1.2), {f['throttled_pct']} % of units answered 429 (target <= 2)")
    formula = r.get("mobileiron", {}).get("daily", {}).get("formula")
    if formula:
        report_formula(formula)
    for mdm, t in r["truth"].items():
        print(f"{mdm:>10} truth: {'equal' if t['equal'] else 'DIFFERENT'} ({t})")


# ------------------------------------------------------------------ MobileIron: the daily run's requests, accounted


def mi_listed_state(sim: dict) -> dict[str, bytes]:
    """Per MobileIron device, a digest of each search field the connector's change marker reads (churn.py:
    every listed field but the check-in churn), from the simulator's truth: which devices a day changed,
    and in which fields, without holding the fleet's rows."""
    import struct
    import zlib

    from mdmtui.connectors.churn import CHURN_KEYS
    from mdmtui.connectors.mobileiron import SEARCH_FIELDS

    stable = [k for k in SEARCH_FIELDS if k not in CHURN_KEYS]
    out = {}
    for wire in _stream(sim["mobileiron"]["base_url"] + "/_sim/devices?full=1"):
        # the search answers "" for a field the device lacks (sim/mobileiron.py)
        out[wire["common.uuid"]] = struct.pack(f"{len(stable)}I", *(
            zlib.crc32(str(wire.get(k, "")).encode("utf-8", "surrogatepass")) for k in stable))
    return out


def mi_stored_markers(sim: dict, work: Path) -> dict[str, str | None]:
    """The MobileIron devices' change markers as the inventory holds them (uuid -> marker): their slots
    and period numbers are the rolling refresh's state (churn.py). Read between the phases, in this
    process (no collection runs then)."""
    from mdmtui.storage.models import Device

    ctx = _context(work, sim.get("database"))
    try:
        query = Device.select(Device.mdm_device_id, Device.change_marker).where(Device.linkage_name == "mobileiron")
        return dict(query.tuples())
    finally:
        ctx.db.close()


def mi_formula(before: dict[str, bytes], after: dict[str, bytes], figures: dict, day: dict,
               stored: tuple[dict[str, str | None], dict[str, str | None]]) -> dict:
    """The daily run's MobileIron requests as the connector should need them, term by term, next to the
    issue's target (pages + new + changed + a seventh of the fleet) and the requests measured by kind.

    - pages: the search pages of one listing (200 devices each);
    - new: ids the first run did not see (enrolled, and re-enrolled hardware under its new id);
    - changed: devices seen by both runs whose marker fields moved in the simulator's truth (the SIM
      changes Core lists: an Android device's ICCID is not a search field, so its ICCID-only change is
      not among them);
    - rolling: the others whose rolling refresh was due, as the stored markers say (churn.py): the
      period number of the marker stored by the first run against the one the daily run stored (a
      marker the daily run left empty: its details were asked for and not read). Each device's phase
      comes from its slot (a Weyl sequence, the slots numbered in listing order), so the devices whose
      slot ticked between the two listings' starts (``rolling_by_slots``, from the first run's slots)
      are the fleet times that time over the period give or take a handful (``rolling_if_even``), with
      exactly one refresh per device per period; the two listings start 24 h apart on the MDM's clock
      (``day_left``: as a daily schedule's runs), give or take the seconds from the advance to the
      daily listing's start, so that share is a seventh;
    - departed: stored devices the listing no longer shows, each asked for by its uuid before it is
      marked missing (one search each: Core's query has no OR, and a listing that changed while it was
      read can skip a live device, so absence from it proves nothing);
    - setup: the admin's device space (one request a run).

    The target's "changed" counts every device that changed in the fleet: the ones whose marker fields
    moved and the departed ones (a device that left is a change too, and its uuid check is its cost);
    the day's own SIM change count (``day_sim_changes``) is shown beside it."""
    import math
    import struct

    from mdmtui.connectors import churn
    from mdmtui.connectors.churn import CHURN_KEYS, DEFAULT_REFRESH_DAYS
    from mdmtui.connectors.mobileiron import PAGE_SIZE, SEARCH_FIELDS

    stable = [k for k in SEARCH_FIELDS if k not in CHURN_KEYS]
    t0, t1 = figures["first"].get("listed_at"), figures["daily"].get("listed_at")
    new = [i for i in after if i not in before]
    departed = [i for i in before if i not in after]
    changed: list[str] = []
    moved_fields: dict[str, int] = {}
    for ident, digest in after.items():
        old = before.get(ident)
        if old is None or old == digest:
            continue
        changed.append(ident)
        for k, a, b in zip(stable, struct.iter_unpack("I", old), struct.iter_unpack("I", digest)):
            if a != b:
                moved_fields[k] = moved_fields.get(k, 0) + 1
    moved = set(changed)
    kept = [i for i in after if i in before and i not in moved]
    first, daily = stored
    rolling = sum(1 for i in kept if daily.get(i) is None or churn.due(first.get(i), daily[i]).refresh)
    slots = {i: s.slot for i in kept if (s := churn.parse(first.get(i))) is not None and s.slot is not None}
    by_slots = (sum(1 for s in slots.values() if churn.period_number(s, t0, DEFAULT_REFRESH_DAYS)
                    != churn.period_number(s, t1, DEFAULT_REFRESH_DAYS)) if t0 is not None and t1 is not None else None)
    pages = math.ceil(len(after) / PAGE_SIZE)
    seventh = len(after) / DEFAULT_REFRESH_DAYS
    expected_details = len(new) + len(changed) + rolling
    expected = {"devices": pages, "details": expected_details, "devices:uuid": len(departed), "device_spaces": 1}
    measured = figures["daily"].get("by_kind", {})
    return {
        "target": {"pages": pages, "new": day.get("enrolled", 0) + day.get("reenrolled", 0),
                   "changed": len(changed) + len(departed), "changed_listed": len(changed),
                   "departed": len(departed), "day_sim_changes": day.get("sim_swaps", 0) + day.get("iccid_only", 0),
                   "fleet_seventh": round(seventh),
                   "total": round(pages + day.get("enrolled", 0) + day.get("reenrolled", 0) + len(changed)
                                  + len(departed) + seventh)},
        "accounted": {"pages": pages, "setup": 1, "new": len(new), "changed": len(changed),
                      "changed_fields": dict(sorted(moved_fields.items())), "rolling": rolling,
                      "rolling_by_slots": by_slots, "slotless": len(kept) - len(slots),
                      "hours_between_listings": round((t1 - t0) / 3600, 3) if t0 and t1 else None,
                      # what a perfectly even spread would refresh over that time
                      "rolling_if_even": round(len(after) * (t1 - t0) / (DEFAULT_REFRESH_DAYS * 86_400))
                      if t0 and t1 else None,
                      "departed_uuid_checks": len(departed),
                      "total": pages + 1 + expected_details + len(departed)},
        "by_kind_expected": expected, "by_kind_measured": measured,
        "unexplained": {k: measured.get(k, 0) - expected.get(k, 0)
                        for k in sorted(set(expected) | set(measured)) if measured.get(k, 0) != expected.get(k, 0)},
        "measured_total": figures["daily"]["requests"],
    }


def report_formula(f: dict) -> None:
    """The MobileIron daily run's requests, term by term."""
    t, a = f["target"], f["accounted"]
    verdict = "within" if f["measured_total"] <= t["total"] else "OVER"
    print(f"mobileiron daily: {f['measured_total']:,} requests, {verdict} the issue's target {t['total']:,} = "
          f"{t['pages']:,} pages + {t['new']:,} new + {t['changed']:,} changed ({t['changed_listed']:,} whose listed "
          f"marker fields moved + {t['departed']:,} departed: a device that left is a change in the fleet; the "
          f"day's SIM changes {t['day_sim_changes']:,}) + {t['fleet_seventh']:,} (fleet / 7)")
    print(f"{'':>17}accounted {a['total']:,} = {a['pages']:,} pages + {a['setup']} device space + {a['new']:,} new + "
          f"{a['changed']:,} changed ({a['changed_fields']}) + {a['rolling']:,} rolling refresh (stored markers; "
          f"{a['rolling_by_slots']} slots ticked in the {a['hours_between_listings']} h between the two listings' "
          f"starts, {a['rolling_if_even']} if spread exactly evenly) + {a['departed_uuid_checks']:,} departed "
          "devices' uuid checks")
    print(f"{'':>17}expected by kind {f['by_kind_expected']}, measured {f['by_kind_measured']}, "
          f"unexplained {f['unexplained'] or 'none'}")
