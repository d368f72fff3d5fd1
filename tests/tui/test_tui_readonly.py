"""Read-only mode: state-changing keys are hidden from the footer and say why when pressed; help lists all."""

from __future__ import annotations

from rich.console import Console

from mdmtui.storage.models import Linkage
from mdmtui.screens.app import create_app
from mdmtui.screens.help import HelpScreen
from mdmtui.screens.linkage_form import LinkageFormScreen


async def test_read_only_refuses_adding_a_linkage_and_says_why(ro_ctx):
    app = create_app(ro_ctx, start="linkages")
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "n" not in app.screen.active_bindings  # hidden from the footer
        await pilot.press("n")
        await pilot.pause()
        assert not isinstance(app.screen, LinkageFormScreen)
        assert any("read-only" in n.message for n in app._notifications)
        assert "READ-ONLY" in str(app.screen.query_one("AppHeader").render())
    with ro_ctx.db.connection_context():
        assert Linkage.select().count() == 0


async def test_help_lists_every_binding_with_the_remapped_key(tmp_path):
    from mdmtui.services.context import open_context

    from mdmtui_testing import make_settings

    ctx = open_context(make_settings(tmp_path, keymap={"linkages.add": "ctrl+n"}))
    app = create_app(ctx, start="linkages")
    async with app.run_test(size=(120, 45)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        console = Console(width=120)
        with console.capture() as captured:
            console.print(app.screen.table)
        text = captured.get()
        for binding_id in ("linkages.add", "devices.wipe", "devices.filter", "app.jump", "events.read"):
            assert binding_id in text
        assert "ctrl+n" in text
        await pilot.press("escape")
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, LinkageFormScreen)
    ctx.db.close()


async def test_read_only_devices_screen_hides_actions_and_sends_nothing(ro_fleet, sim):
    from tui_helpers import device, highlight, notifications, settle

    from mdmtui.storage.models import CollectionRun, DeviceAction

    target = device(ro_fleet, mdm_device_id=sim.scenario_devices["mobileiron"]["japanese_names"])
    app = create_app(ro_fleet, poll_seconds=60)
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        await settle(pilot)
        await highlight(pilot, ro_fleet, target)
        shown = set(app.screen.active_bindings)
        for key in ("l", "w", "p", "d", "c", "a"):
            assert key not in shown, key
        assert {"slash", "s", "e", "f"} <= shown  # reading stays possible
        for key in ("l", "w", "p", "d", "c", "a"):
            await pilot.press(key)
        await pilot.pause()
        assert app.screen.__class__.__name__ == "DevicesScreen"  # no dialog opened
        said = notifications(app)
        assert len(said) == 6 and all("read-only" in m for m in said)
        await settle(pilot)
    with ro_fleet.db.connection_context():  # nothing sent: the three device actions recorded as refused
        rows = list(DeviceAction.select())
        assert sorted((r.action, r.outcome) for r in rows) == [("lock", "refused"), ("reset_passcode", "refused"),
                                                               ("wipe", "refused")]
        assert CollectionRun.select().count() == 3  # only the fixture's collections
