"""A list screen's loads never overlap: a thread worker cannot be stopped, so a reload asked for while one
runs waits for it and runs once (at 100,000 devices each load is a scan of the device table)."""

from __future__ import annotations

import threading
import time

from tui_helpers import settle

from mdmtui.screens.app import create_app
from mdmtui.screens.licenses import LicensesScreen


async def test_reloads_asked_during_a_load_run_once_after_it_never_beside_it(tui_ctx, monkeypatch):
    running, most, calls = [0], [0], [0]
    lock = threading.Lock()
    fetch = LicensesScreen.fetch

    def slow_fetch(self):
        with lock:
            running[0] += 1
            calls[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.3)
        try:
            return fetch(self)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(LicensesScreen, "fetch", slow_fetch)
    app = create_app(tui_ctx, start="licenses")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await app.workers.wait_for_complete()
        first = calls[0]
        for _ in range(3):  # three data changes in a row (a collection, an action, an edit), then r
            app.data_version += 1
        await pilot.press("r")
        for _ in range(20):
            await pilot.pause(0.1)
            await app.workers.wait_for_complete()
    assert most[0] == 1, f"{most[0]} loads ran at once"
    assert calls[0] - first == 2  # the first change's load, then one for everything asked meanwhile
