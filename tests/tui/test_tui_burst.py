"""Keys typed in one burst (a paste, a fast typist over SSH) all land in the filter, in order."""

from __future__ import annotations

import pytest
from textual.widgets import Input
from tui_helpers import burst, notifications, settle

from mdmtui.screens.app import create_app


@pytest.mark.parametrize("keys,expected", [
    (("slash", "a", "b", "c", "backspace", "backspace", "k"), "ak"),
    (("slash", "a", "b", "c", "ctrl+u", "k", "i", "m", "3", "2"), "kim32"),
    (("slash", "a", "b", "left", "left", "x"), "xab"),
])
async def test_a_burst_of_keys_after_slash_edits_the_filter_in_order(fleet, keys, expected):
    app = create_app(fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await burst(pilot, *keys)
        assert app.screen.query_one("#filter", Input).value == expected


async def test_a_slash_typed_in_the_filter_is_text(fleet):
    app = create_app(fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await burst(pilot, "slash", "a", "slash", "b")
        assert app.screen.query_one("#filter", Input).value == "a/b"
        assert not any("not available" in n for n in notifications(app))


async def test_tab_then_arrows_in_one_burst_switch_the_detail_tabs(fleet):
    app = create_app(fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await burst(pilot, "tab", "right", "right")
        assert app.screen.query_one("#detail-tabs").active == "tab-history"
        assert app.screen.query_one("#devices").first_column == 0  # the table did not get the arrows
