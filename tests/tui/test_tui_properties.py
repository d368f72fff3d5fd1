"""The sdm_import.properties editor: problems by line as you type; saved only when clean."""

from __future__ import annotations

from textual.widgets import Static, TextArea

from mdmtui.screens.app import create_app
from mdmtui.screens.properties import PropertiesScreen
from mdmtui.services import linkages


def _sdm(ctx, name="SDM 01"):
    with ctx.db.connection_context():
        linkages.create(ctx, {"name": name, "system": "sdm", "server_url": "https://sdm01.example.com",
                              "user": "admin", "password": "pw-123456"})


async def _open_editor(app, pilot):
    await pilot.press("i")
    await app.workers.wait_for_complete()
    await pilot.pause()
    assert isinstance(app.screen, PropertiesScreen)
    return app.screen


async def test_problems_are_listed_by_line_and_a_bad_file_is_not_saved(tui_ctx):
    _sdm(tui_ctx)
    app = create_app(tui_ctx, start="linkages")
    path = tui_ctx.settings.properties_path
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await app.workers.wait_for_complete()
        editor = await _open_editor(app, pilot)
        editor.query_one(TextArea).load_text("# ours\nsdm.1.name=SDM 99\nsdm.1.dbhost=bad_host\nsdm.1.dbport=70000\n")
        await pilot.pause()
        problems = str(editor.query_one("#props-problems", Static).render())
        assert "line 2:" in problems and "SDM 99" in problems
        assert "line 3:" in problems and "line 4:" in problems
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not path.exists()
        assert any("not saved" in n.message for n in app._notifications)
        editor.query_one(TextArea).load_text("# ours\nsdm.1.name=SDM 01\nsdm.1.dbhost=192.168.50.100\n")
        await pilot.pause()
        assert str(editor.query_one("#props-problems", Static).render()).startswith("OK: SDM 01 → 192.168.50.100:")
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# ours\n") and "sdm.1.dbhost=192.168.50.100" in text


async def test_control_characters_in_the_file_are_shown_escaped_and_not_saved(tui_ctx):
    from tui_helpers import screen_text

    _sdm(tui_ctx)
    path = tui_ctx.settings.properties_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("sdm.1.name=SDM 01\nsdm.1.dbhost=db\x1b[2J.example.jp\x00\n", encoding="utf-8")
    app = create_app(tui_ctx, start="linkages")
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await app.workers.wait_for_complete()
        editor = await _open_editor(app, pilot)
        shown = screen_text(app)
        assert "\x1b" not in shown and "\x00" not in shown
        assert "db\\x1b[2J.example.jp\\x00" in editor.query_one(TextArea).text
        assert "line 2:" in str(editor.query_one("#props-problems", Static).render())  # so it cannot be saved
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
    assert "\x1b" in path.read_text(encoding="utf-8")  # untouched
