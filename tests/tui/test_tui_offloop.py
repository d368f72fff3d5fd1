"""A bulk lock from the console while a collection holds SQLite's write lock: the action's database work
runs in the storage's worker threads, never on Textual's event loop (the storage refuses SQL there for
the length of the test), so the console keeps answering while the action's first write waits; the lock
is sent and recorded once the collection has written its run."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

import pytest
from textual.widgets import Input
from test_tui_actions import actions_of, results_text
from tui_helpers import highlight, settle

from mdmtui.screens.app import create_app
from mdmtui.screens.dialogs import TypedConfirmScreen
from mdmtui.services import collection, control
from mdmtui.storage.models import CollectionRun, Device

# the event loop's turns are timed: run alone (make test), not beside other workers
pytestmark = pytest.mark.timing

ACTION_INSERT = 'INSERT INTO "device_action"'
STALL_S = 1.0  # a turn of the loop this long means it waited (a loop blocked on the lock waits for seconds)


def two_mobileiron_devices(ctx) -> list[Device]:
    with ctx.db.connection_context():
        return list(Device.select().where(Device.os_class == "M", Device.computer_name.is_null(False))
                    .order_by(Device.computer_name).limit(2))


async def mark(pilot, ctx, targets: list[Device]) -> None:
    for target in targets:
        await highlight(pilot, ctx, target)
        await pilot.press("space", "slash")
        pilot.app.screen.query_one("#filter", Input).value = ""
        await pilot.press("enter")
        await settle(pilot)


def record_statements(ctx) -> list[tuple[bool, str]]:
    """Every statement from now on, with whether it ran in one of the storage's workers."""
    seen: list[tuple[bool, str]] = []
    ctx.db.query_hooks.append(lambda event: seen.append((ctx.storage.in_worker(), event.sql)))
    return seen


async def loop_gaps(seconds: float, step: float = 0.05) -> list[float]:
    """How long each of the event loop's turns took while ``seconds`` pass (it must keep turning)."""
    gaps: list[float] = []
    end = time.monotonic() + seconds
    while (now := time.monotonic()) < end:
        await asyncio.sleep(step)
        gaps.append(time.monotonic() - now)
    return gaps


async def wait_until(pilot, condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.05)


async def test_bulk_lock_while_the_consoles_collection_applies_runs_no_sql_on_the_event_loop(
        fleet, sim, monkeypatch):
    targets = two_mobileiron_devices(fleet)
    applying, release = threading.Event(), threading.Event()
    emit_events = collection.report.EventLog.emit

    def held_apply(log, linkage_name: str) -> None:  # inside the apply's transaction: SQLite's write lock is taken
        if not applying.is_set():
            applying.set()
            release.wait(20)
        emit_events(log, linkage_name)

    monkeypatch.setattr(collection.report.EventLog, "emit", held_apply)
    writing = threading.Event()
    write_ahead = control._Run.write_ahead

    def first_write(run, device):
        writing.set()
        return write_ahead(run, device)

    monkeypatch.setattr(control._Run, "write_ahead", first_write)
    runs_before = _succeeded_runs(fleet)
    app = create_app(fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await mark(pilot, fleet, targets)
        statements = record_statements(fleet)
        with fleet.storage.refusing_sql_here() as on_loop:
            await pilot.press("c")  # collect every linkage, from the console
            assert await asyncio.to_thread(applying.wait, 20), "no collection reached its apply"
            await pilot.press("l")
            await pilot.pause()
            assert isinstance(app.screen, TypedConfirmScreen) and app.screen.expected == "2"
            await pilot.press("2", "enter")
            assert await asyncio.to_thread(writing.wait, 10), "the lock never reached its first write"
            # the action's first write waits on the apply's lock in a worker; the loop keeps turning
            gaps = await loop_gaps(0.8)
            assert applying.is_set() and not release.is_set()
            assert not any(sql.startswith(ACTION_INSERT) for _, sql in statements), "the apply let go early"
            assert max(gaps) < STALL_S, f"the event loop stalled for {max(gaps):.2f} s"
            release.set()
            await wait_until(pilot, lambda: not app.collecting and "succeeded" in _screen_text(app))
            await settle(pilot, 6)
        fleet.db.query_hooks.clear()
        assert results_text(app).count("succeeded") == 2
    assert on_loop == [], f"database work on the event loop: {on_loop[:5]}"
    inserts = [in_worker for in_worker, sql in statements if sql.startswith(ACTION_INSERT)]
    assert inserts and all(inserts), "the action rows were not written by the storage's workers"
    for target in targets:
        assert [(r.action, r.outcome) for r in actions_of(fleet, target)] == [("lock", "succeeded")]
    assert _succeeded_runs(fleet) == runs_before + 3  # the collection wrote its runs too


def hold_writer_lock(path: str, release: threading.Event, started: threading.Event) -> threading.Thread:
    """Another process's collection applying: SQLite's write lock held until ``release`` (at most 8 s,
    under the 10 s busy timeout the action's write waits)."""
    def hold() -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE collection_lock SET heartbeat_at = heartbeat_at")  # a write in the transaction
        started.set()
        release.wait(8)
        conn.execute("COMMIT")
        conn.close()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    return thread


async def test_bulk_lock_during_another_process_apply_keeps_database_work_off_the_event_loop(fleet, sim):
    targets = two_mobileiron_devices(fleet)
    app = create_app(fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await mark(pilot, fleet, targets)
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, TypedConfirmScreen) and app.screen.expected == "2"
        started, release = threading.Event(), threading.Event()
        holder = hold_writer_lock(fleet.db.database, release, started)
        assert started.wait(5)
        statements = record_statements(fleet)
        with fleet.storage.refusing_sql_here() as on_loop:
            await pilot.press("2", "enter")
            gaps = await loop_gaps(0.5)  # the loop answers while the action's first write waits on the lock
            assert holder.is_alive(), "the writer lock was released before the check"
            assert not any(sql.startswith(ACTION_INSERT) for _, sql in statements), "the lock let go early"
            assert max(gaps) < STALL_S, f"the event loop stalled for {max(gaps):.2f} s"
            release.set()
            holder.join()
            await settle(pilot, 6)
        fleet.db.query_hooks.clear()
        assert results_text(app).count("succeeded") == 2
    assert on_loop == [], f"database work on the event loop: {on_loop[:5]}"
    assert any(in_worker and "device_action" in sql for in_worker, sql in statements), statements[:5]
    for target in targets:
        assert [(r.action, r.outcome) for r in actions_of(fleet, target)] == [("lock", "succeeded")]


def _succeeded_runs(ctx) -> int:
    with ctx.db.connection_context():
        return CollectionRun.select().where(CollectionRun.status == "succeeded").count()


def _screen_text(app) -> str:
    lines = getattr(app.screen, "lines", None)
    return "\n".join(lines) if lines else ""
