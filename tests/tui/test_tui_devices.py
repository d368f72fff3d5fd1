"""Devices screen against a collected simulator fleet: filter as you type, sort (key and header click),
quick filters, the detail pane's groups and "not collected", software filter and count, asset
information kept across a collection and exported."""

from __future__ import annotations

import json

from rich.console import Console
from textual.widgets import Input, OptionList
from tui_helpers import device, devices_table, highlight, settle, table_rows

from mdmtui.storage.models import AssetInfo, AuditEvent, Device
from mdmtui.screens.app import create_app
from mdmtui.screens.dialogs import ChoiceScreen, FormScreen
from mdmtui.services import inventory


def text_of(widget) -> str:
    """What a Static shows, as plain text."""
    console = Console(width=200, color_system=None)
    with console.capture() as out:
        console.print(widget.content)
    return out.get()


def count_label(app) -> str:
    return str(app.screen.query_one("#count").render())


async def choose(pilot, label_part: str) -> None:
    """Pick the option of the open ChoiceScreen whose label contains ``label_part``."""
    screen = pilot.app.screen
    assert isinstance(screen, ChoiceScreen)
    index = next(i for i, (label, _v) in enumerate(screen.options) if label_part in label)
    screen.query_one(OptionList).highlighted = index
    await pilot.press("enter")
    await settle(pilot)


async def test_filter_as_you_type_then_escape_clears(fleet):
    with fleet.db.connection_context():
        total = Device.select().count()
        iphones = inventory.count(inventory.DeviceFilter(text="iphone"))
    app = create_app(fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        assert count_label(app) == f"{total:,} devices"
        await pilot.press("slash", "i", "p")
        await settle(pilot)
        partial = devices_table(app).row_count
        await pilot.press("h", "o", "n", "e", "enter")
        await settle(pilot)
        assert devices_table(app).row_count == iphones < partial < total
        assert count_label(app) == f"{iphones:,} devices"
        rows = table_rows(app)
        assert len(rows) == iphones and any("営業部の iPhone" in r for r in rows)
        assert devices_table(app).has_focus  # enter went back to the table
        await pilot.press("escape")
        await settle(pilot)
        assert devices_table(app).row_count == total
        assert app.screen.query_one("#filter", Input).value == ""


async def test_sort_by_key_then_header_click_reverses(fleet):
    with fleet.db.connection_context():
        serials = sorted(d.serial_number for d in Device.select() if d.serial_number)
    app = create_app(fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        await choose(pilot, "Serial")
        table = devices_table(app)
        assert (table.sort_key, table.descending) == ("serial_number", False)
        assert table.cursor_row.serial_number == serials[0]
        assert "Serial ▲" in table.visible_text()[0]
        x = 2 + sum(w + 1 for c, w in zip(table.columns, table._widths) if c.key != "serial_number"
                    and table.columns.index(c) < [c.key for c in table.columns].index("serial_number")) + 1
        await pilot.click("#devices", offset=(x, 0))  # the mouse: a click on the header sorts again
        await settle(pilot)
        assert (table.sort_key, table.descending) == ("serial_number", True)
        assert table.cursor_row.serial_number == serials[-1]
        assert "Serial ▼" in table.visible_text()[0]


async def test_quick_filter_security_problem_and_security_column(fleet):
    with fleet.db.connection_context():
        jailbroken = [d.id for d in Device.select().where(Device.jailbroken == True)]  # noqa: E712
    assert jailbroken
    app = create_app(fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await pilot.press("f")
        await settle(pilot)
        await choose(pilot, "jailbroken")
        assert devices_table(app).row_count == len(jailbroken)
        assert "security: jailbroken" in str(app.screen.query_one("#quick").render())
        assert all("jailbroken" in row for row in table_rows(app))
        await pilot.press("f")
        await settle(pilot)
        await choose(pilot, "Missing from its MDM")
        assert devices_table(app).row_count == 0
        assert "No device matches" in text_of(app.screen.query_one("#device-groups"))


async def test_detail_pane_groups_not_collected_and_software(fleet, sim):
    old_android = device(fleet, mdm_device_id=sim.scenario_devices["sdm"]["old_manager_android"])
    many = device(fleet, mdm_device_id=sim.scenario_devices["intune"]["many_apps"])
    app = create_app(fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await highlight(pilot, fleet, old_android)
        shown = text_of(app.screen.query_one("#device-groups"))
        for group in ("System", "Smart device", "Memory and storage", "Network", "Status", "Asset information"):
            assert f"\n{group}" in shown, group
        serial_line = next(line for line in shown.splitlines() if line.strip().startswith("Serial #"))
        assert "not collected" in serial_line  # SDM before 11-00-04 does not deliver it
        assert " GB" in shown  # sizes, not raw byte counts
        await highlight(pilot, fleet, many)
        with fleet.db.connection_context():
            total, _ = inventory.software_of(many.id, None, 0, 0)
            some, _ = inventory.software_of(many.id, "a", 0, 0)
        assert total >= 2500
        await pilot.press("tab", "right")  # the keys a user presses: into the pane, next tab
        await settle(pilot)
        assert app.screen.query_one("#detail-tabs").active == "tab-software"
        assert str(app.screen.query_one("#sw-count").render()) == f"{total:,} items"
        app.screen.query_one("#sw-filter", Input).value = "a"
        await settle(pilot)
        assert str(app.screen.query_one("#sw-count").render()) == f"{some:,} match of {total:,}"


async def test_asset_info_is_saved_kept_across_a_collection_and_exported(fleet):
    target = device(fleet, computer_name="営業部の iPhone", os_class="M")
    app = create_app(fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await highlight(pilot, fleet, target)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, FormScreen)
        await pilot.press(*"A-0042", "tab")  # the cursor starts in the first field
        app.screen.query_one("#f-department", Input).value = "営業部"  # (no IME in a test terminal)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "A-0042" in text_of(app.screen.query_one("#device-groups"))
        await pilot.press("c")  # a collection must not touch asset information
        await settle(pilot, 5)
        with fleet.db.connection_context():
            info = AssetInfo.get(AssetInfo.device == target.id)
            assert (info.asset_number, info.department) == ("A-0042", "営業部")
            assert AuditEvent.select().where(AuditEvent.action == "asset_info.edit").count() == 1
        await pilot.press("e")
        await settle(pilot)
        await choose(pilot, "JSON")
    exports = list((fleet.settings.data_dir / "exports").glob("devices-*.json"))
    assert len(exports) == 1
    rows = json.loads(exports[0].read_text(encoding="utf-8"))
    assert len(rows) == 1 and rows[0]["id"] == target.id  # the current view: filtered to one device
    assert rows[0]["asset_asset_number"] == "A-0042" and rows[0]["asset_department"] == "営業部"
    assert not any("password" in k or "secret" in k for k in rows[0])


async def test_the_stale_quick_filter_uses_the_configured_stale_days(fleet):
    from dataclasses import replace as _replace

    from mdmtui.screens import backend as _backend

    counts = {}
    for days in (30, 3650):
        ctx = _replace(fleet, settings=fleet.settings.model_copy(update={"stale_days": days}))
        app = create_app(ctx)
        async with app.run_test(size=(160, 45)) as pilot:
            await settle(pilot)
            source = app.screen.source.with_filter(security_problem="stale")
            counts[days] = await _backend.run_sync(source.count)
    assert counts[30] > 0 and counts[3650] == 0  # nobody is 10 years out of touch
