"""Issue 14, pending actions at a glance: the header's ``pending: N`` badge and the device table's
``wait`` marker while an action is not final, both gone once a follow-up settles it."""

from __future__ import annotations

import asyncio

from tui_helpers import device, devices_table, settle

from mdmtui.storage.models import Device, DeviceAction
from mdmtui.screens.app import create_app
from mdmtui.screens.devices import mdm_cell
from mdmtui.services import control


def header(app) -> str:
    """The header line as shown."""
    return str(app.screen.query_one("AppHeader").render())


def waiting_ids(app) -> list[int]:
    """The devices whose MDM cell shows the pending marker (every row is on the first page)."""
    table = devices_table(app)
    rows = [table.row_at(i) for i in range(table.row_count)]
    assert all(row is not None for row in rows)
    return [row.id for row in rows if mdm_cell(row) == "wait"]


async def test_pending_badge_and_marker_show_while_a_lock_is_pending_and_go_after_follow_up(fleet):
    target = device(fleet, os_class="IS", missing_since=None)  # an Intune phone: Intune's lock is asynchronous
    app = create_app(fleet)
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        await settle(pilot)
        assert "pending:" not in header(app) and waiting_ids(app) == []
        with fleet.db.connection_context():
            [sent] = await control.act(fleet, [target.id], "lock", follow=False)
        assert sent.outcome.value == "pending"
        app.data_version += 1  # what the console's own actions do after sending
        await settle(pilot)
        assert "pending: 1" in header(app)
        assert waiting_ids(app) == [target.id]
        assert len([t for t in devices_table(app).visible_text()[1:] if " wait " in t]) == 1  # as shown
        await asyncio.sleep(0.5)  # the simulated device carries the lock out meanwhile
        await pilot.press("u")
        await settle(pilot, 5)
        assert "pending:" not in header(app)
        assert waiting_ids(app) == []


async def test_an_unknown_outcome_counts_as_not_final_too(fleet):
    with fleet.db.connection_context():
        first, second = Device.select().where(Device.missing_since.is_null()).order_by(Device.id).limit(2)
        for dev, outcome in ((first, "unknown"), (second, "succeeded")):
            DeviceAction.create(device=dev.id, linkage_name=dev.linkage_name, mdm_device_id=dev.mdm_device_id,
                                device_name=dev.computer_name, action="lock", outcome=outcome)
    app = create_app(fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        assert "pending: 1" in header(app)
        assert waiting_ids(app) == [first.id]
