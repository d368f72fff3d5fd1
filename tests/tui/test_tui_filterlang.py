"""The Devices screen's filter language: typed terms give the rows the inventory gives for them, ``!``
negates, a bad term shows its error and keeps the rows, ↑/↓ walk the history across a restart, saved
views are saved, recalled and deleted (files in the data and config directories)."""

from __future__ import annotations

import json

import pytest
from test_tui_snapshots import frozen_fleet  # noqa: F401 - the fixture
from textual.widgets import Input, Label
from tui_helpers import burst, devices_table, settle, table_rows

from mdmtui import filterstore
from mdmtui.storage.models import Device
from mdmtui.screens.app import create_app
from mdmtui.screens.dialogs import ChoiceScreen, FormScreen
from mdmtui.services import inventory
from mdmtui.services.context import open_context


async def enter_filter(pilot, text: str, submit: bool = True) -> None:
    """``/``, the text typed as one burst (spaces, quotes, Japanese), enter."""
    await pilot.press("slash")
    pilot.app.screen.query_one("#filter", Input).value = ""
    await burst(pilot, *text)
    if submit:
        await pilot.press("enter")
    await settle(pilot)


def expected_names(ctx, text: str, **quick) -> list[str]:
    with ctx.db.connection_context():
        return [d.computer_name for d in inventory.page(inventory.filter_text(text, **quick), 0, 500)]


def shown_names(app) -> list[str]:
    """The Name cell of every loaded row, in order (the whole result: the fleet is small)."""
    table = devices_table(app)
    return [table.row_at(i).computer_name for i in range(table.row_count)]


def error_text(app) -> str:
    label = app.screen.query_one("#filter-error", Label)
    return str(label.render()) if label.display else ""


async def test_typed_terms_give_the_inventory_rows(fleet):
    with fleet.db.connection_context():
        carrier = Device.select().where(Device.os_name == "iOS", Device.carrier.is_null(False)).first().carrier
    text = f'os:iOS carrier:"{carrier}"'
    wanted = expected_names(fleet, text)
    assert 0 < len(wanted) <= len(expected_names(fleet, "os:iOS"))
    app = create_app(fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await enter_filter(pilot, text)
        assert shown_names(app) == wanted
        table = devices_table(app)
        assert {(table.row_at(i).os_name, table.row_at(i).carrier) for i in range(table.row_count)} == {
            ("iOS", carrier)}
        assert len(table_rows(app)) == len(wanted)
        assert devices_table(app).has_focus and error_text(app) == ""


async def test_negation_keeps_every_other_device(fleet):
    with fleet.db.connection_context():
        total = Device.select().count()
    ios = expected_names(fleet, "os:iOS")
    app = create_app(fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await enter_filter(pilot, "!os:iOS")
        names = shown_names(app)
        assert len(names) == total - len(ios) > 0
        assert names == expected_names(fleet, "!os:iOS")
        await enter_filter(pilot, "!os:iOS !iphone")
        assert shown_names(app) == expected_names(fleet, "!os:iOS !iphone")
        assert all("iphone" not in (n or "").lower() for n in shown_names(app))


async def test_a_bad_term_shows_its_error_and_keeps_the_rows(fleet):
    app = create_app(fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await enter_filter(pilot, "os:iOS")
        before = shown_names(app)
        await pilot.press("slash", "end")  # "/" selects the text (typing replaces it): add to it instead
        await burst(pilot, *" !colour:red")  # "!colour" (no device says colour) is read, then "!colour:" is not
        assert "unknown field 'colour'" in error_text(app) and "not applied (rows unchanged)" in error_text(app)
        assert shown_names(app) == before
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.query_one("#filter", Input).has_focus  # stays to be fixed
        await burst(pilot, *["backspace"] * 11, *'"Intune')
        assert "unclosed quote" in error_text(app) and shown_names(app) == before
        await burst(pilot, '"')
        assert error_text(app) == "" and shown_names(app) == expected_names(fleet, 'os:iOS "Intune"')
        assert app.screen.query_one("#filter").has_class("-invalid") is False


async def test_history_walks_earlier_filters_across_a_restart(fleet):
    app = create_app(fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await enter_filter(pilot, "os:iOS")
        await enter_filter(pilot, "!os:iOS  ")
        await enter_filter(pilot, "os:iOS")  # again: moved to the newest
    assert filterstore.load_history(fleet.settings) == ["!os:iOS", "os:iOS"]
    again = open_context(fleet.settings)
    app = create_app(again)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await pilot.press("slash", "x")
        await settle(pilot)
        field = app.screen.query_one("#filter", Input)
        await pilot.press("up")
        await settle(pilot)
        assert field.value == "os:iOS" and shown_names(app) == expected_names(fleet, "os:iOS")
        await pilot.press("up")
        await settle(pilot)
        assert field.value == "!os:iOS" and shown_names(app) == expected_names(fleet, "!os:iOS")
        await pilot.press("up", "down")
        assert field.value == "os:iOS"
        await pilot.press("down")
        await settle(pilot)
        assert field.value == "x"  # back to what was being typed
    again.db.close()


async def test_save_recall_and_delete_a_view(fleet):
    app = create_app(fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await enter_filter(pilot, "!os:iOS")
        app.screen._apply(missing=False, sort="model", descending=True)  # as the quick filter and sort keys do
        await settle(pilot)
        wanted = shown_names(app)
        await pilot.press("V")
        assert isinstance(app.screen, FormScreen)
        await burst(pilot, *"not iOS 営業")
        await pilot.press("ctrl+s")
        await settle(pilot)
        stored = json.loads(filterstore.views_path(fleet.settings).read_text(encoding="utf-8"))
        assert stored["not iOS 営業"] == {
            "filter": "!os:iOS", "linkage": None, "os_class": None, "device_status": None, "missing": False,
            "security_problem": None, "sort": "model", "descending": True}
        for _ in range(3):
            await pilot.press("escape")
            await settle(pilot)
        assert app.screen.query_one("#filter", Input).value == "" and shown_names(app) != wanted
        await pilot.press("v")
        await settle(pilot)
        chooser = app.screen
        assert isinstance(chooser, ChoiceScreen) and chooser.options[0][0].startswith("not iOS 営業 — !os:iOS")
        await pilot.press("enter")
        await settle(pilot)
        assert shown_names(app) == wanted and app.screen.query_one("#filter", Input).value == "!os:iOS"
        assert (devices_table(app).sort_key, devices_table(app).descending) == ("model", True)
        await pilot.press("v")
        await settle(pilot)
        await pilot.press("end", "enter")  # "Delete a saved view…"
        await settle(pilot)
        assert isinstance(app.screen, ChoiceScreen) and app.screen.title_text == "Delete the saved view"
        await pilot.press("enter")
        await settle(pilot)
    assert filterstore.load_views(fleet.settings) == {}


@pytest.mark.parametrize("size", [(80, 24), (160, 45)], ids=["80x24", "160x45"])
def test_filter_error_snapshot(frozen_fleet, snap_compare, size):  # noqa: F811 - the imported fixture
    """A filter that cannot be read: the error line under the prompt, the rows of the last good filter."""
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("slash")
        await burst(pilot, *'os:iOS "高橋')
    app = create_app(frozen_fleet, poll_seconds=3600)
    assert snap_compare(app, terminal_size=size, run_before=run_before)


async def test_another_screen_opens_the_devices_with_a_filter(fleet):
    app = create_app(fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        app.screen._apply(missing=False)
        app.screen.show_filter('os:iOS !carrier:"no such carrier"')
        await settle(pilot)
        assert shown_names(app) == expected_names(fleet, "os:iOS")
        assert app.screen.query_one("#filter", Input).value == 'os:iOS !carrier:"no such carrier"'
        assert app.screen.source.filter.missing is None  # quick filters cleared
        app.screen.show_filter("os:iOS colour:red")
        await settle(pilot)
        assert "unknown field 'colour'" in error_text(app) and len(shown_names(app)) > len(expected_names(
            fleet, "os:iOS"))  # nothing readable: every device, the error says why


async def test_a_field_waiting_for_its_value_shows_a_hint_not_an_error(fleet):
    app = create_app(fleet)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await enter_filter(pilot, "os:iOS carrier:", submit=False)
        assert shown_names(app) == expected_names(fleet, "os:iOS")  # not the rows of "os:iOS carrier"
        assert error_text(app).startswith("… carrier: part of the carrier")
        assert not app.screen.query_one("#filter").has_class("-invalid")
        await pilot.press("enter")
        await settle(pilot)
        assert error_text(app).startswith("✗ not applied (rows unchanged): carrier: needs a value")
        assert app.screen.query_one("#filter", Input).has_focus


async def test_markup_in_a_bad_value_is_shown_as_typed(fleet):
    app = create_app(fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await enter_filter(pilot, "osver:[b]1[/b]", submit=False)
        assert "osver: '[b]1[/b]' is not a version number" in error_text(app)
