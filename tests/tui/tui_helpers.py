"""Helpers for the console tests (a module, not conftest: several test folders have a conftest)."""

from __future__ import annotations

from typing import Any

from textual.widgets import Input
from textual.worker import WorkerCancelled

from mdmtui.models import Device
from mdmtui.widgets.virtual_table import VirtualTable


async def settle(pilot, rounds: int = 3) -> None:
    """Let workers finish and messages land (no sleeps)."""
    for _ in range(rounds):
        try:
            await pilot.app.workers.wait_for_complete()
        except WorkerCancelled:  # an exclusive worker replaced by a newer one: wait for the others
            continue
        await pilot.pause()


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
