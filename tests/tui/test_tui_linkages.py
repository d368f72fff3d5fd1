"""Linkages screen: add with inline validation errors, then a valid one lands in the database."""

from __future__ import annotations

from textual.widgets import DataTable, Input, Label, Select

from mdmtui.storage.models import AuditEvent, Linkage
from mdmtui.screens.app import create_app
from mdmtui.screens.linkage_form import LinkageFormScreen
from tui_helpers import row_text


async def _type(pilot, selector: str, text: str) -> None:
    field = pilot.app.screen.query_one(selector, Input)
    field.focus()
    field.value = ""
    await pilot.press(*list(text)) if text else None
    await pilot.pause()


async def test_linkage_form_shows_errors_inline_then_saves(tui_ctx):
    app = create_app(tui_ctx, start="linkages")
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "No linkage yet" in str(app.screen.query_one("#linkage-info").render())
        await pilot.press("n")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, LinkageFormScreen)
        form.query_one("#system", Select).value = "mobileiron"
        await pilot.pause()
        await _type(pilot, "#in-name", "MI 1")
        await _type(pilot, "#in-server_url", "https://mi_core.example.com")
        error = str(form.query_one("#err-server_url", Label).render()) + str(form.query_one("#form-error").render())
        assert "underscore" in error
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen is form  # not saved
        with tui_ctx.db.connection_context():
            assert Linkage.select().count() == 0
        await _type(pilot, "#in-server_url", "https://core.example.com")
        await _type(pilot, "#in-user", "api")
        await _type(pilot, "#in-password", "s3cret-pass")
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not isinstance(app.screen, LinkageFormScreen)
        with tui_ctx.db.connection_context():
            stored = Linkage.get(Linkage.name == "MI 1")
        assert stored.system == "mobileiron" and stored.password_enc and "s3cret" not in stored.password_enc
        table = app.screen.query_one(DataTable)
        assert table.row_count == 1
        assert row_text(table, 0)[:2] == ["MI 1", "mobileiron"]
        assert row_text(table, 0)[5] == "never"


async def test_edit_prefills_from_the_stored_settings_previews_the_schedule_and_tests(fleet, sim):
    from textual.widgets import Static
    from tui_helpers import settle

    app = create_app(fleet, start="linkages")
    async with app.run_test(size=(120, 45)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(DataTable)
        names = [row_text(table, i)[0] for i in range(table.row_count)]
        assert names == ["Intune (demo)", "MobileIron (demo)", "SDM (demo)"]
        assert all("succeeded" in row_text(table, i)[5] for i in range(3))  # last collection and outcome
        assert "scheduler daemon: not running" in str(app.screen.query_one("#daemon").render())
        table.move_cursor(row=1)
        await pilot.press("enter")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, LinkageFormScreen)
        assert form.query_one("#in-server_url", Input).value == sim.mobileiron.base_url
        assert form.query_one("#in-user", Input).value == sim.mobileiron.user
        assert form.query_one("#in-password", Input).value == ""  # a secret never comes back
        await _type(pilot, "#in-schedule_start_at", "2030-01-06T09:00")
        await _type(pilot, "#in-schedule_interval", "weekly")
        await _type(pilot, "#in-schedule_weekdays", "mon,thu")
        preview = str(form.query_one("#schedule-preview", Static).render())
        assert "2030-01-07 09:00, 2030-01-10 09:00, 2030-01-14 09:00" in preview  # Start At is a Sunday: Mon, Thu, Mon
        await _type(pilot, "#in-schedule_weekdays", "someday")
        assert "someday" in str(form.query_one("#err-schedule_weekdays", Label).render())
        await _type(pilot, "#in-schedule_weekdays", "mon,thu")
        await pilot.press("ctrl+t")  # save and test the connection against the simulator
        await settle(pilot, 5)
        assert "Connection works" in str(form.query_one("#test-result", Static).render())
        await pilot.press("escape")
        await settle(pilot)
        assert "2030-01-07 09:00" in row_text(table, 1)[4]  # next collection, local time
    with fleet.db.connection_context():
        stored = Linkage.get(Linkage.name == "MobileIron (demo)")
    assert (stored.schedule_interval, stored.schedule_weekdays) == ("weekly", "0,3")
    assert stored.password_enc  # kept, not cleared by the blank field


async def test_removing_an_sdm_linkage_can_drop_its_properties_entry(tui_ctx):
    from mdmtui.services import linkages

    linkages.create(tui_ctx, dict(name="SDM 東京", system="sdm", server_url="https://sdm01.example.jp",
                                  user="admin", password="pw"))
    path = tui_ctx.settings.properties_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# ours\nsdm.1.name=SDM 東京\nsdm.1.dbhost=db01\n", encoding="utf-8")
    app = create_app(tui_ctx, start="linkages")
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("delete")
        await pilot.pause()
        choices = app.screen.query_one("#choices")
        assert "removed too" in str(choices.get_option_at_index(2).prompt)
        choices.highlighted = 2  # "kept; its sdm_import.properties entry removed too"
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
    with tui_ctx.db.connection_context():
        assert Linkage.select().count() == 0
    assert path.read_text(encoding="utf-8") == "# ours\n"


async def test_a_long_failure_reason_never_pushes_next_collection_off_screen(fleet):
    from mdmtui.storage.models import CollectionRun
    from tui_helpers import screen_text, settle

    reason = "the MDM answered 503 Service Unavailable " * 8
    with fleet.db.connection_context():
        CollectionRun.update(status="failed", reason=reason).execute()
        Linkage.update(schedule_start_at="2030-01-06T09:00", schedule_interval="daily").execute()
    app = create_app(fleet, start="linkages")
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        header = next(line for line in screen_text(app).splitlines() if "Next collection" in line)
        assert "Last collection" in header  # both headers on screen
        table = app.screen.query_one(DataTable)
        last = row_text(table, 0)[5]
        assert last.endswith("…") and "failed" in last  # cut, with a sign
        assert "2030-01-" in row_text(table, 0)[4]
        assert "2030-01-" in screen_text(app)  # and on screen, not scrolled away
        assert reason.strip()[:60] in str(app.screen.query_one("#linkage-info").render())  # in full below
        await pilot.resize_terminal(80, 24)  # narrow: server and enabled go to the line under the table
        await settle(pilot)
        shown = screen_text(app)
        header = next(line for line in shown.splitlines() if "Next collection" in line)
        assert "Last collection" in header and "2030-01-" in shown
        assert all(len(line) <= 80 for line in shown.splitlines())


async def test_the_form_shows_every_error_at_once_marked_and_asks_before_discarding(tui_ctx):
    from tui_helpers import settle

    from mdmtui.screens.dialogs import ConfirmScreen

    app = create_app(tui_ctx, start="linkages")
    async with app.run_test(size=(120, 45)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        form = app.screen
        form.query_one("#system", Select).value = "sdm"
        await pilot.pause()
        await _type(pilot, "#in-name", "SDM 9")
        await _type(pilot, "#in-server_url", "https://sdm_core.example.jp:99999")
        await _type(pilot, "#in-sdm_version", "v11")
        server = str(form.query_one("#err-server_url", Label).render())
        assert "underscore" in server and "99999" in server  # both problems of the URL
        assert "11-00-04" in str(form.query_one("#err-sdm_version", Label).render())  # and the version, at once
        assert all(line.startswith("✗ ") for line in server.splitlines())  # a sign, not colour alone
        assert form.query_one("#box-server_url").has_class("-invalid")
        await pilot.press("escape")  # changed: asks first
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # keep editing: nothing lost
        await settle(pilot)
        assert app.screen is form and form.query_one("#in-sdm_version", Input).value == "v11"
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("y")  # discard
        await settle(pilot)
        assert not isinstance(app.screen, LinkageFormScreen)
        await pilot.press("n")  # a form not changed closes at once
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, (LinkageFormScreen, ConfirmScreen))


async def test_the_form_sets_edits_and_clears_a_changed_only_schedule(fleet, sim):
    from textual.widgets import Static
    from tui_helpers import settle

    from mdmtui.services import schedule

    async def edit_row(pilot, row: int) -> LinkageFormScreen:
        pilot.app.screen.query_one(DataTable).move_cursor(row=row)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(pilot.app.screen, LinkageFormScreen)
        return pilot.app.screen

    app = create_app(fleet, start="linkages")
    async with app.run_test(size=(120, 45)) as pilot:
        await settle(pilot)
        form = await edit_row(pilot, 0)
        await _type(pilot, "#in-changed_interval", "hourly")
        assert "start at" in str(form.query_one("#err-changed_start_at", Label).render())  # both or neither
        await _type(pilot, "#in-changed_start_at", "2030-01-06 09:00")
        await _type(pilot, "#in-changed_every", "x")
        assert "every" in str(form.query_one("#err-changed_every", Label).render())
        await _type(pilot, "#in-changed_every", "2")
        preview = str(form.query_one("#schedule-preview", Static).render())
        assert "Next changed-only collections: 2030-01-06 09:00, 2030-01-06 11:00, 2030-01-06 13:00" in preview
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not isinstance(app.screen, LinkageFormScreen)
        with fleet.db.connection_context():
            plan = schedule.changed_schedule_of(Linkage.get(Linkage.name == "Intune (demo)"))
        assert (plan.interval, plan.every, plan.start_at.hour) == ("hourly", 2, 9)
        form = await edit_row(pilot, 0)  # the stored schedule comes back into the fields
        assert [form.query_one(f"#in-{k}", Input).value for k in ("changed_start_at", "changed_interval",
                                                                  "changed_every")] == ["2030-01-06 09:00",
                                                                                        "hourly", "2"]
        for key in ("changed_start_at", "changed_interval", "changed_every"):
            await _type(pilot, f"#in-{key}", "")
        await pilot.press("ctrl+s")
        await settle(pilot)
    with fleet.db.connection_context():
        stored = Linkage.get(Linkage.name == "Intune (demo)")
        entries = [e.action for e in AuditEvent.select().where(AuditEvent.linkage_name == "Intune (demo)",
                                                                 AuditEvent.category == "settings")]
    assert schedule.changed_schedule_of(stored) is None
    assert entries.count("changed-only schedule set") == 1 and entries.count("changed-only schedule clear") == 1
