"""End to end: the demo's own setup (simulator, throwaway database, linkages, sdm_import.properties,
first collection, a SIM swapped) with a small fleet, then the console driven through every screen."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable
from tui_helpers import devices_table, settle, table_rows

from mdmtui.cli.console import DEMO_LINKAGES, demo_environment, first_collection, swap_a_sim
from mdmtui.storage.models import Device, Event
from mdmtui.screens.app import create_app
from mdmtui.screens.help import HelpScreen


@pytest.mark.first_screen
async def test_demo_end_to_end(capsys):
    import asyncio

    with demo_environment(devices=45, seed=3) as demo:
        summaries = await asyncio.to_thread(first_collection, demo.ctx)
        assert [s.status for s in summaries] == ["succeeded"] * 3
        assert swap_a_sim(demo.sim)
        assert demo.ctx.settings.properties_path.exists()
        app = create_app(demo.ctx, banner="DEMO", poll_seconds=60)
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            await settle(pilot)
            assert app.current_mode == "overview" and app.screen.figures.devices.count == 45  # the first screen
            await pilot.press("1")
            await settle(pilot)
            assert devices_table(app).row_count == 45 and table_rows(app)
            await pilot.press("c")
            await settle(pilot, 6)
            await pilot.press("3")
            await settle(pilot)
            kinds = [app.screen.query_one(DataTable).get_row_at(i)[2]
                     for i in range(app.screen.query_one(DataTable).row_count)]
            assert "SIM swapped" in kinds
            await pilot.press("2")
            await settle(pilot)
            table = app.screen.query_one(DataTable)
            assert sorted(str(table.get_row_at(i)[0]) for i in range(table.row_count)) == sorted(DEMO_LINKAGES.values())
            await pilot.press("4")
            await settle(pilot)
            assert app.screen.query_one(DataTable).row_count > 0
            await pilot.press("5")
            await settle(pilot)
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape", "1")
            await settle(pilot)
            assert app.current_mode == "devices"
        with demo.ctx.db.connection_context():
            assert Device.select().count() == 45
            assert Event.select().where(Event.kind == "sim_swap").count() == 1
        directory = demo.directory
    assert not directory.exists()  # the throwaway data is gone
