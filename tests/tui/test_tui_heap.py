"""The console freezes the heap it has once it is on screen, so a full garbage collection does not walk
every startup object again in the middle of a keystroke's repaint; headless runs (tests) do not."""

from __future__ import annotations

import gc

from textual.app import App
from tui_helpers import settle

from mdmtui.screens.app import create_app


async def test_the_console_on_a_terminal_freezes_its_startup_heap(tui_ctx, monkeypatch):
    gc.unfreeze()
    monkeypatch.setattr(App, "is_headless", property(lambda self: False))
    app = create_app(tui_ctx)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()  # the test process builds many more apps


async def test_a_headless_console_does_not(tui_ctx):
    gc.unfreeze()
    app = create_app(tui_ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert gc.get_freeze_count() == 0
