"""The audit log: who did what to which device, when, and the MDM's real answer."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.widgets import DataTable, Input

from mdmtui.screens import backend
from mdmtui.screens.base import TableScreen
from mdmtui.screens.rows import AuditRow
from mdmtui.screens.commands import bindings
from mdmtui.formatting import local_time
from mdmtui.widgets.safe import plain
from mdmtui.widgets.field import Field


class AuditScreen(TableScreen[AuditRow]):
    """The newest 500 entries, optionally for one device (id, name, serial or MDM id)."""

    SCOPE = "audit"
    CSS_PATH = "audit.tcss"
    BINDINGS: ClassVar[list[BindingType]] = bindings("audit")
    COLUMNS = ("When", "Who", "Category", "Action", "Device", "Outcome", "Message")
    TABLE_ID = LOAD_GROUP = "audit"
    LOAD_NAME = "audit log"
    device = ""  # the device asked for, read on the app's thread for the worker

    def body(self) -> ComposeResult:
        yield Field(placeholder="device: id, name, serial or MDM id (enter)", id="audit-device")
        yield from super().body()

    def reload(self) -> None:
        """Fetch the entries."""
        self.device = self.query_one("#audit-device", Input).value.strip()
        super().reload()

    @on(Input.Submitted, "#audit-device")
    def _device(self) -> None:
        self.reload()
        self.query_one(DataTable).focus()

    def fetch(self) -> list[Any]:
        """The entries, for the device asked for if any."""
        return backend.audit_entries(self.ctx, self.device)

    def show(self, rows: list[Any]) -> None:
        """One line per entry."""
        self.rows = rows
        table = self.query_one(DataTable)
        table.clear()
        for e in rows:
            table.add_row(local_time(e.at, seconds=True), plain(f"{e.os_user}@{e.host}"), e.category, e.action,
                          plain(e.device_name or e.linkage_name), e.outcome, plain((e.message or "")[:120]))
