"""The collection service with scripted connectors: what a run writes, keeps, marks and records.

Runs on SQLite and PostgreSQL (the ``ctx`` fixture).
"""

from __future__ import annotations

import asyncio

import pytest
from collect_helpers import (ScriptedConnector, by_mdm_id, plain_linkage, record, scripted, snapshot, software,
                             utc)

from mdmtui.errors import ActionRefused, Busy, ConnectionFailed
from mdmtui.storage.models import (CollectionLock, CollectionRun, Device, DeviceAction, DeviceHistory, Event, Software,
                           utcnow)
from mdmtui.records import OsClass
from mdmtui.services import collection, locks
from mdmtui.services.audit import query as audit_query

T0 = utc(2026, 3, 1, 9)
T1 = utc(2026, 3, 2, 9)


def fleet(n: int = 6, at=T0) -> list:
    return [record(f"m{i}", serial_number=f"SER{i:05d}", imei=f"3512345678{i:05d}", phone_number=f"+8190000{i:04d}",
                   iccid=f"8981000000{i:09d}", last_alive_at=at, ram_total_bytes=4 << 30, passcode_set=True)
            for i in range(n)]


def pages(records: list, size: int = 2) -> list[list]:
    return [records[i:i + size] for i in range(0, len(records), size)]


async def collect(ctx, connector, name: str = "MI", **kw):
    return await collection.collect(ctx, name, connector_factory=scripted(connector), **kw)


async def test_first_collection_stores_every_device_with_the_set_items(ctx):
    plain_linkage()
    summary = await collect(ctx, ScriptedConnector(pages(fleet())))
    assert (summary.status, summary.new, summary.changed, summary.unchanged, summary.pages) == ("succeeded", 6, 0, 0, 3)
    stored = by_mdm_id("MI")
    assert set(stored) == {f"m{i}" for i in range(6)}
    d = stored["m3"]
    assert (d.serial_number, d.imei, d.last_alive_at, d.ram_total_bytes) == ("SER00003", "351234567800003", T0, 4 << 30)
    assert (d.management_type, d.management_status, d.device_status) == (
        "MDM linkage management", "Agent not Installed", "Unknown")
    assert d.consumes_license and d.managed and d.missing_since is None
    assert d.host_name is None and d.email is None  # not collected stays NULL, never "" or 0
    run = CollectionRun.get(CollectionRun.id == summary.run_id)
    assert (run.status, run.new, run.devices_seen, run.trigger) == ("succeeded", 6, 6, "immediate")
    assert [e.outcome for e in audit_query(ctx, category="collection")] == ["succeeded"]
    assert not CollectionLock.select().exists()


async def test_auto_manage_off_leaves_discovered_devices_unmanaged_and_intune_uses_no_license(ctx):
    plain_linkage("Intune", system="intune", auto_manage=False)
    recs = [record("i1", os_class=OsClass.IS), record("i2", os_class=OsClass.IP, device_type="PC")]
    await collect(ctx, ScriptedConnector([recs]), "Intune")
    stored = by_mdm_id("Intune")
    assert [(d.managed, d.consumes_license) for d in stored.values()] == [(False, False), (False, False)]


async def test_recollecting_an_unchanged_fleet_writes_nothing(ctx):
    plain_linkage()
    await collect(ctx, ScriptedConnector(pages(fleet())))
    before = snapshot()
    again = ScriptedConnector(pages(fleet()))
    summary = await collect(ctx, again)
    assert (summary.new, summary.changed, summary.unchanged, summary.missing) == (0, 0, 6, 0)
    assert snapshot() == before
    assert again.known == {f"m{i}": T0.isoformat() for i in range(6)}


async def test_one_changed_field_rewrites_one_row_and_records_history(ctx):
    plain_linkage()
    await collect(ctx, ScriptedConnector(pages(fleet())))
    before = snapshot()
    changed = fleet()
    changed[4].os_version, changed[4].storage_free_bytes = "17.5", 123
    summary = await collect(ctx, ScriptedConnector(pages(changed)))
    after = snapshot()
    assert (summary.changed, summary.unchanged) == (1, 5)
    moved = [i for i in before["devices"] if before["devices"][i] != after["devices"][i]]
    assert [after["devices"][i]["mdm_device_id"] for i in moved] == ["m4"]
    # free storage changes at every contact: stored, but no history entry
    assert [(h.field, h.old_value, h.new_value, h.run_id) for h in DeviceHistory.select()] == [
        ("os_version", None, "17.5", summary.run_id)]


async def test_unfetched_items_and_unfetched_software_keep_their_stored_values(ctx):
    plain_linkage()
    first = fleet(2)
    first[0].software = software("Mail", "Maps")
    await collect(ctx, ScriptedConnector([first]))
    later = fleet(2)
    later[0].ram_total_bytes = None  # not fetched this time (and so not "not collected")
    later[0].unfetched = frozenset({"ram_total_bytes"})
    later[0].software = None
    summary = await collect(ctx, ScriptedConnector([later]))
    assert summary.unchanged == 2
    assert by_mdm_id("MI")["m0"].ram_total_bytes == 4 << 30
    assert sorted(s.name for s in Software.select()) == ["Mail", "Maps"]


async def test_new_software_replaces_the_old_list(ctx):
    plain_linkage()
    first = fleet(1)
    first[0].software = software("Mail", "Maps")
    await collect(ctx, ScriptedConnector([first]))
    later = fleet(1)
    later[0].software = software("Mail", "Slack", "Zoom")
    summary = await collect(ctx, ScriptedConnector([later]))
    assert (summary.changed, summary.software_items) == (1, 3)
    assert sorted(s.name for s in Software.select()) == ["Mail", "Slack", "Zoom"]


@pytest.mark.parametrize("fail_after", [0, 2])
async def test_a_failure_part_way_leaves_the_previous_inventory_intact(ctx, fail_after):
    plain_linkage()
    await collect(ctx, ScriptedConnector(pages(fleet())))
    before = snapshot()
    changed = fleet(8, at=T1)  # every device changed, two new
    broken = ScriptedConnector(pages(changed), fail_after=fail_after,
                               error=ConnectionFailed("MobileIron Core did not answer within 10 s (timeout)"))
    summary = await collect(ctx, broken)
    assert (summary.status, summary.new, summary.changed) == ("failed", 0, 0)
    assert "did not answer" in summary.reason
    assert snapshot() == before
    run = CollectionRun.get(CollectionRun.id == summary.run_id)
    assert (run.status, run.reason) == ("failed", summary.reason)
    assert Event.select().where(Event.kind == "collection_failed").count() == 1
    assert broken.closed and not CollectionLock.select().exists()


async def test_a_bug_in_the_run_is_a_recorded_failure_not_a_traceback(ctx):
    plain_linkage()
    summary = await collect(ctx, ScriptedConnector([fleet(2)], fail_after=0, error=KeyError("boom")))
    assert summary.status == "failed" and "unexpected error: KeyError" in summary.reason
    assert Device.select().count() == 0


async def test_cancel_leaves_the_inventory_as_it_was(ctx):
    plain_linkage()
    await collect(ctx, ScriptedConnector(pages(fleet())))
    before = snapshot()
    cancel = asyncio.Event()

    def tick(progress):
        if progress.pages == 1:
            cancel.set()

    summary = await collect(ctx, ScriptedConnector(pages(fleet(8, at=T1))), progress=tick, cancel=cancel)
    assert summary.status == "cancelled" and "cancelled" in summary.reason
    assert snapshot() == before
    assert CollectionRun.get(CollectionRun.id == summary.run_id).status == "cancelled"


async def test_absent_device_the_mdm_still_has_is_not_marked_missing(ctx):
    """Issue 11 #1: only a device the MDM confirms gone (per-device query) becomes missing."""
    plain_linkage()
    await collect(ctx, ScriptedConnector(pages(fleet())))
    before = by_mdm_id("MI")["m5"]
    conn = ScriptedConnector(pages(fleet()[:4]), still_there={"m5"})
    summary = await collect(ctx, conn)
    stored = by_mdm_id("MI")
    assert sorted(conn.asked) == ["m4", "m5"]
    assert (summary.missing, summary.rechecked) == (1, 2)
    assert stored["m4"].missing_since is not None and stored["m5"].missing_since is None
    assert stored["m5"].fingerprint == before.fingerprint  # unconfirmed: left exactly as it was
    assert "1 devices absent from the listing are still in the MDM" in summary.reason
    assert "2 absent re-checked: 1 confirmed gone" in collection.describe(summary)
    assert CollectionRun.get(CollectionRun.id == summary.run_id).rechecked == 2


async def test_many_absent_devices_are_confirmed_by_a_second_listing(ctx, monkeypatch):
    monkeypatch.setattr(collection.run, "RECHECK_ONE_BY_ONE", 1)  # where the stream reads it
    plain_linkage()
    await collect(ctx, ScriptedConnector(pages(fleet())))

    class Relisting(ScriptedConnector):
        """The first listing skips m3..m5; the second one shows m3 (it slid back meanwhile)."""
        listings = 0

        async def iter_device_pages(self, known):
            self.listings += 1
            self.pages = pages(fleet()[:3] if self.listings == 1 else fleet()[:4])
            async for page in super().iter_device_pages(known):
                yield page

    conn = Relisting([])
    summary = await collect(ctx, conn)
    stored = by_mdm_id("MI")
    assert conn.listings == 2 and conn.asked == []  # no per-device query
    assert (summary.rechecked, summary.missing) == (3, 2)
    assert stored["m3"].missing_since is None and stored["m4"].missing_since is not None


async def test_a_device_the_mdm_cannot_be_asked_about_stays_as_it_was(ctx):
    plain_linkage()
    await collect(ctx, ScriptedConnector(pages(fleet())))

    class Unreachable(ScriptedConnector):
        async def device_gone(self, mdm_device_id):
            raise ConnectionFailed("MobileIron (core.example): cannot connect")

    summary = await collect(ctx, Unreachable(pages(fleet()[:5])))
    assert summary.status == "succeeded" and (summary.missing, summary.rechecked) == (0, 1)
    assert by_mdm_id("MI")["m5"].missing_since is None


async def test_absent_devices_are_marked_missing_never_deleted_and_can_return(ctx):
    plain_linkage()
    await collect(ctx, ScriptedConnector(pages(fleet())))
    summary = await collect(ctx, ScriptedConnector(pages(fleet()[:4])))
    stored = by_mdm_id("MI")
    assert summary.missing == 2 and len(stored) == 6
    assert stored["m4"].missing_since is not None and stored["m0"].missing_since is None
    kinds = [e.kind for e in Event.select().where(Event.kind == "missing")]
    assert kinds == ["missing", "missing"]
    again = await collect(ctx, ScriptedConnector(pages(fleet()[:5])))
    assert (again.returned, again.missing) == (1, 0)
    assert by_mdm_id("MI")["m4"].missing_since is None
    assert by_mdm_id("MI")["m5"].missing_since == stored["m5"].missing_since  # still missing, since then
    assert Event.select().where(Event.kind == "returned").count() == 1


async def test_a_sim_swap_updates_the_same_device_and_writes_history(ctx):
    plain_linkage()
    await collect(ctx, ScriptedConnector([fleet(2)]))
    device_id = by_mdm_id("MI")["m1"].id
    swapped = fleet(2)
    swapped[1].phone_number, swapped[1].iccid = "+819099998888", "8981999999999999999"
    await collect(ctx, ScriptedConnector([swapped]))
    d = by_mdm_id("MI")["m1"]
    assert (d.id, d.phone_number) == (device_id, "+819099998888")
    fields = {h.field: (h.old_value, h.new_value) for h in DeviceHistory.select().where(DeviceHistory.device == d.id)}
    assert fields["phone_number"] == ("+8190000" + "0001", "+819099998888")
    assert "iccid" in fields
    [event] = Event.select().where(Event.kind == "sim_swap")
    assert event.device_id == device_id and "+819099998888" in event.message


async def test_a_reenrolled_device_stays_the_same_device(ctx):
    plain_linkage()
    await collect(ctx, ScriptedConnector([fleet(3)]))
    old = by_mdm_id("MI")["m2"]
    DeviceAction.create(device=old, linkage_name="MI", mdm_device_id="m2", action="wipe", outcome="succeeded",
                        updated_at=T0)
    Device.update(device_status="Warning").where(Device.id == old.id).execute()
    recs = fleet(3)
    recs[2].mdm_device_id = "m2-new"  # same serial, UDID and IMEI; new MDM id
    summary = await collect(ctx, ScriptedConnector([recs]))
    assert (summary.new, summary.changed, summary.missing) == (0, 1, 0)
    d = Device.get(Device.id == old.id)
    assert (d.mdm_device_id, d.device_status, d.missing_since) == ("m2-new", "Unknown", None)
    assert Device.select().count() == 3
    assert [(h.field, h.old_value, h.new_value) for h in DeviceHistory.select()] == [
        ("mdm_device_id", "m2", "m2-new")]
    assert Event.select().where(Event.kind == "reenrolled").count() == 1


async def test_a_second_mdm_record_of_a_device_still_listed_is_not_merged(ctx):
    plain_linkage()
    await collect(ctx, ScriptedConnector([fleet(2)]))
    recs = fleet(2)
    twin = record("m1-twin", serial_number="SER00001")
    summary = await collect(ctx, ScriptedConnector([recs + [twin]]))
    assert summary.new == 1 and Device.select().count() == 3


async def test_one_device_through_two_linkages_is_flagged_not_merged(ctx):
    plain_linkage("MI")
    plain_linkage("SDM", system="sdm")
    await collect(ctx, ScriptedConnector([fleet(2)]), "MI")
    other = [record("s1", os_class=OsClass.SI, imei="351234567800001"), record("s2", os_class=OsClass.SI)]
    await collect(ctx, ScriptedConnector([other]), "SDM")
    mi, sdm = by_mdm_id("MI"), by_mdm_id("SDM")
    assert sdm["s1"].duplicate_of == mi["m1"].id and sdm["s2"].duplicate_of is None
    assert Device.select().count() == 4
    [event] = Event.select().where(Event.kind == "duplicate")
    assert "IMEI" in event.message


async def test_a_wiped_device_stays_warning_until_it_contacts_its_mdm_again(ctx):
    plain_linkage()
    await collect(ctx, ScriptedConnector([fleet(2)]))
    device = by_mdm_id("MI")["m0"]
    confirmed = utc(2026, 3, 1, 12)
    DeviceAction.create(device=device, linkage_name="MI", mdm_device_id="m0", action="wipe",
                        outcome="succeeded", updated_at=confirmed)
    Device.update(device_status="Warning").where(Device.id == device.id).execute()
    # a collection while the device has not come back, even with other changes: still Warning
    recs = fleet(2, at=utc(2026, 3, 1, 11))
    recs[0].os_version = "18.0"
    await collect(ctx, ScriptedConnector([recs]))
    assert by_mdm_id("MI")["m0"].device_status == "Warning"
    # it contacts the MDM after the wipe was confirmed: re-registered, Unknown
    await collect(ctx, ScriptedConnector([fleet(2, at=utc(2026, 3, 1, 13))]))
    assert by_mdm_id("MI")["m0"].device_status == "Unknown"


async def test_busy_when_another_process_holds_the_lock(ctx):
    linkage = plain_linkage()
    CollectionLock.create(linkage=linkage, owner="other-host:4242:abcd", acquired_at=utcnow(),
                          heartbeat_at=utcnow())
    with pytest.raises(Busy, match="already running.*other-host.*4242"):
        await collect(ctx, ScriptedConnector([fleet(2)]))
    [skipped] = await collection.collect_many(ctx, ["MI"], connector_factory=scripted(ScriptedConnector([])))
    assert skipped.status == "skipped" and "already running" in skipped.reason
    assert not CollectionRun.select().exists() and Device.select().count() == 0


async def test_a_lock_taken_over_mid_run_writes_nothing(ctx):
    linkage = plain_linkage()

    class Thief(ScriptedConnector):
        async def iter_device_pages(self, known):
            async for page in super().iter_device_pages(known):
                yield page
            CollectionLock.update(owner="thief:1:x").where(CollectionLock.linkage == linkage.id).execute()

    summary = await collect(ctx, Thief([fleet(2)]))
    assert summary.status == "failed" and "taken over" in summary.reason
    assert Device.select().count() == 0
    assert locks.holder_of(linkage).owner == "thief:1:x"  # the new holder keeps its lock


async def test_read_only_refuses_to_collect(tmp_path):
    from mdmtui_testing import make_settings

    from mdmtui.services.context import open_context

    ctx = open_context(make_settings(tmp_path, read_only=True))
    try:
        with pytest.raises(ActionRefused, match="read-only"):
            await collection.collect(ctx, "MI")
    finally:
        ctx.db.close()


async def test_collect_many_runs_every_enabled_linkage_and_reports_each(ctx):
    plain_linkage("A")
    plain_linkage("B")
    plain_linkage("Off", enabled=False)
    made = {}

    def factory(config):
        made[config.name] = ScriptedConnector([[record(f"{config.name}-1")]])
        return made[config.name]

    summaries = await collection.collect_many(ctx, connector_factory=factory)
    assert [(s.linkage, s.status, s.new) for s in summaries] == [("A", "succeeded", 1), ("B", "succeeded", 1)]
    assert set(made) == {"A", "B"}


async def test_each_run_records_the_linkages_inventory_total_at_its_end(ctx):
    """The overview's sparklines draw from the runs: devices of the linkage in the inventory after each run
    (missing ones included: they stay until deleted), and a failed run records what it left."""
    plain_linkage()
    plain_linkage("Other")
    await collect(ctx, ScriptedConnector([fleet(3)]), name="Other")
    first = await collect(ctx, ScriptedConnector(pages(fleet(6))))
    shrunk = await collect(ctx, ScriptedConnector(pages(fleet(4))))
    grown = await collect(ctx, ScriptedConnector(pages(fleet(9, at=T1)), fail_after=1,
                                                 error=ConnectionFailed("timeout")))
    totals = {s.run_id: CollectionRun.get_by_id(s.run_id).inventory_total for s in (first, shrunk, grown)}
    assert shrunk.missing == 2 and grown.status == "failed"
    assert totals == {first.run_id: 6, shrunk.run_id: 6, grown.run_id: 6}  # the other linkage's 3 not counted


class _NextPageWatch(ScriptedConnector):
    """Notes (thread-safely) when the collection asks for the page after the first."""

    def __init__(self, pages):
        super().__init__(pages)
        import threading

        self.asked_second = threading.Event()

    async def iter_device_pages(self, known):
        self.known = dict(known)
        for n, page in enumerate(self.pages):
            if n == 1:
                self.asked_second.set()
            await asyncio.sleep(0)
            yield page


async def test_the_next_page_is_fetched_while_a_page_is_staged(ctx, monkeypatch):
    """A page's staging (on the writer thread) and the fetch of the next one overlap: the MDM's budget is
    not left idle for every page's comparison; a failure of the fetch meanwhile still leaves nothing."""
    from mdmtui.services.collection import steps

    plain_linkage("Fake")
    connector = _NextPageWatch([[record("a")], [record("b")], [record("c")]])
    overlapped: list[bool] = []
    real = steps.Run.stage_page

    def stage_page(self, records):
        if records[0].mdm_device_id == "a":
            overlapped.append(connector.asked_second.wait(3))
        real(self, records)
    monkeypatch.setattr(steps.Run, "stage_page", stage_page)
    summary = await collect(ctx, connector, "Fake")
    assert summary.status == "succeeded" and summary.new == 3 and summary.pages == 3
    assert overlapped == [True]

    failing = ScriptedConnector([[record("d")], [record("e")]], fail_after=1, error=ConnectionFailed("gone"))
    before = snapshot()
    summary = await collect(ctx, failing, "Fake")
    assert summary.status == "failed" and "gone" in summary.reason and snapshot() == before
