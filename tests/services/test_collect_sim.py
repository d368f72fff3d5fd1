"""Collection end to end over loopback against the simulator, and the fault matrix.

Every fault ends with a clear outcome: the run either succeeded with an inventory equal to the MDM's,
or failed with a reason an admin can act on and the previous inventory untouched (asserted on the DB).
"""

from __future__ import annotations

import asyncio

import pytest
from collect_helpers import by_mdm_id, fast, run, sim_linkage, snapshot

from mdmtui.storage.models import CollectionRun, Device, DeviceHistory, Event, Software
from mdmtui.services import collection
from mdmtui.sim import Faults, Simulator

SIZE = 60
PAGE = 20


@pytest.fixture
def sim():
    with Simulator(seed=21, intune=SIZE, mobileiron=SIZE, sdm=SIZE) as simulator:
        yield simulator


def with_phone(sim, mdm: str) -> str:
    """A device of ``mdm`` that has an IMEI and a phone number (a SIM swap means something there)."""
    keys = {"intune": ("imei", "phoneNumber"), "sdm": ("imei", "phoneNumber")}[mdm]
    for ident in sim.device_ids(mdm):
        truth = sim.truth(mdm, ident)
        if all(truth.get(k) for k in keys):
            return ident
    raise AssertionError("no device with a SIM in the simulated fleet")


def write_properties(ctx, sim) -> None:
    path = ctx.settings.properties_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"sdm.1.name=SDM\nsdm.1.dbhost={sim.sdm.db_host}\nsdm.1.dbport={sim.sdm.db_port}\n",
                    encoding="utf-8")


async def test_three_mdms_collected_concurrently_then_nothing_rewritten(ctx, sim):
    for system in ("intune", "mobileiron", "sdm"):
        sim_linkage(ctx, sim, system, page_size=PAGE)
    write_properties(ctx, sim)
    summaries = await collection.collect_many(ctx, connector_factory=fast())
    assert [(s.linkage, s.status, s.new) for s in summaries] == [
        ("Intune", "succeeded", SIZE), ("MobileIron", "succeeded", SIZE), ("SDM", "succeeded", SIZE)]
    for name, mdm in (("Intune", "intune"), ("MobileIron", "mobileiron"), ("SDM", "sdm")):
        stored = by_mdm_id(name)
        assert set(stored) == set(sim.device_ids(mdm))
    intune = by_mdm_id("Intune")
    for ident in sim.device_ids("intune")[:10]:
        truth = sim.truth("intune", ident)
        assert intune[ident].serial_number == (truth["serialNumber"] or None)
        assert intune[ident].consumes_license is False
    assert all(d.consumes_license for d in by_mdm_id("SDM").values())
    assert Software.select().count() == sum(s.software_items for s in summaries) > 0
    before = snapshot()
    again = await collection.collect_many(ctx, connector_factory=fast())
    assert [(s.new, s.changed, s.unchanged) for s in again] == [(0, 0, SIZE)] * 3
    assert snapshot() == before


async def test_mdm_changes_are_recorded_as_the_spec_says(ctx, sim):
    sim_linkage(ctx, sim, "intune", page_size=PAGE)
    await collection.collect(ctx, "Intune", connector_factory=fast())
    ids = sim.device_ids("intune")
    swapped = with_phone(sim, "intune")
    others = [i for i in ids if i != swapped]
    gone, reenrolled, touched = others[0], others[1], others[2]
    kept_ids = {i: d.id for i, d in by_mdm_id("Intune").items()}
    sim.admin.sim_swap("intune", swapped)
    sim.admin.remove("intune", gone)
    new_id = sim.admin.reenrol("intune", reenrolled)
    sim.admin.touch("intune", touched)
    added = sim.admin.add("intune")
    summary = await collection.collect(ctx, "Intune", connector_factory=fast())
    assert (summary.status, summary.new, summary.missing) == ("succeeded", 1, 1)
    assert summary.changed == 3 and summary.unchanged == SIZE - 4
    stored = by_mdm_id("Intune")
    assert stored[new_id].id == kept_ids[reenrolled]  # the same device, under its new MDM id
    assert stored[gone].missing_since is not None  # kept, marked
    assert stored[swapped].id == kept_ids[swapped]
    assert stored[swapped].phone_number == sim.truth("intune", swapped)["phoneNumber"]
    assert added in stored and len(stored) == SIZE + 1
    kinds = sorted(e.kind for e in Event.select().where(Event.kind != "new_device"))
    assert kinds == ["missing", "reenrolled", "sim_swap"]
    fields = {h.field for h in DeviceHistory.select().where(DeviceHistory.device == kept_ids[swapped])}
    assert "phone_number" in fields and "iccid" in fields


# --------------------------------------------------------------------------------------------- faults

# Faults that persist from the second page on: the run must fail and leave the inventory as it was.
PERSISTENT = {
    "429 storm": (Faults(rate_429=1, retry_after=0), None, "try again later"),
    "5xx": (Faults(rate_5xx=1, status_5xx=503, retry_after=0), None, "503"),
    "hung response": (Faults(hang_s=2), "managedDevices", "timeout"),
    "reset mid-page": (Faults(reset_mid_page=1), "managedDevices", ""),
    "malformed JSON": (Faults(malformed_json=1), "managedDevices", "not JSON"),
    "expired nextLink": (Faults(expired_nextlink=1), "managedDevices", "expired"),
}
# Faults the connector recovers from: the run must succeed with exactly the MDM's devices.
TRANSIENT = {
    "429 burst": Faults(burst_429=(2, 5), retry_after=0),
    "some 5xx": Faults(rate_5xx=0.2, retry_after=0),
    "some resets mid-page": Faults(reset_mid_page=0.2),
    "some malformed JSON": Faults(malformed_json=0.2),
    "a repeated page": Faults(repeat_page=0.2),
    "every page repeated once": Faults(repeat_page=1),  # Intune: a repeat comes with a fresh nextLink
    "$batch items failing": Faults(batch_item_fail_rate=0.3, retry_after=0),
}


def change_the_mdm(sim) -> None:
    """Changes a successful run would write: one device gone, one new, one touched."""
    ids = sim.device_ids("intune")
    sim.admin.remove("intune", ids[-1])
    sim.admin.add("intune")
    sim.admin.touch("intune", ids[0])


def fault_after_first_page(sim, faults: Faults, endpoint: str | None):
    def tick(progress):
        if progress.pages == 1:
            sim.set_faults(faults, mdm="intune", endpoint=endpoint)
    return tick


@pytest.mark.parametrize("name", list(PERSISTENT))
async def test_a_persistent_fault_mid_run_fails_it_and_loses_nothing(ctx, sim, name):
    faults, endpoint, words = PERSISTENT[name]
    for _ in range(3 * PAGE):  # 6 pages: a page is staged while the next is fetched (and Intune prefetches
        sim.admin.add("intune")  # the list page after that), so the fault set after page 1 meets pages 4-6
    sim_linkage(ctx, sim, "intune", page_size=PAGE, timeout_s=0.3)
    await collection.collect(ctx, "Intune", connector_factory=fast(software=False))
    before = snapshot()
    change_the_mdm(sim)
    summary = await collection.collect(ctx, "Intune", connector_factory=fast(software=False),
                                       progress=fault_after_first_page(sim, faults, endpoint))
    sim.set_faults(None)
    assert summary.status == "failed", f"{name}: {summary}"
    assert summary.reason and words.lower() in summary.reason.lower() and len(summary.reason) > 30
    assert snapshot() == before
    run = CollectionRun.get(CollectionRun.id == summary.run_id)
    assert (run.status, run.reason, run.finished_at is not None) == ("failed", summary.reason, True)
    # and the next run, with the MDM healthy again, records the changes
    healed = await collection.collect(ctx, "Intune", connector_factory=fast(software=False))
    assert (healed.status, healed.new, healed.missing) == ("succeeded", 1, 1)


@pytest.mark.parametrize("name", list(TRANSIENT))
async def test_a_transient_fault_ends_in_the_complete_inventory(ctx, sim, name):
    sim_linkage(ctx, sim, "intune", page_size=PAGE)
    await collection.collect(ctx, "Intune", connector_factory=fast(software=False))
    change_the_mdm(sim)
    sim.set_faults(TRANSIENT[name], mdm="intune")
    summary = await collection.collect(ctx, "Intune", connector_factory=fast(software=False))
    sim.set_faults(None)
    assert summary.status == "succeeded", f"{name}: {summary.reason}"
    stored = by_mdm_id("Intune")
    present = {i for i, d in stored.items() if d.missing_since is None}
    assert present == set(sim.device_ids("intune"))
    assert Device.select().count() == SIZE + 1


async def test_mobileiron_serving_the_same_page_forever_fails_without_a_short_list(ctx, sim):
    for _ in range(3 * PAGE):  # 6 pages: the fault set after page 1 is staged meets the pages still to come
        sim.admin.add("mobileiron")
    sim_linkage(ctx, sim, "mobileiron", page_size=PAGE)
    await collection.collect(ctx, "MobileIron", connector_factory=fast())
    before = snapshot()
    sim.admin.remove("mobileiron", sim.device_ids("mobileiron")[-1])

    def tick(progress):
        if progress.pages == 1:
            sim.set_faults(Faults(repeat_page=1), mdm="mobileiron")

    summary = await collection.collect(ctx, "MobileIron", connector_factory=fast(), progress=tick)
    sim.set_faults(None)
    assert summary.status == "failed" and "same devices again" in summary.reason
    assert snapshot() == before  # in particular, no device marked missing from a short list


async def test_batch_items_always_failing_keep_the_stored_details(ctx, sim):
    sim_linkage(ctx, sim, "intune", page_size=PAGE)
    await collection.collect(ctx, "Intune", connector_factory=fast(software=False))
    before = {i: (d.iccid, d.udid, d.ram_total_bytes) for i, d in by_mdm_id("Intune").items()}
    assert any(v[2] for v in before.values())
    # a SIM change shows in the list (new number) and needs the new ICCID from a single GET; a mere
    # check-in would not fetch anything (connectors/churn.py)
    for ident in [i for i in sim.device_ids("intune") if sim.truth("intune", i)["phoneNumber"]][:5]:
        sim.admin.sim_swap("intune", ident)
    sim.set_faults(Faults(batch_item_fail_rate=1, retry_after=0), mdm="intune", endpoint="batch")
    summary = await collection.collect(ctx, "Intune", connector_factory=fast(software=False))
    sim.set_faults(None)
    assert summary.status == "succeeded" and summary.changed == 5
    assert summary.reason and "warnings" in summary.reason
    after = {i: (d.iccid, d.udid, d.ram_total_bytes) for i, d in by_mdm_id("Intune").items()}
    assert after == before  # nothing blanked by the failed detail requests
    # the swapped devices are fetched again next time (their marker was not stored)
    retried = await collection.collect(ctx, "Intune", connector_factory=fast(software=False))
    assert retried.changed == 5 and not retried.reason


async def test_wrong_credentials_fail_with_a_reason_and_keep_everything(ctx, sim):
    from mdmtui.services import linkages

    sim_linkage(ctx, sim, "mobileiron", page_size=PAGE)
    await collection.collect(ctx, "MobileIron", connector_factory=fast())
    before = snapshot()
    linkages.update(ctx, "MobileIron", password="wrong-password-1")
    summary = await collection.collect(ctx, "MobileIron", connector_factory=fast())
    assert summary.status == "failed" and "check the user and password" in summary.reason
    assert snapshot() == before


def test_the_daemon_style_call_from_plain_asyncio_run(ctx, sim):
    sim_linkage(ctx, sim, "sdm", page_size=PAGE)
    summary = run(ctx, "SDM", trigger="scheduled")
    assert summary.status == "succeeded" and summary.new == SIZE
    assert CollectionRun.get().trigger == "scheduled"
    assert asyncio.run(collection.collect_many(ctx, [], connector_factory=fast())) == []


async def test_sdm_without_a_properties_entry_says_software_was_not_collected(ctx, sim):
    """The run succeeds, but "0 software items" must not read as "these devices have no apps"."""
    sim_linkage(ctx, sim, "sdm", page_size=PAGE)
    summary = await collection.collect(ctx, "SDM", connector_factory=fast())
    assert summary.status == "succeeded" and summary.new == SIZE and summary.software_items == 0
    assert "software not collected: sdm_import.properties has no entry" in summary.reason
    assert "software not collected" in collection.describe(summary)
    write_properties(ctx, sim)
    again = await collection.collect(ctx, "SDM", connector_factory=fast())
    assert again.reason is None and again.software_items > 0


async def _when_first_page_served(sim, mark: int, path: str) -> None:
    for _ in range(500):
        if any(entry[2] == path and entry[3] == 200 for entry in list(sim.requests_log)[mark:]):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the first page was never served")


@pytest.mark.parametrize(("system", "endpoint", "path"), [
    ("mobileiron", "devices", "/api/v2/devices"), ("sdm", "sdm_devices", "/sdm/api/v1/devices")])
async def test_offset_paging_race_marks_no_live_device_missing(ctx, sim, system, endpoint, path):
    """Issue 11 #1 over real HTTP: while page 2 is slow, 5 devices of page 1 leave and 5 enrol (the total
    stays equal); the 5 that slid back across the page boundary are never listed, yet they are live."""
    name = sim_linkage(ctx, sim, system, page_size=PAGE).name
    assert (await collection.collect(ctx, name, connector_factory=fast(software=False))).new == SIZE
    fleet = sim.fleets[system]
    sim.set_faults(Faults(page_latency_ms=800), system, endpoint)
    mark = len(sim.requests_log)
    task = asyncio.create_task(collection.collect(ctx, name, connector_factory=fast(software=False)))
    await _when_first_page_served(sim, mark, path)
    slid = [fleet.id_of(s) for s in range(PAGE, PAGE + 5)]        # will slide from page 2 onto page 1
    for slot in range(5):
        fleet.remove(slot)
        fleet.add()
    summary = await task
    assert summary.status == "succeeded"
    stored = by_mdm_id(name)
    live = set(sim.device_ids(system))
    assert not [i for i, d in stored.items() if d.missing_since is not None and i in live]
    assert all(stored[i].missing_since is None for i in slid)
    assert (summary.rechecked, summary.missing) == (5, 0)
    assert "5 devices absent from the listing are still in the MDM" in summary.reason
    sim.set_faults(None)
    again = await collection.collect(ctx, name, connector_factory=fast(software=False))
    stored = by_mdm_id(name)
    assert {i for i, d in stored.items() if d.missing_since is None} == live and again.missing == 5
