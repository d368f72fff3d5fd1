"""The Overview screen: the first screen, its counts on a known fleet, and the drill-down from a count or
a bar to the Devices screen filtered to exactly those devices (shown, and cleared with esc)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from tui_helpers import devices_table, settle

sys.path.insert(0, str(Path(__file__).parent.parent / "services"))
from overview_helpers import build_known_fleet  # noqa: E402

from mdmtui.screens.app import create_app  # noqa: E402
from mdmtui.widgets.figures import FigureList  # noqa: E402

pytestmark = pytest.mark.first_screen


@pytest.fixture
def known(tui_ctx):
    with tui_ctx.db.connection_context():
        build_known_fleet(tui_ctx)
    return tui_ctx


def listed(app) -> list[str]:
    """The MDM ids of every device the Devices screen lists now."""
    table = devices_table(app)
    return sorted(table.row_at(i).mdm_device_id for i in range(table.row_count or 0))


async def test_overview_is_the_first_screen_and_drills_down_from_a_count(known):
    app = create_app(known, poll_seconds=3600)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        assert app.current_mode == "overview"
        security = app.screen.query_one("#security", FigureList)
        assert security.has_focus and security.figure().key == "jailbroken"
        await pilot.press("down", "down", "down", "down", "down", "down")  # to the duplicates
        assert security.figure().key == "duplicates" and security.figure().count == 2
        await pilot.press("enter")
        await settle(pilot)
        assert app.current_mode == "devices" and listed(app) == ["a", "f"]
        assert "from the overview: two linkages, same serial/IMEI" in str(app.screen.query_one("#quick").render())
        await pilot.press("escape")
        await settle(pilot)
        assert len(listed(app)) == 6 and not app.screen.has_class("-quick")


async def test_drill_down_from_an_os_version_bar(known):
    app = create_app(known, poll_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        versions = app.screen.query_one("#versions", FigureList)
        versions.focus()
        assert versions.figure().drill == {"os_name": "Android", "os_version": "14"}
        await pilot.press("down")  # the heading "iOS (4)" is skipped: iOS 9.3, the oldest
        assert versions.figure().drill == {"os_name": "iOS", "os_version": "9.3"}
        await pilot.press("enter")
        await settle(pilot)
        assert listed(app) == ["b"]
        assert "from the overview: iOS 9.3" in str(app.screen.query_one("#quick").render())
        await pilot.press("8")  # back to the overview, then another bar replaces the filter
        await settle(pilot)
        await pilot.press("down", "enter")
        await settle(pilot)
        assert listed(app) == ["c"]


async def test_arrows_walk_every_list_and_refresh_counts_again(known):
    from mdmtui.storage.models import Device

    app = create_app(known, poll_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        seen = []
        for _ in range(40):
            focused = app.screen.focused
            seen.append(focused.id)
            await pilot.pause()
            row = focused.region.y + (focused.highlighted or 0 if isinstance(focused, FigureList) else 0)
            assert 0 < row < 23, (focused.id, focused.highlighted)  # the page follows: the row shows
            await pilot.press("down")
        assert {"security", "actions", "os-mix", "versions", "last-seen", "linkages", "history"} <= set(seen)
        assert app.screen.figures.devices.count == 6
        with known.db.connection_context():
            Device.update(jailbroken=True).execute()
        await pilot.press("r")
        await settle(pilot)
        assert {f.key: f.count for f in app.screen.figures.security}["jailbroken"] == 6


async def test_the_history_draws_sparklines_from_the_runs(known):
    from textual.widgets import Sparkline

    app = create_app(known, poll_seconds=3600)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        sparks = list(app.screen.query(Sparkline))
        assert len(sparks) == 4  # MI and SDM: duration and inventory total each
        assert list(sparks[1].data) == [5.0, 5.0]  # MI's inventory after each of its two runs


async def test_hostile_names_show_escaped_and_markup_is_not_parsed(tui_ctx):
    from mdmtui.storage.models import Device

    with tui_ctx.db.connection_context():
        Device.create(linkage=None, linkage_name="[bold]evil\x1b[31m", mdm_device_id="x", os_class="M",
                      os_name="[/]iOS\x1b]8;;http://x\x07", os_version="1[red]")
    app = create_app(tui_ctx, poll_seconds=3600)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        versions = app.screen.query_one("#versions", FigureList)
        lines = [str(versions.get_option_at_index(i).prompt) for i in range(versions.option_count)]
        assert lines[0].startswith("[/]iOS\\x1b]8;;http://x\\x07 (1)") and "1[red]" in lines[1]
        linkages = app.screen.query_one("#linkages", FigureList)
        assert str(linkages.get_option_at_index(0).prompt).startswith("[bold]evil\\x1b[31m (removed)")
        await pilot.press("tab", "tab", "tab", "enter")  # the versions list: the device's own version
        await settle(pilot)
        assert devices_table(app).row_count == 1
