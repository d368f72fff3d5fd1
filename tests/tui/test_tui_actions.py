"""Actions from the Devices screen against the simulator: lock (yes/no), wipe (wrong then right name),
bulk with the count typed, greyed actions saying why, deletion, a profile-removed device's real failure;
each asserted on screen and in the database (actions, audit log, device status)."""

from __future__ import annotations

from textual.widgets import Input
from test_tui_devices import choose, text_of
from tui_helpers import device, devices_table, highlight, notifications, settle, table_rows

from mdmtui.storage.models import AuditEvent, Device, DeviceAction
from mdmtui.screens.app import create_app
from mdmtui.screens.dialogs import ConfirmScreen, ResultsScreen, TypedConfirmScreen
from mdmtui.services.lookup import confirm_label


def actions_of(ctx, dev) -> list[DeviceAction]:
    with ctx.db.connection_context():
        return list(DeviceAction.select().where(DeviceAction.device == dev.id).order_by(DeviceAction.id))


def results_text(app) -> str:
    assert isinstance(app.screen, ResultsScreen), app.screen
    return "\n".join(app.screen.lines)


def mi_device(ctx, sim, label: str = "japanese_names"):
    return device(ctx, mdm_device_id=sim.scenario_devices["mobileiron"][label])


async def test_lock_asks_yes_no_then_shows_the_mdm_answer(fleet, sim):
    target = mi_device(fleet, sim)
    app = create_app(fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await highlight(pilot, fleet, target)
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.focused.id == "no"  # the safe answer is the default
        await pilot.press("y")
        await settle(pilot, 5)
        assert "succeeded" in results_text(app)
        await pilot.press("enter")
    [row] = actions_of(fleet, target)
    assert (row.action, row.outcome) == ("lock", "succeeded")
    with fleet.db.connection_context():
        assert AuditEvent.select().where(AuditEvent.device_id == target.id, AuditEvent.action == "lock").count() >= 1


async def test_wipe_needs_the_device_name_typed_exactly(fleet, sim):
    target = mi_device(fleet, sim, "sim_swap_candidate")
    app = create_app(fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await highlight(pilot, fleet, target)
        await pilot.press("w")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, TypedConfirmScreen)
        await pilot.press(*"wrong name", "enter")
        await pilot.pause()
        assert app.screen is dialog
        assert "does not match" in str(dialog.query_one("#mismatch").render())
        assert actions_of(fleet, target) == []  # nothing sent, nothing recorded
        dialog.query_one("#typed", Input).value = confirm_label(target)
        await pilot.press("enter")
        await settle(pilot, 6)
        assert app.screen.title_text == "Wipe: outcome per device" and confirm_label(target) in results_text(app)
    [row] = actions_of(fleet, target)
    assert row.action == "wipe" and row.outcome in ("succeeded", "pending")
    if row.outcome == "succeeded":
        assert device(fleet, id=target.id).device_status == "Warning"


async def test_intune_pc_cannot_be_locked_and_the_key_says_why(fleet, sim):
    pc = device(fleet, mdm_device_id=sim.scenario_devices["intune"]["pc_two_macs"])
    app = create_app(fleet, poll_seconds=60)
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        await settle(pilot)
        await highlight(pilot, fleet, pc)
        assert app.screen.check_action("lock", ()) is None  # greyed in the footer
        assert app.screen.check_action("wipe", ()) is True
        await pilot.press("l")
        await pilot.press("p")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        said = " ".join(notifications(app)).lower()
        assert "lock" in said and "pc" in said
        assert "passcode" in said
        await settle(pilot)
    # nothing sent; each refusal recorded and audited, as the CLI records it (issue 14 #8)
    assert [(r.action, r.outcome) for r in actions_of(fleet, pc)] == [("lock", "refused"),
                                                                       ("reset_passcode", "refused")]
    with fleet.db.connection_context():
        audited = AuditEvent.select().where(AuditEvent.device_id == pc.id, AuditEvent.outcome == "refused")
        assert sorted(e.action for e in audited) == ["lock", "reset_passcode"]


async def test_bulk_lock_of_marked_devices_types_the_count(fleet, sim):
    with fleet.db.connection_context():
        targets = list(Device.select().where(Device.os_class == "M", Device.computer_name.is_null(False))
                       .order_by(Device.computer_name).limit(2))
    app = create_app(fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        for target in targets:
            await highlight(pilot, fleet, target)
            await pilot.press("space")
        await pilot.press("escape", "escape")  # one step each: the filter, then the marks; mark again unfiltered
        await settle(pilot)
        table = devices_table(app)
        assert table.marked == set()
        for target in targets:
            await highlight(pilot, fleet, target)
            await pilot.press("space")
            await pilot.press("slash")
            app.screen.query_one("#filter", Input).value = ""
            await pilot.press("enter")
            await settle(pilot)
        assert table.marked == {t.id for t in targets}
        assert "2 marked" in str(app.screen.query_one("#count").render())
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, TypedConfirmScreen) and app.screen.expected == "2"
        await pilot.press("2", "enter")
        await settle(pilot, 6)
        text = results_text(app)
        assert text.count("succeeded") == 2
    for target in targets:
        assert [(r.action, r.outcome) for r in actions_of(fleet, target)] == [("lock", "succeeded")]


async def test_profile_removed_device_is_shown_and_refused_before_any_confirmation(fleet, sim):
    """Issue 10: the state is on screen (security column, detail pane) and wipe is greyed, saying why."""
    target = mi_device(fleet, sim, "profile_removed")
    app = create_app(fleet)
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        await settle(pilot)
        await highlight(pilot, fleet, target)
        assert any("profile removed" in row for row in table_rows(app))
        assert "profile removed" in text_of(app.screen.query_one("#device-groups")).lower()
        assert app.screen.check_action("wipe", ()) is None and app.screen.check_action("lock", ()) is None
        await pilot.press("w")
        await pilot.pause()
        assert not isinstance(app.screen, (ConfirmScreen, TypedConfirmScreen))
        assert "profile was removed" in " ".join(notifications(app))
        await pilot.press("f")
        await settle(pilot)
        await choose(pilot, "profile removed")
        assert any("profile removed" in row for row in table_rows(app))
    # the refused key press is recorded (and audited), nothing was sent
    assert [(r.action, r.outcome) for r in actions_of(fleet, target)] == [("wipe", "refused")]


async def test_delete_device_information_after_yes(fleet, sim):
    target = mi_device(fleet, sim, "stale")
    app = create_app(fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await highlight(pilot, fleet, target)
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot, 4)
        assert devices_table(app).row_count == 0  # the filter still shows its serial: gone
    with fleet.db.connection_context():
        assert Device.get_or_none(Device.id == target.id) is None
        assert AuditEvent.select().where(AuditEvent.action == "device.delete",
                                         AuditEvent.device_id == target.id).count() == 1


async def test_ssh_hangup_mid_action_lets_it_record_its_answer_then_exits(fleet, sim):
    """SIGHUP while a lock is in flight: the MDM's answer is still recorded, then the console leaves."""
    from mdmtui.sim import Faults

    target = mi_device(fleet, sim)
    sim.set_faults(Faults(latency_ms=1500), mdm="mobileiron")  # the lock is in flight for a while
    app = create_app(fleet)
    try:
        async with app.run_test(size=(160, 45)) as pilot:
            await settle(pilot)
            await highlight(pilot, fleet, target)
            await pilot.press("l")
            await pilot.pause()
            await pilot.press("y")
            await pilot.pause(0.5)
            [row] = actions_of(fleet, target)
            assert row.outcome == "unknown"  # written ahead: the command has left, no answer yet
            app.on_hangup()  # what the SIGHUP handler calls when the SSH session drops
            for _ in range(100):
                if app.return_code is not None:
                    break
                await pilot.pause(0.1)
            assert app.return_code == 0, "the console did not leave after the hang-up"
    finally:
        sim.set_faults(None, mdm="mobileiron")
    [row] = actions_of(fleet, target)
    assert row.outcome == "succeeded"  # the in-flight answer was recorded before exiting
