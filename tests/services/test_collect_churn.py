"""Change detection that ignores check-in churn: a normal day costs the listing pages, not the fleet."""

from __future__ import annotations

import pytest
from collect_helpers import by_mdm_id, run, sim_linkage

from mdmtui.connectors import churn
from mdmtui.sim import Simulator
from mdmtui.sim.day import DayRates
from mdmtui.storage.models import Device

SIZE = 300
PAGE = 100
CHECK_INS_ONLY = DayRates(checkin=1, stale_checkin=1, sim_swap=0, apps=0, enrol=0, reenrol=0, leave=0)
NAMES = {"intune": "Intune", "mobileiron": "MobileIron", "sdm": "SDM"}


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


def _per_device(sim, spent: dict[str, int]) -> dict[str, int]:
    """The daily run's per-device calls: its requests less the listing (and Core's device space, and
    Intune's tenant-wide detected apps pages)."""
    pages = SIZE // PAGE
    apps_pages = -(-len(sim.services["intune"]._aggregate()["keys"]) // 1000)
    return {"intune": spent["intune"] - pages - apps_pages, "mobileiron": spent["mobileiron"] - 1 - pages,
            "sdm": spent["sdm"] - pages}


def _markers(name: str) -> dict[str, churn.Stored | None]:
    return {i: churn.parse(d.change_marker) for i, d in by_mdm_id(name).items()}


def test_the_rolling_refresh_reads_a_seventh_of_the_fleet_a_day(sqlite_ctx, sim):
    _linked(sqlite_ctx, sim)
    for name in NAMES.values():
        assert run(sqlite_ctx, name).status == "succeeded"
    first = {name: _markers(name) for name in NAMES.values()}
    sim.admin.advance(24, rates=CHECK_INS_ONLY)
    sim.admin.reset_budget()
    for name in NAMES.values():
        assert run(sqlite_ctx, name).status == "succeeded"
    calls = _per_device(sim, _requests(sim))
    for mdm, name in NAMES.items():
        assert sorted(m.slot for m in first[name].values()) == list(range(SIZE))  # numbered once, in order
        daily = _markers(name)
        ticked = sum(daily[i].period != m.period for i, m in first[name].items())
        # the slots' phases spread evenly: 300 / 7 = 42.9 give or take a few (a hash: +- 6 at one sigma)
        assert abs(ticked - SIZE / 7) <= 3, (mdm, ticked)
        assert {i: m.slot for i, m in daily.items()} == {i: m.slot for i, m in first[name].items()}
        # one per-device call each (Intune's detected apps and the SDM's software may take two pages)
        assert ticked <= calls[mdm] <= ticked + (0 if mdm == "mobileiron" else SIZE // 30), (mdm, calls)


def _as_r1(name: str, now: float) -> None:
    """Rewrite the linkage's stored markers as the previous release wrote them (r1, the hash phase)."""
    for device in by_mdm_id(name).values():
        stored = churn.parse(device.change_marker)
        r1 = f"{churn.LEGACY}|{stored.checksum}|{churn.hash_period(device.mdm_device_id, now, 7)}"
        Device.update(change_marker=r1).where(Device.id == device.id).execute()


def test_an_upgrade_from_r1_markers_refreshes_only_what_r1_would_and_writes_r2(sqlite_ctx, sim):
    _linked(sqlite_ctx, sim)
    first: dict[str, float] = {}
    for mdm, name in NAMES.items():
        assert run(sqlite_ctx, name).status == "succeeded"
        first[mdm] = sim.fleets[mdm].clock()
        _as_r1(name, first[mdm])
    sim.admin.advance(24, rates=CHECK_INS_ONLY)
    sim.admin.reset_budget()
    window: dict[str, tuple[float, float]] = {}
    for mdm, name in NAMES.items():
        start = sim.fleets[mdm].clock()
        assert run(sqlite_ctx, name).status == "succeeded"
        window[mdm] = (start, sim.fleets[mdm].clock())
    calls = _per_device(sim, _requests(sim))
    for mdm, name in NAMES.items():
        # what the previous release would have refreshed: its hash period ticked since the first run
        ticked = [sum(churn.hash_period(i, first[mdm], 7) != churn.hash_period(i, t, 7) for i in sim.device_ids(mdm))
                  for t in window[mdm]]
        slack = 0 if mdm == "mobileiron" else SIZE // 30     # a long app list: two pages
        assert ticked[0] <= calls[mdm] <= ticked[1] + slack < SIZE / 3, (mdm, calls, ticked)   # not the fleet
        stored = [churn.parse(d.change_marker) for d in by_mdm_id(name).values()]
        assert sorted(m.slot for m in stored) == list(range(SIZE))    # r2 now, each with its own slot


def test_new_devices_get_fresh_slots_after_the_highest_and_departed_ones_keep_theirs(sqlite_ctx, sim):
    sim_linkage(sqlite_ctx, sim, "mobileiron", page_size=PAGE)
    assert run(sqlite_ctx, "MobileIron").status == "succeeded"
    before = {i: churn.parse(d.change_marker).slot for i, d in by_mdm_id("MobileIron").items()}
    sim.admin.advance(24, "mobileiron", DayRates(checkin=1, sim_swap=0, apps=0, enrol=0.05, reenrol=0.02, leave=0.05))
    summary = run(sqlite_ctx, "MobileIron")
    assert summary.status == "succeeded" and summary.new > 0 and summary.missing > 0
    after = {i: churn.parse(d.change_marker).slot for i, d in by_mdm_id("MobileIron").items() if d.change_marker}
    kept = {i: after[i] for i in before if i in after}   # less the re-enrolled: their rows took the new id
    assert kept == {i: before[i] for i in kept} and len(kept) > SIZE * 0.9
    assert sum(1 for i in kept if i not in sim.device_ids("mobileiron")) > 0   # departed, still stored, kept
    new = [i for i in sim.device_ids("mobileiron") if i not in before]
    assert sorted(after[i] for i in new) == list(range(SIZE, SIZE + len(new)))
    assert [after[i] for i in new] == sorted(after[i] for i in new)   # in listing order


def test_unreadable_markers_mean_everything_and_readable_ones_keep_their_slot(sqlite_ctx, sim):
    sim_linkage(sqlite_ctx, sim, "mobileiron", page_size=PAGE)
    assert run(sqlite_ctx, "MobileIron").status == "succeeded"
    stored = by_mdm_id("MobileIron")
    odd = dict(zip(list(stored)[:6], ("r2|x|1", "r2|x|1|y", "r2|x|y|1", "r0|x|1", "2026-12-01T10:00:00Z|1a2b", "")))
    for ident, marker in odd.items():
        Device.update(change_marker=marker).where(Device.id == stored[ident].id).execute()
    sim.admin.reset_budget()
    assert run(sqlite_ctx, "MobileIron").status == "succeeded"      # the same hour: no rolling tick
    assert sim.admin.budget()["mobileiron"]["requests"] == 1 + SIZE // PAGE + len(odd)
    after = by_mdm_id("MobileIron")
    assert [churn.parse(after[i].change_marker).slot for i in odd] == list(range(SIZE, SIZE + len(odd)))
    assert all(after[i].change_marker == d.change_marker for i, d in stored.items() if i not in odd)


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
