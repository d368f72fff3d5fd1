"""A new filter keystroke cancels the stale count at once (the statement itself is interrupted)."""

from __future__ import annotations

import threading
import time

import pytest

from peewee import OperationalError
from textual.widgets import Label
from tui_helpers import burst, settle

from mdmtui.storage.interrupt import Interrupter
from mdmtui.storage.models import Device, utcnow
from mdmtui.screens.app import create_app
from mdmtui.services import inventory

SLOW = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000000) "
        "SELECT count(*) FROM n")  # tens of seconds: only an interrupt ends it soon


def test_interrupter_stops_a_running_sqlite_statement(sqlite_ctx):
    interrupter, outcome = Interrupter(), {}

    def run():
        with sqlite_ctx.db.connection_context(), interrupter.watching(sqlite_ctx.db):
            try:
                sqlite_ctx.db.execute_sql(SLOW)
            except OperationalError as exc:
                outcome["error"] = str(exc)

    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(0.2)
    start = time.perf_counter()
    interrupter.interrupt()
    worker.join(10)
    assert not worker.is_alive() and outcome == {"error": "interrupted"}
    assert time.perf_counter() - start < 2 and interrupter.interrupted == 1
    interrupter.interrupt()  # nothing watched any more: a no-op
    assert interrupter.interrupted == 1
    with pytest.raises(OperationalError, match="interrupted"), interrupter.watching(sqlite_ctx.db):
        pass  # a statement that would start after the interrupt does not run either


@pytest.mark.timing
async def test_rapid_keystrokes_end_with_the_last_filters_rows_and_count(fleet, monkeypatch):
    with fleet.db.connection_context():
        Device.insert_many([dict(linkage=None, linkage_name="bulk", mdm_device_id=f"b{i}", os_class="IS",
                                 computer_name=f"kim-{i:04d}" if i % 3 else f"kiyo-{i:04d}",
                                 consumes_license=False, managed=True, orphaned=False, first_seen_at=utcnow(),
                                 search_text=(f"kim-{i:04d}" if i % 3 else f"kiyo-{i:04d}"))
                            for i in range(450)]).execute()
        expected = inventory.count(inventory.DeviceFilter(text="kim-"))
    real_count, stale = inventory.count, []

    def count(f):
        if inventory.filter_as_text(f) in {"k", "ki", "kim"}:  # a stale keystroke's count: as slow as a scan of a huge table
            try:
                Device._meta.database.execute_sql(SLOW)
            except OperationalError as exc:
                stale.append(str(exc))
                raise
        return real_count(f)

    monkeypatch.setattr(inventory, "count", count)
    app = create_app(fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        start = time.perf_counter()
        await pilot.press("slash", "k")  # not burst: that waits for every worker, the count too
        await pilot.pause(0.5)  # the count of "k" (more than a page of rows) is running now
        await burst(pilot, "i", "m", "minus")
        await settle(pilot)
        took = time.perf_counter() - start
        table = app.screen.query_one("#devices")
        assert table.row_count == expected == 300 and table._counted
        assert str(app.screen.query_one("#count", Label).render()) == "300 devices"
        assert all(r.startswith("  kim-") for r in table.visible_text()[1:5])
    deadline = time.monotonic() + 5
    while not stale and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stale and set(stale) == {"interrupted"}  # the stale count stopped, it did not run on
    assert took < 10
