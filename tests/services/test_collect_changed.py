"""Two speeds: a changed-only collection lists what contacted the MDM since the last run and marks nothing missing."""

from __future__ import annotations

import pytest
from collect_helpers import by_mdm_id, run, sim_linkage

from mdmtui.storage.models import CollectionRun
from mdmtui.services import collection
from mdmtui.sim import Simulator
from mdmtui.sim.day import DayRates

SIZE = 300
PAGE = 100
QUIET = DayRates(checkin=0, stale_checkin=0, sim_swap=0, apps=0, enrol=0, reenrol=0, leave=0)
NAMES = {"intune": "Intune", "mobileiron": "MobileIron", "sdm": "SDM"}
LIST_PATHS = {"intune": "/v1.0/deviceManagement/managedDevices", "mobileiron": "/api/v2/devices",
              "sdm": "/devices"}


@pytest.fixture
def sim():
    with Simulator(seed=47, intune=SIZE, mobileiron=SIZE, sdm=SIZE, budget=None) as simulator:
        yield simulator


def _listing_requests(sim, mdm: str) -> int:
    return sum(1 for m, method, path, _ in sim.requests_log
               if m == mdm and method == "GET" and path.endswith(LIST_PATHS[mdm]))


def _contacted_after(sim, mdm: str, since: float) -> set[str]:
    fleet = sim.fleets[mdm]
    return {fleet.id_of(s) for s in fleet.live_slots() if (fleet.last_sync(s) or 0) > since}


@pytest.mark.parametrize("mdm", ["intune", "mobileiron", "sdm"])
def test_a_changed_only_run_reads_only_the_devices_that_checked_in(sqlite_ctx, sim, mdm):
    name = NAMES[mdm]
    sim_linkage(sqlite_ctx, sim, mdm, page_size=PAGE)
    assert run(sqlite_ctx, name).status == "succeeded"
    first = CollectionRun.select().order_by(CollectionRun.id.desc()).get()
    assert first.kind == "full" and first.mdm_started_at is not None
    sim.admin.advance(6, rates=QUIET)                        # the MDM's clock moves 6 h, nobody checks in
    ids = sim.device_ids(mdm)
    touched, swapped, left = ids[5:12], ids[40], ids[200:204]
    for ident in touched:
        sim.admin.touch(mdm, ident)
    sim.admin.sim_swap(mdm, swapped)
    for ident in left:
        sim.admin.remove(mdm, ident)
    sim.requests_log.clear()

    summary = run(sqlite_ctx, name, changed_only=True)

    assert summary.status == "succeeded" and summary.kind == "changed"
    since = first.mdm_started_at.timestamp() - collection.CHANGED_MARGIN.total_seconds()
    expected = _contacted_after(sim, mdm, since)
    assert set(touched) | {swapped} <= expected and len(expected) < 8 + SIZE // 20
    assert summary.devices_seen == len(expected)
    assert _listing_requests(sim, mdm) == 1                  # one filtered page instead of SIZE / PAGE
    assert summary.missing == 0 and summary.rechecked == 0   # the departed four are not even asked about
    stored = by_mdm_id(name)
    assert all(stored[i].missing_since is None for i in left)
    fleet = sim.fleets[mdm]
    digits = lambda text: "".join(c for c in text or "" if c.isdigit())  # noqa: E731
    sent = fleet.profile(fleet.slot_of(swapped))["phone"]
    assert digits(stored[swapped].phone_number)[-8:] == digits(sent)[-8:] != ""  # the new SIM's number
    row = CollectionRun.get_by_id(summary.run_id)
    assert row.kind == "changed" and row.mdm_started_at > first.mdm_started_at

    assert run(sqlite_ctx, name).missing == len(left)        # the full run is the one that marks missing


def test_a_changed_only_run_without_an_earlier_run_lists_everything_and_says_so(sqlite_ctx, sim):
    sim_linkage(sqlite_ctx, sim, "sdm", page_size=PAGE)
    summary = run(sqlite_ctx, "SDM", changed_only=True)
    assert summary.status == "succeeded" and summary.devices_seen == SIZE and summary.new == SIZE
    assert "no earlier successful run" in summary.reason


def test_a_failed_run_does_not_move_the_changed_only_bound(sqlite_ctx, sim):
    sim_linkage(sqlite_ctx, sim, "sdm", page_size=PAGE)
    assert run(sqlite_ctx, "SDM").status == "succeeded"
    bound = collection.changed_since(CollectionRun.get().linkage)
    sim.admin.advance(3, rates=QUIET)

    def broken(config):
        raise RuntimeError("boom")
    assert run(sqlite_ctx, "SDM", changed_only=True, connector_factory=broken).status == "failed"
    assert collection.changed_since(CollectionRun.get().linkage) == bound
