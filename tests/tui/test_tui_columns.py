"""The Devices screen's columns (issue 14): the admin picks which are shown (o), Name stays frozen at the
left, the choice is remembered in the config file across restarts, and the sort direction is always
visible in the header — also when the sort column is off screen."""

from __future__ import annotations

from textual.widgets import OptionList
from tui_helpers import devices_table, notifications, settle

from mdmtui.config import load_settings
from mdmtui.storage.models import AssetInfo, Device
from mdmtui.screens.app import create_app
from mdmtui.screens.devices import DEFAULT_COLUMNS
from mdmtui.screens.dialogs import ChecklistScreen
from mdmtui.services.context import open_context


def header(app) -> str:
    return devices_table(app).visible_text()[0]


def labels(app) -> list[str]:
    """The table's columns (those scrolled off screen too)."""
    return [c.label for c in devices_table(app).columns]


async def toggle(pilot, *labels: str) -> None:
    """Tick or untick these entries of the open checklist (by their labels), as the admin would."""
    checks = pilot.app.screen.query_one(OptionList)
    for label in labels:
        index = next(i for i in range(checks.option_count)
                     if str(checks.get_option_at_index(i).prompt)[4:] == label)
        before = str(checks.get_option_at_index(index).prompt)[:3]
        checks.highlighted = index
        await pilot.press("space")
        after = str(checks.get_option_at_index(index).prompt)[:3]
        assert {before, after} == {"[x]", "[ ]"}  # the state is written, not only coloured


async def test_hidden_and_added_columns_are_remembered_across_a_restart(tmp_path, fleet, monkeypatch):
    config = tmp_path / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("# the admin's own notes\nstale_days = 30\n", encoding="utf-8")
    monkeypatch.setenv("MDMTUI_CONFIG", str(config))
    with fleet.db.connection_context():
        for dev in Device.select(Device.id):
            AssetInfo.create(device=dev.id, asset_number=f"PC-{dev.id:04d}")
    settings = load_settings(data_dir=str(tmp_path / "data"), config_dir=str(tmp_path / "config"))
    ctx = open_context(settings)
    app = create_app(ctx)
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        await settle(pilot)
        assert "Carrier" in labels(app) and "Asset number" not in labels(app)
        await pilot.press("o")
        await settle(pilot)
        assert isinstance(app.screen, ChecklistScreen)
        await toggle(pilot, "Carrier", "Device Type", "Model", "Asset number", "User")
        await pilot.press("ctrl+s")
        await settle(pilot)
        shown = labels(app)
        assert shown[0] == "Name" and "Asset number" in shown and "User" in shown
        assert "Carrier" not in shown and "Device Type" not in shown and "Model" not in shown
        assert header(app).lstrip().startswith("Name ▲ ")
        for _ in range(8):  # scroll by whole columns to the asset number: the page query carries it
            await pilot.press("right")
        await settle(pilot)
        first = devices_table(app).cursor_row
        assert "Asset number" in header(app) and f"PC-{first.id:04d}" in devices_table(app).visible_text()[1]
        assert any("columns remembered in" in n for n in notifications(app))
    ctx.db.close()
    text = config.read_text(encoding="utf-8")
    assert text.startswith("# the admin's own notes\nstale_days = 30\n") and "[console]" in text
    # a new console from the same config file
    again = open_context(load_settings(data_dir=str(tmp_path / "data"), config_dir=str(tmp_path / "config")))
    keys = [k for k in DEFAULT_COLUMNS if k not in {"carrier", "device_type", "model"}]
    assert set(again.settings.console.device_columns) == {*keys, "asset_number", "user_name"}
    app = create_app(again)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        shown = labels(app)
        assert "Asset number" in shown and "User" in shown and "Carrier" not in shown and "Model" not in shown
    again.db.close()


async def test_cancel_changes_nothing_and_an_unknown_configured_column_is_left_out(fleet):
    fleet.settings.console.device_columns = ["imei", "no_such_column", "udid"]
    app = create_app(fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        assert [c.label for c in devices_table(app).columns] == ["Name", "IMEI", "UDID"]
        await pilot.press("o")
        await settle(pilot)
        await toggle(pilot, "IMEI")
        await pilot.press("escape")
        await settle(pilot)
        assert [c.label for c in devices_table(app).columns] == ["Name", "IMEI", "UDID"]
        assert not fleet.settings.config_file.exists()


async def test_the_sort_direction_is_visible_when_the_sort_column_is_off_screen(fleet):
    app = create_app(fleet)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.screen._sort_by("linkage_name")  # the last column: off screen at 80 columns
        await settle(pilot)
        assert header(app).rstrip().endswith("sorted by Linkage ▲ ▶")
        app.screen._sort_by("linkage_name")  # again: reversed
        await settle(pilot)
        assert "sorted by Linkage ▼" in header(app)
        app.screen._sort_by("missing_since")  # a 4-cell column: its label is cut, never the arrow
        await settle(pilot)
        assert "M… ▲" in header(app) and "sorted by" not in header(app)
        await pilot.press("o")
        await settle(pilot)
        await toggle(pilot, "MDM")  # the sort column hidden: the header still names it
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "sorted by MDM ▲" in header(app)
