"""Linkages screen: add with inline validation errors, then a valid one lands in the database."""

from __future__ import annotations

from textual.widgets import DataTable, Input, Label, Select

from mdmtui.models import Linkage
from mdmtui.screens.app import create_app
from mdmtui.screens.linkage_form import LinkageFormScreen


async def _type(pilot, selector: str, text: str) -> None:
    field = pilot.app.screen.query_one(selector, Input)
    field.focus()
    field.value = ""
    await pilot.press(*list(text)) if text else None
    await pilot.pause()


async def test_linkage_form_shows_errors_inline_then_saves(tui_ctx):
    app = create_app(tui_ctx, start="linkages")
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "No linkage yet" in str(app.screen.query_one("#linkage-info").render())
        await pilot.press("n")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, LinkageFormScreen)
        form.query_one("#system", Select).value = "mobileiron"
        await pilot.pause()
        await _type(pilot, "#in-name", "MI 1")
        await _type(pilot, "#in-server_url", "https://mi_core.example.com")
        error = str(form.query_one("#err-server_url", Label).render()) + str(form.query_one("#form-error").render())
        assert "underscore" in error
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen is form  # not saved
        with tui_ctx.db.connection_context():
            assert Linkage.select().count() == 0
        await _type(pilot, "#in-server_url", "https://core.example.com")
        await _type(pilot, "#in-user", "api")
        await _type(pilot, "#in-password", "s3cret-pass")
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not isinstance(app.screen, LinkageFormScreen)
        with tui_ctx.db.connection_context():
            stored = Linkage.get(Linkage.name == "MI 1")
        assert stored.system == "mobileiron" and stored.password_enc and "s3cret" not in stored.password_enc
        table = app.screen.query_one(DataTable)
        assert table.row_count == 1
        assert table.get_row_at(0)[:2] == ["MI 1", "mobileiron"]
        assert table.get_row_at(0)[4] == "never"
