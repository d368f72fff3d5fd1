"""The collection service picks Intune's list or export route from the settings and the inventory's size;
a failed export job leaves its warning in the run's summary, and the run still succeeds by the list. On
the export route every device's software comes from the AppInvRawData file, stored as the MDM has it."""

from __future__ import annotations

import pytest
from collect_helpers import by_mdm_id, run, sim_linkage

from mdmtui.storage.models import Software
from mdmtui.sim import Faults, Simulator
from mdmtui.sim.day import DayRates

ICCID_ONLY_DAY = DayRates(checkin=1, sim_swap=1, iccid_only=1, apps=0.2, enrol=0, reenrol=0, leave=0)


def detected(sim, ident: str) -> list[tuple]:
    """The device's apps as the simulator holds them (what detectedApps answers)."""
    fleet = sim.services["intune"].fleet
    slot = fleet.slot_of(ident)
    return sorted((fleet.catalog(slot)[i].name, fleet.catalog(slot)[i].versions[v]) for i, v in fleet.apps(slot))


@pytest.fixture
def sim():
    with Simulator(seed=41, intune=150, mobileiron=1, sdm=1, budget=None) as simulator:
        simulator.intune.export_delay_s = 0.05
        yield simulator


def test_auto_takes_the_export_route_for_a_big_inventory_and_sees_iccid_only_changes(sqlite_ctx, sim):
    sqlite_ctx.settings.intune_export_threshold = 100          # "big" for this test
    sim_linkage(sqlite_ctx, sim, "intune")
    assert run(sqlite_ctx, "Intune").status == "succeeded"     # an empty inventory: Intune's overview counts 150
    assert sim.services["storage"].downloads == 2              # devices, software
    sim.admin.advance(24, "intune", ICCID_ONLY_DAY)
    summary = run(sqlite_ctx, "Intune")
    assert summary.status == "succeeded" and sim.services["storage"].downloads == 4
    assert sim.services["storage"].refused_auth == [] and not summary.reason
    stored = by_mdm_id("Intune")
    for ident in sim.device_ids("intune"):
        truth = sim.truth("intune", ident)
        assert stored[ident].iccid == ((truth["iccid"] or "").replace(" ", "") or None)
        assert sorted((s.name, s.version) for s in Software.select().where(Software.device == stored[ident])) \
            == detected(sim, ident)


def test_a_small_tenants_first_collection_takes_the_list_route(sqlite_ctx, sim):
    sqlite_ctx.settings.intune_export_threshold = 151          # one more than the tenant has
    sim_linkage(sqlite_ctx, sim, "intune")
    assert run(sqlite_ctx, "Intune").status == "succeeded" and sim.services["storage"].downloads == 0


def test_an_unreadable_overview_means_the_list_route_without_a_warning(sqlite_ctx, sim):
    sqlite_ctx.settings.intune_export_threshold = 100
    sim.set_faults(Faults(malformed_json=1), "intune", "managedDeviceOverview")
    sim_linkage(sqlite_ctx, sim, "intune")
    summary = run(sqlite_ctx, "Intune")
    assert summary.status == "succeeded" and summary.new == 150 and not summary.reason
    assert sim.services["storage"].downloads == 0


def test_a_failed_export_job_is_a_warning_of_a_succeeded_run(sqlite_ctx, sim):
    sqlite_ctx.settings.intune_route = "export"
    sqlite_ctx.settings.intune_export_wait_s = 5
    sim.set_faults(Faults(export_job_fails=1), "intune", "exportJobs")
    sim_linkage(sqlite_ctx, sim, "intune")
    summary = run(sqlite_ctx, "Intune")
    assert summary.status == "succeeded" and summary.new == 150
    assert "export job" in (summary.reason or "") and "list route" in summary.reason
