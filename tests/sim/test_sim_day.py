"""The living fleet: advance(hours) moves the fleets like a real day, deterministically."""

from __future__ import annotations

import argparse
import threading
import time

import httpx
import pytest

from conftest import graph_token
from mdmtui.sim import Simulator
from mdmtui.sim.cli import _serve, add_sim_parser, parse_rates
from mdmtui.sim.day import DayRates

DEV = "/v1.0/deviceManagement/managedDevices"


def _snapshot(sim: Simulator, mdm: str) -> dict[str, dict]:
    return {ident: sim.truth(mdm, ident) for ident in sim.device_ids(mdm)}


def test_a_day_moves_most_sync_times_and_storage_and_little_else():
    with Simulator(seed=5, intune=400, mobileiron=10, sdm=10) as sim:
        before = _snapshot(sim, "intune")
        report = sim.admin.advance(24, mdm="intune")["intune"]
        after = _snapshot(sim, "intune")
    kept = before.keys() & after.keys()
    moved = [i for i in kept if after[i]["lastSyncDateTime"] != before[i]["lastSyncDateTime"]]
    drifted = [i for i in kept if after[i]["freeStorageSpaceInBytes"] != before[i]["freeStorageSpaceInBytes"]]
    assert 0.75 * len(kept) < len(moved) == report["checked_in"] - report["reenrolled"]
    assert len(drifted) > 0.6 * len(kept)
    assert all(after[i]["lastSyncDateTime"] > before[i]["lastSyncDateTime"] for i in moved)
    # identity never moves at a check-in
    assert all(after[i]["serialNumber"] == before[i]["serialNumber"] and after[i]["imei"] == before[i]["imei"]
               for i in kept)
    swapped = [i for i in kept if after[i]["iccid"] != before[i]["iccid"]]
    assert len(swapped) == report["sim_swaps"] + report["iccid_only"] < 0.05 * len(kept)


def test_advance_is_deterministic_and_moves_the_clock():
    outs, epoch = [], int(time.time()) + 30 * 86400     # a fleet epoch ahead of the wall clock pins the clock
    for _ in range(2):
        sim = Simulator(seed=9, intune=10, mobileiron=300, sdm=10, now=epoch)
        clock0 = sim.fleets["mobileiron"].clock()
        report = sim.admin.advance(48, mdm="mobileiron")["mobileiron"]
        assert sim.fleets["mobileiron"].clock() - clock0 == 48 * 3600
        outs.append((report, _snapshot(sim, "mobileiron")))
    assert outs[0] == outs[1] and outs[0][0]["checked_in"] > 200


def test_sim_swaps_and_iccid_only_changes_as_the_rates_say():
    rates = DayRates(checkin=1, stale_checkin=1, sim_swap=1, iccid_only=0.5, apps=0, enrol=0, leave=0, reenrol=0)
    with Simulator(seed=3, intune=10, mobileiron=10, sdm=200) as sim:
        before = _snapshot(sim, "sdm")
        report = sim.admin.advance(24, mdm="sdm", rates=rates)["sdm"]
        after = _snapshot(sim, "sdm")
    cellular = [i for i, d in before.items() if d["iccid"]]
    only = [i for i in cellular if after[i]["iccid"] != before[i]["iccid"]
            and (after[i]["phoneNumber"], after[i]["imsi"]) == (before[i]["phoneNumber"], before[i]["imsi"])]
    full = [i for i in cellular if after[i]["imsi"] != before[i]["imsi"] and after[i]["iccid"] != before[i]["iccid"]]
    assert len(only) == report["iccid_only"] and len(full) == report["sim_swaps"]
    assert len(only) + len(full) == len(cellular) and only and full
    assert all(after[i]["imei"] == before[i]["imei"] for i in cellular)
    assert all(after[i]["iccid"][:6] == before[i]["iccid"][:6] for i in only)    # same issuer


def test_enrolments_departures_and_apps():
    rates = DayRates(enrol=0.05, leave=0.05, reenrol=0.02, apps=1, checkin=1)
    with Simulator(seed=4, intune=200, mobileiron=10, sdm=10) as sim:
        fleet = sim.fleets["intune"]
        ids0, apps0 = set(sim.device_ids("intune")), {s: fleet.apps(s) for s in fleet.live_slots()}
        members0 = fleet.membership
        report = sim.admin.advance(24, mdm="intune", rates=rates)["intune"]
        ids1 = set(sim.device_ids("intune"))
        assert len(ids1 - ids0) == report["enrolled"] + report["reenrolled"] == 10 + 4
        assert len(ids0 - ids1) == report["left"] + report["reenrolled"] == 10 + 4
        changed = [s for s in apps0 if fleet.exists(s) and fleet.apps(s) != apps0[s]]
        assert len(changed) >= 0.9 * report["apps_changed"] > 100 and fleet.membership > members0
        # an app update keeps the app and changes only its version
        updated = [s for s in changed if {i for i, _ in fleet.apps(s)} == {i for i, _ in apps0[s]}]
        assert updated
        new = next(iter(ids1 - ids0))
        assert sim.truth("intune", new)["lastSyncDateTime"] >= sim.truth("intune", new)["enrolledDateTime"]


def test_a_day_of_check_ins_shows_in_the_incremental_listing(client):
    with Simulator(seed=6, intune=300, mobileiron=5, sdm=5) as sim:
        headers = {"Authorization": "Bearer " + graph_token(sim, client)}
        cut = sim.fleets["intune"].clock()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(cut))
        url = f"{sim.intune.base_url}{DEV}?$filter=lastSyncDateTime gt {stamp}&$select=id"
        assert client.get(url, headers=headers).json()["value"] == []
        sim.admin.advance(24, mdm="intune")
        seen = {d["id"] for d in client.get(url, headers=headers).json()["value"]}
        fleet = sim.fleets["intune"]
        assert seen == {fleet.id_of(s) for s in fleet.live_slots() if (fleet.last_sync(s) or 0) > cut}
        assert len(seen) > 0.8 * fleet.count()


def test_advance_over_http_and_bad_input():
    with Simulator(seed=2, intune=5, mobileiron=50, sdm=5) as sim:
        base = sim.mobileiron.base_url
        r = httpx.post(base + "/_sim/advance", json={"hours": 12, "rates": {"checkin": 1}})
        assert r.status_code == 200 and r.json()["checked_in"] >= 45 and r.json()["hours"] == 12
        assert sim.fleets["intune"].offset == 0 and sim.fleets["mobileiron"].offset == 12 * 3600
        assert httpx.post(base + "/_sim/advance", json={"rates": {"checkins": 1}}).status_code == 400
        assert httpx.post(base + "/_sim/advance", json={"rates": {"checkin": 2}}).status_code == 400
        assert httpx.post(base + "/_sim/advance", json={"hours": "x"}).status_code == 400
        assert httpx.post(base + "/_sim/advance", json={"hours": 0}).status_code == 400
        assert httpx.post(base + "/_sim/advance", content=b"[1]").status_code == 400


def test_check_ins_keep_the_fast_path():
    with Simulator(seed=8, intune=50, mobileiron=5, sdm=5) as sim:
        fleet = sim.fleets["intune"]
        sim.admin.advance(24, mdm="intune", rates=DayRates(checkin=1, sim_swap=0, apps=0, enrol=0, leave=0,
                                                         reenrol=0))
        checked = [s for s in fleet.live_slots() if s in fleet.checkins]
        assert checked and all(fleet.pristine(s) is not None and s not in fleet.overlay for s in checked)
        assert all(fleet.pristine(s)["last_sync"] == fleet.profile(s)["last_sync"] == fleet.last_sync(s)
                   for s in checked)


def test_cli_rates_and_the_day_loop():
    parser = argparse.ArgumentParser()
    add_sim_parser(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(["sim", "--day-every", "0.05", "--day-rates", "checkin=0.5, sim_swap=0.01"])
    assert args.day_every == 0.05 and parse_rates(args.day_rates) == DayRates(checkin=0.5, sim_swap=0.01)
    for bad in ("checkin", "checkin=x", "nope=1", "checkin=3"):
        with pytest.raises(ValueError):
            parse_rates(bad)
    sim, done = Simulator(seed=1, intune=5, mobileiron=5, sdm=5), threading.Event()
    threading.Timer(0.18, done.set).start()
    _serve(sim, done, 0.05, DayRates())
    assert sim.fleets["sdm"].advances >= 2 and sim.fleets["intune"].offset >= 2 * 86400
