"""Issue 11 #5: MDM data with Rich markup, escape sequences and NUL goes through every screen and dialog
of the console; the console keeps running and shows the text literally (control characters escaped)."""

from __future__ import annotations

import pytest
from tui_helpers import device, link_and_collect, make_settings, screen_text, settle, type_filter

from mdmtui.storage.models import CollectionRun, Linkage
from mdmtui.screens.app import create_app
from mdmtui.screens.describe import DescribeScreen
from mdmtui.screens.dialogs import ChoiceScreen, ConfirmScreen, ResultsScreen, TypedConfirmScreen
from mdmtui.services import audit, events
from mdmtui.services.context import open_context

MARKUP = "[/]pwn [link=https://evil.example]click[/link]"
ESCAPES = "\x1b[2J\x1b]0;owned\x07bad\x00nul\x9b31m"
# as the inventory stores it: a NUL cannot be stored (PostgreSQL), it becomes U+FFFD
SHOWN_ESCAPES = "\\x1b[2J\\x1b]0;owned\\x07bad\ufffdnul\\x9b31m"


@pytest.fixture
async def hostile(tmp_path, sim):
    """The fleet, two of whose devices carry markup and control characters in name and user, collected;
    an event, an audit entry and a collection failure reason with the same."""
    slot_a, slot_b = 7, 4  # devices whose MobileIron record carries a name
    sim.fleets["mobileiron"].update(slot_a, device_name=MARKUP, user_name=f"user {MARKUP}")
    sim.fleets["mobileiron"].update(slot_b, device_name=f"zz {ESCAPES}", user_name=ESCAPES)
    ctx = open_context(make_settings(tmp_path))
    await link_and_collect(ctx, sim)
    with ctx.db.connection_context():
        target = device(ctx, computer_name=MARKUP)
        events.emit("action_failed", f"lock of {MARKUP}: failed: {ESCAPES}", linkage_name=target.linkage_name,
                    device_id=target.id)
        audit.record(ctx, category="action", action="lock", outcome="failed", message=f"{MARKUP} {ESCAPES}",
                     device_id=target.id, device_name=target.computer_name, linkage_name=target.linkage_name)
        run = CollectionRun.select().join(Linkage).where(Linkage.system == "sdm").get()
        CollectionRun.update(status="failed", reason=f"{MARKUP} {ESCAPES}").where(CollectionRun.id == run.id).execute()
    yield ctx
    ctx.db.close()


def _literal(app) -> str:
    text = screen_text(app)
    bad = [line for line in text.splitlines() if any(c in line for c in "\x1b\x00\x07\x9b")]
    assert not bad, [ascii(line) for line in bad]
    assert "\x1b" not in text and "\x00" not in text and "\x07" not in text and "\x9b" not in text
    return text


async def test_hostile_text_shows_literally_on_every_screen_and_dialog(hostile):
    app = create_app(hostile, poll_seconds=3600)
    async with app.run_test(size=(200, 50), notifications=True) as pilot:
        await settle(pilot)
        await type_filter(pilot, "pwn")
        assert "[/]pwn [link=https://evil.example]click[/link]" in _literal(app)
        for tab in ("tab-software", "tab-history", "tab-audit"):
            app.screen.query_one("#detail-tabs").active = tab
            await settle(pilot)
            shown = _literal(app)
        assert "[link=https://evil.example]click[/link]" in shown and "\\x1b[2J" in shown  # the Audit tab: the entry's message
        app.screen.query_one("#devices").focus()
        await pilot.press("enter")  # the describe view
        await settle(pilot)
        assert isinstance(app.screen, DescribeScreen) and MARKUP in _literal(app)
        await pilot.press("end")
        await settle(pilot)
        _literal(app)
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen) and MARKUP in _literal(app)
        await pilot.press("y")
        await settle(pilot, 5)
        assert isinstance(app.screen, ResultsScreen) and MARKUP in _literal(app)
        await pilot.press("enter")
        await type_filter(pilot, "zz")
        app.screen.query_one("#detail-tabs").active = "tab-device"
        await settle(pilot)
        assert "zz \\x1b[2J\\x1b]0;owned" in _literal(app)
        await pilot.press("w")
        await settle(pilot)
        assert isinstance(app.screen, TypedConfirmScreen) and SHOWN_ESCAPES in _literal(app)
        await pilot.press("escape")
        await pilot.press("f")
        await settle(pilot)
        assert isinstance(app.screen, ChoiceScreen)
        _literal(app)
        await pilot.press("escape")
        for key in ("2", "3", "4", "5", "6"):
            await pilot.press(key)
            await settle(pilot)
            shown = _literal(app)
            if key in "234":
                assert "[/]pwn" in shown and "[link=" in shown, key
        app.notify(f"{MARKUP} {ESCAPES}")  # a notification quoting MDM words
        await settle(pilot)
        shown = _literal(app)
        assert "[/]pwn" in shown and "\\x1b[2J" in shown
        await pilot.press("ctrl+p")
        await settle(pilot)
        _literal(app)
        await pilot.press("escape")
        await settle(pilot)
        assert app.is_running and app.return_code is None
