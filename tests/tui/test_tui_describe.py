"""The describe view (enter on a device) and the pending-actions view (6): everything by keyboard,
y copies the highlighted value (OSC 52), the software filter, refreshed pending list."""

from __future__ import annotations

from textual.widgets import DataTable, OptionList
from tui_helpers import device, highlight, notifications, screen_text, settle

from mdmtui.storage.models import DeviceHistory
from mdmtui.screens.app import create_app
from mdmtui.screens.describe import DescribeScreen
from mdmtui.services import control


async def test_enter_describes_the_device_full_screen_and_y_copies_a_value(fleet, sim):
    target = device(fleet, mdm_device_id=sim.scenario_devices["intune"]["many_apps"])
    with fleet.db.connection_context():
        DeviceHistory.create(device=target.id, field="phone_number", old_value="+817000000001", new_value=None)
    app = create_app(fleet)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        await highlight(pilot, fleet, target)
        await pilot.press("enter")
        await settle(pilot)
        view = app.screen
        assert isinstance(view, DescribeScreen)
        kinds = [label for kind, label, _v in view.lines if kind == "head"]
        assert kinds[0] == "Security problems" and "Pending actions" in kinds and "History" in kinds
        assert "Audit" in kinds and kinds[-1].startswith("Software (")
        seen: set[str] = set()
        for _ in range(40):  # every line reachable by keyboard
            seen.add(screen_text(app))
            await pilot.press("pagedown")
        text = "\n".join(seen)
        assert "IMEI" in text and "Contract phone number" in text and "Software (" in text
        await pilot.press("home")
        options = view.query_one(OptionList)
        imei = next(i for i, line in enumerate(view.lines) if line[1] == "IMEI")
        options.highlighted = imei
        await pilot.press("y")
        assert app.clipboard == target.imei  # what copy_to_clipboard sends as OSC 52
        assert any(f"copied IMEI: {target.imei}" in n for n in notifications(app))
        await pilot.press("slash", *"zzz-no-such-app", "enter")
        await settle(pilot)
        assert any(kind == "text" and value == "no software matches" for kind, _l, value in view.lines)
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, DescribeScreen)


async def test_pending_view_lists_actions_not_final_and_follows_them_up(fleet):
    import asyncio

    target = device(fleet, os_class="IS", missing_since=None)
    with fleet.db.connection_context():
        await control.act(fleet, [target.id], "lock", follow=False)
    await asyncio.sleep(0.5)
    app = create_app(fleet, start="pending")
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        await settle(pilot)
        table = app.screen.query_one(DataTable)
        assert table.row_count == 1
        assert [str(c) for c in table.get_row_at(0)][1:3] == ["lock", "pending"]
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DescribeScreen)
        assert any(kind == "item" and label == "lock (pending)" for kind, label, _v in app.screen.lines)
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("u")
        await settle(pilot, 5)
        assert table.row_count == 0
        assert "No pending action" in str(app.screen.query_one("#pending-info").render())
