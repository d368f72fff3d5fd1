"""The collection service picks Intune's list or export route from the settings and the inventory's size;
a failed export job leaves its warning in the run's summary, and the run still succeeds by the list."""

from __future__ import annotations

import pytest
from collect_helpers import by_mdm_id, run, sim_linkage

from mdmtui.sim import Faults, Simulator
from mdmtui.sim.day import DayRates

ICCID_ONLY_DAY = DayRates(checkin=1, sim_swap=1, iccid_only=1, apps=0, enrol=0, reenrol=0, leave=0)


@pytest.fixture
def sim():
    with Simulator(seed=41, intune=150, mobileiron=1, sdm=1, budget=None) as simulator:
        simulator.intune.export_delay_s = 0.05
        yield simulator


def test_auto_takes_the_export_route_for_a_big_inventory_and_sees_iccid_only_changes(sqlite_ctx, sim):
    sqlite_ctx.settings.intune_export_threshold = 100          # "big" for this test
    sim_linkage(sqlite_ctx, sim, "intune")
    assert run(sqlite_ctx, "Intune").status == "succeeded"     # an empty inventory: the list route
    assert sim.services["storage"].downloads == 0
    sim.admin.advance(24, "intune", ICCID_ONLY_DAY)
    summary = run(sqlite_ctx, "Intune")
    assert summary.status == "succeeded" and sim.services["storage"].downloads == 1
    assert sim.services["storage"].refused_auth == []
    stored = by_mdm_id("Intune")
    for ident in sim.device_ids("intune"):
        truth = sim.truth("intune", ident)
        assert stored[ident].iccid == ((truth["iccid"] or "").replace(" ", "") or None)


def test_a_failed_export_job_is_a_warning_of_a_succeeded_run(sqlite_ctx, sim):
    sqlite_ctx.settings.intune_route = "export"
    sqlite_ctx.settings.intune_export_wait_s = 5
    sim.set_faults(Faults(export_job_fails=1), "intune", "exportJobs")
    sim_linkage(sqlite_ctx, sim, "intune")
    summary = run(sqlite_ctx, "Intune")
    assert summary.status == "succeeded" and summary.new == 150
    assert "export job" in (summary.reason or "") and "list route" in summary.reason
