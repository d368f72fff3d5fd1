"""Issue 14's triage defects, each as a user meets it: Events -> enter opens the event's own device,
esc steps back one level, every failure says why, f2 and the palette's theme entry, the detail pane by
keyboard at 80x24, cut cells, refusals audited, mixed selections, Intune wipe options, follow-ups."""

from __future__ import annotations

from textual.widgets import DataTable, Input
from tui_helpers import (burst, device, devices_table, highlight, notifications, screen_text, settle)

from mdmtui.storage.models import AuditEvent, Device
from mdmtui.screens.app import create_app
from mdmtui.services import events


async def test_events_enter_opens_the_events_device_by_id_not_by_name(fleet):
    with fleet.db.connection_context():
        first, second = Device.select().where(Device.imei.is_null(False)).order_by(Device.id).limit(2)
        Device.update(computer_name="高橋 花子の iPhone").where(Device.id.in_([first.id, second.id])).execute()
        events.emit("sim_swap", "高橋 花子の iPhone: SIM swapped", linkage_name=second.linkage_name,
                    device_id=second.id)
    app = create_app(fleet, start="events")
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(DataTable)
        table.move_cursor(row=0)  # newest first: the event just emitted
        await pilot.press("enter")
        await settle(pilot)
        assert app.current_mode == "devices"
        assert devices_table(app).row_count == 1
        assert devices_table(app).cursor_row.id == second.id
        assert "one device" in str(app.screen.query_one("#quick").render())
        await pilot.press("escape")  # back to every device
        await settle(pilot)
        assert devices_table(app).row_count > 2


async def test_escape_steps_back_one_level_per_press(fleet):
    app = create_app(fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        total = devices_table(app).row_count
        await pilot.press("space")  # a mark
        app.screen._apply(os_class="M")  # a quick filter (as chosen with f)
        await settle(pilot)
        await burst(pilot, "slash", "i", "p")
        field = app.screen.query_one("#filter", Input)
        filtered = devices_table(app).row_count
        assert filtered < total and field.has_focus
        await pilot.press("escape")  # 1: the prompt closes, nothing else changes
        await settle(pilot)
        assert devices_table(app).has_focus and field.value == "ip" and devices_table(app).row_count == filtered
        await pilot.press("escape")  # 2: the text filter goes
        await settle(pilot)
        assert field.value == "" and app.screen.source.filter.os_class == "M" and devices_table(app).marked
        await pilot.press("escape")  # 3: the quick filters go
        await settle(pilot)
        assert app.screen.source.filter.os_class is None and devices_table(app).row_count == total
        assert devices_table(app).marked
        await pilot.press("escape")  # 4: the marks go
        await settle(pilot)
        assert not devices_table(app).marked


def _failures(app) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications if n.severity == "error"]


async def test_test_connection_to_an_unreachable_mdm_says_why(tui_ctx):
    import socket

    from mdmtui.services import linkages

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tui_ctx.db.connection_context():
        linkages.create(tui_ctx, {"name": "MI down", "system": "mobileiron", "server_url": f"https://127.0.0.1:{port}",
                                  "user": "api", "password": "pw", "timeout_s": 2})
    app = create_app(tui_ctx, start="linkages")
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("t")
        await settle(pilot, 5)
        [failure] = _failures(app)
        assert failure.startswith("test connection failed: ") and "\n" not in failure
        assert "127.0.0.1" in failure or "connect" in failure.lower()


async def test_export_asset_save_delete_and_properties_save_failures_say_why(fleet):
    from mdmtui.screens.dialogs import ChoiceScreen, FormScreen
    from mdmtui.screens.properties import PropertiesScreen

    (fleet.settings.data_dir / "exports").write_text("a file where the folder should be")
    app = create_app(fleet)
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, ChoiceScreen)
        await pilot.press("enter")
        await settle(pilot)
        assert any(f.startswith("export failed: ") for f in _failures(app)), _failures(app)

        victim = devices_table(app).cursor_row
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, FormScreen)
        with fleet.db.connection_context():  # the device goes while the form is open
            Device.delete().where(Device.id == victim.id).execute()
        await pilot.press(*"A-1", "ctrl+s")
        await settle(pilot)
        assert any(f.startswith("save asset information failed: ") for f in _failures(app)), _failures(app)

        with fleet.db.connection_context():
            fleet.db.execute_sql("CREATE TRIGGER no_delete BEFORE DELETE ON device "
                                 "BEGIN SELECT RAISE(ABORT, 'deletion blocked by a test trigger'); END")
        await pilot.press("r")
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert any(f.startswith("delete failed: ") and "blocked" in f for f in _failures(app)), _failures(app)

        app.switch_mode("linkages")
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        assert isinstance(app.screen, PropertiesScreen)
        fleet.settings.properties_path.unlink()
        fleet.settings.properties_path.mkdir()  # a folder where the file should be: the save cannot write
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert any("sdm_import.properties failed: " in f for f in _failures(app)), _failures(app)


def _actions(ctx, dev) -> list[tuple[str, str]]:
    from mdmtui.storage.models import DeviceAction

    with ctx.db.connection_context():
        return [(r.action, r.outcome) for r in DeviceAction.select().where(DeviceAction.device == dev.id)]


async def test_read_only_refusals_are_audited(ro_fleet):
    target = device(ro_fleet, os_class="M", computer_name="営業部の iPhone")
    app = create_app(ro_fleet)
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        await settle(pilot)
        await highlight(pilot, ro_fleet, target)
        await pilot.press("l")
        await settle(pilot)
        assert any("read-only" in n for n in notifications(app))
    assert _actions(ro_fleet, target) == [("lock", "refused")]
    with ro_fleet.db.connection_context():
        [entry] = AuditEvent.select().where(AuditEvent.device_id == target.id, AuditEvent.action == "lock")
        assert entry.outcome == "refused" and "read-only" in entry.message


async def test_a_mixed_selection_acts_on_the_devices_that_can_and_lists_the_others(fleet, sim):
    from mdmtui.screens.dialogs import ConfirmScreen, ResultsScreen

    phone = device(fleet, mdm_device_id=sim.scenario_devices["mobileiron"]["japanese_names"])
    pc = device(fleet, mdm_device_id=sim.scenario_devices["intune"]["pc_two_macs"])
    app = create_app(fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        for target in (phone, pc):
            await highlight(pilot, fleet, target)
            await pilot.press("space")
        assert app.screen.check_action("lock", ()) is True  # not greyed: one of them can be locked
        await pilot.press("l")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen)  # one device to lock: yes/no
        assert "Not sent (1" in dialog.body and "cannot lock a device classified as PC" in dialog.body
        await pilot.press("y")
        await settle(pilot, 6)
        assert isinstance(app.screen, ResultsScreen)
        lines = app.screen.lines
        assert any("succeeded" in line for line in lines)
        assert any("refused" in line and "PC" in line for line in lines)
    assert _actions(fleet, phone) == [("lock", "succeeded")]
    assert _actions(fleet, pc) == [("lock", "refused")]


async def test_intune_wipe_offers_intunes_wipe_options_and_sends_them(fleet, sim):
    import json

    from textual.widgets import Checkbox

    from mdmtui.storage.models import DeviceAction
    from mdmtui.screens.dialogs import WipeConfirmScreen
    from mdmtui.services.lookup import confirm_label

    target = device(fleet, mdm_device_id=sim.scenario_devices["intune"]["sim_swap_candidate"])
    app = create_app(fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await highlight(pilot, fleet, target)
        await pilot.press("w")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, WipeConfirmScreen)
        boxes = {box.id: box for box in dialog.query(Checkbox)}
        assert set(boxes) == {"opt-keep_enrollment_data", "opt-keep_user_data", "opt-persist_esim_data_plan"}
        assert not any(box.value for box in boxes.values())  # the safe default: erase everything
        boxes["opt-keep_user_data"].focus()
        await pilot.press("space")  # ticked by keyboard
        dialog.query_one("#typed", Input).focus()
        await pilot.press(*confirm_label(target), "enter")
        await settle(pilot, 6)
    with fleet.db.connection_context():
        [row] = DeviceAction.select().where(DeviceAction.device == target.id)
    options = row.options if isinstance(row.options, dict) else json.loads(row.options)
    assert options["keep_user_data"] is True and options["keep_enrollment_data"] is False


async def test_the_detail_pane_scrolls_by_keyboard_at_80x24(fleet, sim):
    target = device(fleet, mdm_device_id=sim.scenario_devices["mobileiron"]["japanese_names"])
    app = create_app(fleet)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await highlight(pilot, fleet, target)
        wanted = ("IMEI ", "Contract phone number", "Passcode or password set", "Compliance")
        first = screen_text(app)
        assert not all(label in first for label in wanted)  # out of sight at first
        await pilot.press("tab", "tab")  # the tab strip, then the pane's content
        seen = set()
        for _ in range(12):
            seen |= {label for label in wanted if label in screen_text(app)}
            await pilot.press("pagedown")
            await settle(pilot)
        assert seen == set(wanted)
        await pilot.press("tab")
        assert devices_table(app).has_focus  # round the loop, back to the table


async def test_wording_counts_security_filter_history_names_banner_and_palette(fleet, sim):
    from textual.command import CommandPalette

    from mdmtui.storage.models import DeviceHistory

    target = device(fleet, mdm_device_id=sim.scenario_devices["mobileiron"]["japanese_names"])
    with fleet.db.connection_context():
        DeviceHistory.create(device=target.id, field="phone_number", old_value="+817000000001",
                             new_value="+817000000002")
        DeviceHistory.create(device=target.id, field="iccid", old_value="8981100000000000001", new_value=None)
    app = create_app(fleet, banner="DEMO: c collects (a SIM swap waits)")
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await highlight(pilot, fleet, target)
        assert str(app.screen.query_one("#count").render()) == "1 device"
        history = str(app.screen.query_one("#history").render())
        assert "Contract phone number: +817000000001 → +817000000002" in history and "ICCID:" in history
        assert "phone_number" not in history and "iccid" not in history
        app.screen._apply(security_problem=True)
        await settle(pilot)
        assert "security: any problem" in str(app.screen.query_one("#quick").render())
        assert "True" not in str(app.screen.query_one("#quick").render())
        await pilot.press("c")  # after a collection the demo's hint is stale: only its label stays
        await settle(pilot, 5)
        assert app.banner == "DEMO"
        await pilot.press("ctrl+p")
        await settle(pilot)
        palette = app.screen
        assert isinstance(palette, CommandPalette)
        await pilot.press(*"theme")
        await settle(pilot)
        hits = [str(option.prompt) for option in palette.query_one("CommandList").options]
        assert hits and hits[0].startswith("Theme") and "Choose a colour theme" in hits[0]
        assert len(hits) == 1  # no duplicate from Textual's own commands, nothing irrelevant


async def test_f2_and_the_palettes_theme_entry_open_the_theme_picker(fleet):
    from textual.command import CommandPalette

    app = create_app(fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await pilot.press("f2")
        await settle(pilot)
        assert isinstance(app.screen, CommandPalette)
        themes = [str(o.prompt) for o in app.screen.query_one("CommandList").options]
        assert "nord" in themes and "textual-light" in themes
        await pilot.press(*"nord", "enter")
        await settle(pilot)
        assert app.theme == "nord"
        await pilot.press("ctrl+p", *"theme", "enter")  # the palette's entry does the same
        await settle(pilot)
        assert isinstance(app.screen, CommandPalette)
        assert "gruvbox" in [str(o.prompt) for o in app.screen.query_one("CommandList").options]


async def test_u_follows_up_pending_actions_from_the_console(fleet, sim):
    import asyncio

    from mdmtui.services import control

    target = device(fleet, os_class="IS", missing_since=None)  # an Intune phone: Intune's lock is asynchronous
    with fleet.db.connection_context():
        [sent] = await control.act(fleet, [target.id], "lock", follow=False)
    assert sent.outcome.value == "pending"
    await asyncio.sleep(0.5)  # the simulated device has carried it out meanwhile
    app = create_app(fleet)
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("u")
        await settle(pilot, 5)
        assert any("1 pending action settled" in n for n in notifications(app)), notifications(app)
    assert _actions(fleet, target) == [("lock", "succeeded")]
