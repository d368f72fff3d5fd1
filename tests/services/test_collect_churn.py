"""Change detection that ignores check-in churn: a normal day costs the listing pages, not the fleet."""

from __future__ import annotations

import pytest
from collect_helpers import by_mdm_id, run, sim_linkage

from mdmtui.sim import Simulator
from mdmtui.sim.day import DayRates

SIZE = 300
PAGE = 100
CHECK_INS_ONLY = DayRates(checkin=1, stale_checkin=1, sim_swap=0, apps=0, enrol=0, reenrol=0, leave=0)


@pytest.fixture
def sim():
    with Simulator(seed=31, intune=SIZE, mobileiron=SIZE, sdm=SIZE, budget=None) as simulator:
        yield simulator


def _linked(ctx, sim) -> None:
    for system in ("intune", "mobileiron", "sdm"):
        sim_linkage(ctx, sim, system, page_size=PAGE)
    path = ctx.settings.properties_path            # the SDM's software service, as an admin would set it
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"sdm.1.name=SDM\nsdm.1.dbhost={sim.sdm.db_host}\nsdm.1.dbport={sim.sdm.db_port}\n",
                    encoding="utf-8")


def _requests(sim) -> dict[str, int]:
    report = sim.admin.budget()
    return {"intune": report["intune"]["units"], "mobileiron": report["mobileiron"]["requests"],
            "sdm": report["sdm"]["requests"]}


def _day(ctx, sim, rates: DayRates) -> dict[str, int]:
    """First collection, a day of the fleet's life, then the daily run: its requests per MDM."""
    for name in ("Intune", "MobileIron", "SDM"):
        assert run(ctx, name).status == "succeeded"
    sim.admin.advance(24, rates=rates)
    sim.admin.reset_budget()
    for name in ("Intune", "MobileIron", "SDM"):
        assert run(ctx, name).status == "succeeded"
    return _requests(sim)


def test_a_day_of_check_ins_costs_only_the_listing_pages(sqlite_ctx, sim):
    sqlite_ctx.settings.refresh_days = 90                  # the rolling refresh ticks for ~1/90 a day
    _linked(sqlite_ctx, sim)
    spent = _day(sqlite_ctx, sim, CHECK_INS_ONLY)
    pages = SIZE // PAGE
    slack = SIZE // 30                                     # the few devices whose rolling period ticked
    # Intune: and the tenant-wide detected apps' pages (1,000 entries a page; no count moved: no device list)
    apps_pages = -(-len(sim.services["intune"]._aggregate()["keys"]) // 1000)
    assert spent["intune"] <= pages + apps_pages + slack   # was 300 $batch items + 300 detectedApps
    assert spent["mobileiron"] <= 1 + pages + slack        # device space + pages; was 300 /details
    assert spent["sdm"] <= pages + slack                   # was 300 software reads
    # sync time and free storage came from the list for every device, without any extra request
    intune, mi = by_mdm_id("Intune"), by_mdm_id("MobileIron")
    for ident in sim.device_ids("intune"):
        truth = sim.truth("intune", ident)
        assert intune[ident].storage_free_bytes == truth["freeStorageSpaceInBytes"]
        assert intune[ident].last_alive_at.strftime("%Y-%m-%dT%H:%M:%SZ") == truth["lastSyncDateTime"]
    moved = [i for i in sim.device_ids("mobileiron")
             if mi[i].storage_free_bytes == sim.truth("mobileiron", i)["common.storage_free"]]
    assert len(moved) == SIZE


def test_the_rolling_refresh_reads_a_seventh_of_the_fleet_a_day(sqlite_ctx, sim):
    _linked(sqlite_ctx, sim)
    spent = _day(sqlite_ctx, sim, CHECK_INS_ONLY)
    pages = SIZE // PAGE
    assert SIZE / 7 * 0.6 < spent["mobileiron"] - 1 - pages < SIZE / 7 * 1.4
    assert SIZE / 7 * 0.6 < spent["intune"] - pages < SIZE / 7 * 1.4    # detectedApps of the due devices
    assert SIZE / 7 * 0.6 < spent["sdm"] - pages < SIZE / 7 * 1.4       # software of the due devices


def test_passcode_and_software_changes_no_list_shows_are_seen_within_the_period(sqlite_ctx, sim):
    sqlite_ctx.settings.refresh_days = 1
    _linked(sqlite_ctx, sim)
    for name in ("MobileIron", "Intune"):
        assert run(sqlite_ctx, name).status == "succeeded"
    mi, fleet = sim.fleets["mobileiron"], sim.fleets["intune"]
    flipped = [s for s in list(mi.live_slots())[:20]]
    for slot in flipped:
        mi.update(slot, passcode=not mi.profile(slot)["passcode"])
    apps_slot = next(s for s in fleet.live_slots() if fleet.apps(s))
    fleet.update(apps_slot, app_count=len(fleet.apps(apps_slot)) + 3)
    sim.admin.advance(24, rates=DayRates(checkin=0, stale_checkin=0, sim_swap=0, apps=0, enrol=0, reenrol=0,
                                         leave=0))
    for name in ("MobileIron", "Intune"):
        assert run(sqlite_ctx, name).status == "succeeded"
    stored = by_mdm_id("MobileIron")
    for slot in flipped:
        assert stored[mi.id_of(slot)].passcode_set is mi.profile(slot)["passcode"]
    device = by_mdm_id("Intune")[fleet.id_of(apps_slot)]
    assert len(list(device.software)) == len(fleet.apps(apps_slot))


def test_a_sim_swap_shows_in_the_list_and_brings_the_new_iccid(sqlite_ctx, sim):
    sqlite_ctx.settings.refresh_days = 90
    _linked(sqlite_ctx, sim)
    assert run(sqlite_ctx, "Intune").status == "succeeded"
    ident = next(i for i in sim.device_ids("intune") if sim.truth("intune", i)["phoneNumber"])
    sim.admin.sim_swap("intune", ident)
    sim.admin.reset_budget()
    assert run(sqlite_ctx, "Intune").status == "succeeded"
    sent = sim.fleets["intune"].profile(sim.fleets["intune"].slot_of(ident))["iccid"]
    assert by_mdm_id("Intune")[ident].iccid == "".join(c for c in sent if c.isdigit())  # stored as digits
    assert sim.admin.budget()["intune"]["units"] <= SIZE // PAGE + 2 + SIZE // 30    # pages, one GET, its apps
