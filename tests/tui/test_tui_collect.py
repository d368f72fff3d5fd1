"""Collection from the console against the simulator: progress per linkage, cancel with x, the summary
notification, then the events view (SIM swap, mark read, show the device) and the header's count."""

from __future__ import annotations

from textual.widgets import DataTable
from tui_helpers import devices_table, settle

from mdmtui.storage.models import CollectionRun, Event
from mdmtui.records import Progress
from mdmtui.screens.app import MdmtuiApp, create_app
from mdmtui.services import linkages
from mdmtui.sim import Faults


def slow_pages(ctx, sim, latency_ms: int) -> None:
    """Small pages and a slow MDM, so a collection is seen running."""
    with ctx.db.connection_context():
        for lk in linkages.list_linkages(ctx):
            linkages.update(ctx, lk.name, page_size=2)
    sim.set_faults(Faults(latency_ms=latency_ms))


headers: list[str] = []


def record_progress(monkeypatch) -> list[dict]:
    seen: list[dict] = []
    headers.clear()
    original = MdmtuiApp.on_collection_progressed

    def spy(self, message):
        original(self, message)
        seen.append(dict(self.collecting))
        headers.append(str(self.screen.query_one("AppHeader").render()))
    monkeypatch.setattr(MdmtuiApp, "on_collection_progressed", spy)
    return seen


async def test_collect_shows_progress_per_linkage_then_a_summary(fleet, sim, monkeypatch):
    slow_pages(fleet, sim, 20)
    seen = record_progress(monkeypatch)
    app = create_app(fleet)
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await pilot.press("j")  # the console stays usable meanwhile
        await settle(pilot, 6)
        assert not app.collecting
        finished = [n for n in app._notifications if n.title == "Collection finished"]
        assert len(finished) == 1 and finished[0].message.count("devices in") == 3
    pages = {name: p.pages for snapshot in seen for name, p in snapshot.items() if isinstance(p, Progress)}
    assert set(pages) == {"Intune (demo)", "MobileIron (demo)", "SDM (demo)"}
    assert max(pages.values()) >= 3  # several pages each, shown as they came
    assert any("collecting 3" in h for h in headers)
    with fleet.db.connection_context():
        runs = CollectionRun.select().where(CollectionRun.trigger == "immediate").order_by(CollectionRun.id)
        assert [r.status for r in runs][-3:] == ["succeeded"] * 3


async def test_x_cancels_the_running_collection_and_nothing_changes(fleet, sim, monkeypatch):
    slow_pages(fleet, sim, 250)
    seen = record_progress(monkeypatch)
    with fleet.db.connection_context():
        before = CollectionRun.select().count()
    app = create_app(fleet)
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("c")
        while not seen:
            await pilot.pause(0.05)
        assert "(x: stop)" in str(app.screen.query_one("CollectionPanel").render())
        await pilot.press("x")
        await settle(pilot, 6)
        assert not app.collecting
        finished = [n for n in app._notifications if n.title == "Collection finished"]
        assert finished and "cancelled" in finished[0].message
    with fleet.db.connection_context():
        runs = list(CollectionRun.select().order_by(CollectionRun.id))[before:]
    assert runs and all(r.status == "cancelled" for r in runs)


async def test_sim_swap_shows_in_events_then_mark_read_and_show_device(fleet, sim):
    ident = sim.scenario_devices["mobileiron"]["sim_swap_candidate"]
    sim.admin.sim_swap("mobileiron", ident)
    app = create_app(fleet, poll_seconds=60)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot, 6)
        with fleet.db.connection_context():
            unread = Event.select().where(Event.read == False).count()  # noqa: E712
            swap = Event.get(Event.kind == "sim_swap")
        assert f"events: {unread} unread" in str(app.screen.query_one("AppHeader").render())
        await pilot.press("3")
        await settle(pilot)
        table = app.screen.query_one(DataTable)
        rows = [table.get_row_at(i) for i in range(table.row_count)]
        index = next(i for i, r in enumerate(rows) if r[2] == "SIM swapped")
        table.move_cursor(row=index)
        await pilot.pause()
        await pilot.press("m")
        await settle(pilot)
        assert "events: none new" in str(app.screen.query_one("AppHeader").render())
        table.move_cursor(row=index)
        await pilot.press("enter")
        await settle(pilot, 5)
        assert app.current_mode == "devices"
        assert devices_table(app).cursor_row.id == swap.device_id
    with fleet.db.connection_context():
        assert Event.select().where(Event.read == False).count() == 0  # noqa: E712


async def test_shift_c_collects_only_what_changed_and_marks_nothing_missing(fleet, sim):
    from mdmtui.sim.day import DayRates

    sim.admin.advance(6, rates=DayRates(checkin=0, stale_checkin=0, sim_swap=0, apps=0, enrol=0, reenrol=0,
                                        leave=0))  # the MDMs' clocks move 6 h
    for mdm in ("intune", "mobileiron", "sdm"):
        ids = sim.device_ids(mdm)
        sim.admin.touch(mdm, ids[0])  # one device each checks in
        sim.admin.remove(mdm, ids[1])  # and one leaves: a changed-only run must not call it missing
    app = create_app(fleet)
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("C")
        await settle(pilot, 6)
        finished = [n for n in app._notifications if n.title == "Collection finished"]
        assert len(finished) == 1 and finished[0].message.count("changed-only") == 3, finished[0].message
        assert "missing" not in finished[0].message  # a changed-only run checks nothing for missing
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("C")  # on the Linkages screen: the highlighted linkage only
        await settle(pilot, 6)
    with fleet.db.connection_context():
        runs = list(CollectionRun.select().where(CollectionRun.trigger == "immediate").order_by(CollectionRun.id))
    assert [(r.kind, r.status) for r in runs[-4:]] == [("changed", "succeeded")] * 4
    assert len({r.linkage_name for r in runs[-4:-1]}) == 3
    assert all(r.missing == 0 for r in runs[-4:]) and all(r.devices_seen >= 1 for r in runs[-4:-1])


async def test_c_on_the_overview_collects_every_linkage(fleet, sim):
    """The demo's banner says "c collects" on the first screen, the Overview: it does."""
    with fleet.db.connection_context():
        before = CollectionRun.select().count()
    app = create_app(fleet, start="overview")
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        await settle(pilot)
        assert app.screen.SCOPE == "overview"
        await pilot.press("c")
        await settle(pilot, 6)
        finished = [n for n in app._notifications if n.title == "Collection finished"]
        assert len(finished) == 1 and finished[0].message.count("devices in") == 3
    with fleet.db.connection_context():
        assert CollectionRun.select().count() == before + 3
