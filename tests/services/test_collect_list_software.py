"""Intune's list route through the collection service, over real HTTP against the simulator: the run hands
the connector the linkage's stored software (read through storage), and after a day of the fleet's life
the daily run leaves every device's stored software equal to the simulator's — on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from collect_helpers import by_mdm_id, run, sim_linkage

from mdmtui.sim import Simulator
from mdmtui.sim.day import DayRates
from mdmtui.storage.models import Software


def detected(sim, ident: str) -> list[tuple]:
    """The device's apps as the simulator holds them (what detectedApps answers)."""
    fleet = sim.services["intune"].fleet
    slot = fleet.slot_of(ident)
    return sorted((fleet.catalog(slot)[i].name, fleet.catalog(slot)[i].versions[v]) for i, v in fleet.apps(slot))


def stored_apps(device) -> list[tuple]:
    return sorted((s.name, s.version) for s in Software.select().where(Software.device == device))


@pytest.fixture
def sim():
    with Simulator(seed=43, intune=150, mobileiron=1, sdm=1, budget=None) as simulator:
        yield simulator


def test_a_daily_list_route_run_leaves_every_devices_software_equal_to_the_simulators(ctx, sim):
    ctx.settings.intune_route = "list"
    sim_linkage(ctx, sim, "intune")
    assert run(ctx, "Intune").status == "succeeded"
    done = sim.admin.advance(24, "intune", DayRates(apps=0.3, enrol=0.02, leave=0.01))["intune"]
    assert done["apps_changed"] > 20 and done["enrolled"] > 0 and done["left"] > 0
    sim.meter.reset()
    summary = run(ctx, "Intune")
    assert summary.status == "succeeded" and not summary.reason
    stored = by_mdm_id("Intune")
    live = sim.device_ids("intune")
    assert all(stored_apps(stored[ident]) == detected(sim, ident) for ident in live)
    assert summary.missing == done["left"]
    # far fewer request units than the 150 per-device calls a full re-read would cost
    assert sim.meter.report()["intune"]["units"] < len(live)
