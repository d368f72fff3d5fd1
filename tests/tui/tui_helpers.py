"""Helpers for the console tests (a module, not conftest: several test folders have a conftest)."""

from __future__ import annotations

from datetime import datetime, UTC
from typing import Any

from textual.widgets import Input
from textual.worker import WorkerCancelled, WorkerFailed, WorkerState

from mdmtui.config import Settings
from mdmtui.storage.models import Device
from mdmtui.widgets.virtual_table import VirtualTable


# The simulator's fleet epoch and the console's "now" in snapshot tests (times on screen never move).
FIXED_NOW = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)


def make_settings(tmp_path, **extra) -> Settings:
    """Settings rooted in ``tmp_path`` (SQLite: the console's dialect does not matter here)."""
    return Settings(data_dir=tmp_path / "data", config_dir=tmp_path / "config", **extra)


async def link_and_collect(ctx, sim) -> None:
    """Three linkages through the linkage service, sdm_import.properties, one collection each (in turn,
    so device ids do not depend on which MDM answers first)."""
    from mdmtui.cli.console import DEMO_LINKAGES, _link, _write_properties
    from mdmtui.services import collection

    with ctx.db.connection_context():
        _link(ctx, sim)
        _write_properties(ctx, sim)
    for name in DEMO_LINKAGES.values():
        summary = await collection.collect(ctx, name)
        assert summary.status == "succeeded", summary


def pages_in_flight(app) -> bool:
    """A table of any open screen still waits for a page handed to the storage (``submit_page``: no
    worker tracks it)."""
    return any(table.fetching for screen in app.screen_stack for table in screen.query(VirtualTable))


async def settle(pilot, rounds: int = 3) -> None:
    """Let workers finish and messages land, until a pause starts no new worker and no table waits for
    a page (no sleeps)."""
    app = pilot.app
    quiet = 0
    for _ in range(max(rounds, 2) * 10):
        try:
            await app.workers.wait_for_complete()
        except WorkerCancelled:  # an exclusive worker replaced by a newer one: wait for the others
            continue
        except WorkerFailed:  # the console reports it (a notification); the test looks at that
            continue
        await pilot.pause()
        busy = [w for w in app.workers if w.state in (WorkerState.PENDING, WorkerState.RUNNING)]
        quiet = 0 if busy or pages_in_flight(app) else quiet + 1
        if quiet >= rounds:
            return


def steady_cursors(app) -> None:
    """Stop every text cursor blinking, shown (as right after a key): a blinking cursor is on or off
    depending on how long the run took since the last key, so a picture would differ from run to run."""
    for screen in app.screen_stack:
        for widget in screen.query("Input, TextArea"):
            widget.cursor_blink = False


def devices_table(app) -> VirtualTable:
    """The Devices screen's table."""
    return app.screen.query_one("#devices", VirtualTable)


def table_rows(app) -> list[str]:
    """The device rows on screen, as text (header left out)."""
    return [line for line in devices_table(app).visible_text()[1:] if line.strip()]


async def type_filter(pilot, text: str) -> None:
    """Press ``/``, type ``text`` key by key, press enter (back to the table)."""
    await pilot.press("slash")
    field = pilot.app.screen.query_one("#filter", Input)
    field.value = ""
    await pilot.press(*list(text))
    await pilot.press("enter")
    await settle(pilot)


def device(ctx, **where: Any) -> Device:
    """One device row by column values."""
    with ctx.db.connection_context():
        query = Device.select()
        for column, value in where.items():
            query = query.where(getattr(Device, column) == value)
        return query.get()


async def highlight(pilot, ctx, dev: Device) -> None:
    """Filter the table down to ``dev`` (by serial, else IMEI) so it is the highlighted row."""
    await type_filter(pilot, dev.serial_number or dev.imei)
    row = devices_table(pilot.app).cursor_row
    assert row is not None and row.id == dev.id, (row, dev.id)


def notifications(app) -> list[str]:
    """Every notification message shown so far (run_test(notifications=True))."""
    return [n.message for n in app._notifications]


async def burst(pilot, *keys: str) -> None:
    """Send ``keys`` as one burst: all queued before the console handles the first (a paste, SSH)."""
    import unicodedata

    from textual import events
    from textual.keys import REPLACED_KEYS, _character_to_key, _get_unicode_name_from_key

    app = pilot.app
    for key in keys:
        if len(key) == 1 and not key.isalnum():
            key = _character_to_key(key)
        try:  # the character as Pilot.press derives it
            char = unicodedata.lookup(_get_unicode_name_from_key(REPLACED_KEYS.get(key, key)))
        except KeyError:
            char = key if len(key) == 1 else None
        event = events.Key(key, char)
        event.set_sender(app)
        app._driver.send_message(event)
    await settle(pilot)


def row_text(table, index: int) -> list[str]:
    """A DataTable row's cells as the text shown."""
    return [str(cell) for cell in table.get_row_at(index)]


def screen_text(app) -> str:
    """Every character the terminal is sent for the current screen (what the admin sees), line by line."""
    return "\n".join("".join(seg.text for seg in strip) for strip in app.screen._compositor.render_strips())
