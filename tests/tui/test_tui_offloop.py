"""A bulk lock from the console while a collection holds the database: the database work of the action runs
in its own thread (mdmtui.storage.DbThread), never on Textual's event loop, so the console keeps answering
keys while SQLite's writer lock is taken; the lock is sent and recorded once the lock is released."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

from textual.widgets import Input
from test_tui_actions import actions_of, results_text
from tui_helpers import highlight, settle

from mdmtui.storage.models import Device
from mdmtui.screens.app import create_app
from mdmtui.screens.dialogs import TypedConfirmScreen
from mdmtui.storage import in_db_thread


def hold_writer_lock(path: str, seconds: float, started: threading.Event) -> threading.Thread:
    """Another process's collection applying: SQLite's write lock held for ``seconds``."""
    def hold() -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE collection_lock SET heartbeat_at = heartbeat_at")  # a write in the transaction
        started.set()
        time.sleep(seconds)
        conn.execute("COMMIT")
        conn.close()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    return thread


async def test_bulk_lock_during_a_collection_apply_keeps_database_work_off_the_event_loop(fleet, sim):
    with fleet.db.connection_context():
        targets = list(Device.select().where(Device.os_class == "M", Device.computer_name.is_null(False))
                       .order_by(Device.computer_name).limit(2))
    on_loop: list[str] = []
    in_thread: list[str] = []
    recording = False
    execute_sql = fleet.db.execute_sql

    def watched(sql, params=None, *args, **kwargs):
        if recording:
            (on_loop if _loop_running() else in_thread).append(sql)
        return execute_sql(sql, params, *args, **kwargs)

    fleet.db.execute_sql = watched
    app = create_app(fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        for target in targets:
            await highlight(pilot, fleet, target)
            await pilot.press("space", "slash")
            app.screen.query_one("#filter", Input).value = ""
            await pilot.press("enter")
            await settle(pilot)
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, TypedConfirmScreen) and app.screen.expected == "2"
        started = threading.Event()
        holder = hold_writer_lock(fleet.db.database, 1.5, started)
        assert started.wait(5)
        recording = True
        await pilot.press("2", "enter")
        # the loop answers while the action's first write waits on the lock
        beats = 0
        for _ in range(10):
            await asyncio.sleep(0.05)
            beats += 1
        assert beats == 10 and holder.is_alive(), "the writer lock was released before the check"
        holder.join()
        await settle(pilot, 6)
        recording = False
        assert results_text(app).count("succeeded") == 2
    fleet.db.execute_sql = execute_sql
    assert any("device_action" in sql for sql in in_thread), in_thread[:5]
    assert on_loop == [], f"database work on the event loop: {on_loop[:5]}"
    for target in targets:
        assert [(r.action, r.outcome) for r in actions_of(fleet, target)] == [("lock", "succeeded")]


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return not in_db_thread()
