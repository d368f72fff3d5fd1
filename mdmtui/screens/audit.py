"""The audit log: who did what to which device, when, and the MDM's real answer."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.widgets import DataTable, Input

from mdmtui.screens import backend
from mdmtui.screens.base import ConsoleScreen
from mdmtui.screens.commands import bindings
from mdmtui.formatting import local_time
from mdmtui.widgets.safe import plain
from mdmtui.widgets.field import Field


class AuditScreen(ConsoleScreen):
    """The newest 500 entries, optionally for one device (id, name, serial or MDM id)."""

    SCOPE = "audit"
    CSS_PATH = "audit.tcss"
    BINDINGS: ClassVar[list[BindingType]] = bindings("audit")

    def body(self) -> ComposeResult:
        yield Field(placeholder="device: id, name, serial or MDM id (enter)", id="audit-device")
        yield DataTable(id="audit", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(DataTable).add_columns("When", "Who", "Category", "Action", "Device", "Outcome", "Message")
        self.reload()
        self.query_one(DataTable).focus()

    def on_screen_resume(self) -> None:
        self.reload()

    def reload(self) -> None:
        """Fetch the entries."""
        self._load(self.query_one("#audit-device", Input).value.strip())

    @on(Input.Submitted, "#audit-device")
    def _device(self) -> None:
        self.reload()
        self.query_one(DataTable).focus()

    @work(thread=True, exclusive=True, group="audit", exit_on_error=False, name="audit log")
    def _load(self, device: str) -> None:
        rows = backend.audit_entries(self.ctx, device)
        self.app.call_from_thread(self._show, rows)

    def _show(self, rows: list[Any]) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for e in rows:
            table.add_row(local_time(e.at, seconds=True), plain(f"{e.os_user}@{e.host}"), e.category, e.action,
                          plain(e.device_name or e.linkage_name), e.outcome, plain((e.message or "")[:120]))

    def action_refresh(self) -> None:
        """Reload."""
        self.reload()
