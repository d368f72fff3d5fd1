"""Pending actions: every action across the fleet whose outcome the MDM has not settled, refreshed on
its own while shown; ``u`` asks the MDMs again, ``enter`` describes the device."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.widgets import DataTable, Static

from mdmtui.formatting import local_time, plural
from mdmtui.screens import backend
from mdmtui.screens.base import ConsoleScreen
from mdmtui.screens.commands import bindings
from mdmtui.widgets.safe import plain

REFRESH_S = 10.0  # how often the view reads the database again while it is on screen


class PendingScreen(ConsoleScreen):
    """Device, action, sent, by whom, the MDM's last answer."""

    SCOPE = "pending"
    BINDINGS: ClassVar[list[BindingType]] = bindings("pending")
    DEFAULT_CSS = """
    PendingScreen #pending { height: 1fr; }
    PendingScreen #pending-info { height: auto; padding: 0 1; color: $text-muted; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[Any] = []

    def body(self) -> ComposeResult:
        yield DataTable(id="pending", cursor_type="row", zebra_stripes=True)
        yield Static("", id="pending-info")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(DataTable).add_columns("Device", "Action", "Outcome", "Sent", "By", "The MDM's last answer")
        self.reload()
        self.set_interval(REFRESH_S, self._tick)
        self.query_one(DataTable).focus()

    def on_screen_resume(self) -> None:
        self.reload()

    def _tick(self) -> None:
        if self.is_current:  # only while shown
            self.reload()

    def reload(self) -> None:
        """Read the pending actions again."""
        self._load()

    @work(thread=True, exclusive=True, group="pending", exit_on_error=False, name="pending actions")
    def _load(self) -> None:
        rows = backend.pending_actions(self.ctx)
        self.app.call_from_thread(self._show, rows)

    def _show(self, rows: list[Any]) -> None:
        table = self.query_one(DataTable)
        keep = table.cursor_row
        self.rows = rows
        table.clear()
        for a in rows:
            table.add_row(plain(a.device_name or a.mdm_device_id), a.action, a.outcome, local_time(a.requested_at),
                          plain(f"{a.os_user}@{a.host}"), plain((a.message or "")[:200]))
        if rows and keep is not None:
            table.move_cursor(row=min(keep, len(rows) - 1))
        info = (f"{plural(len(rows), 'action')} not final · u: ask the MDMs again · enter: describe the device · "
                f"refreshed every {REFRESH_S:g} s")
        self.query_one("#pending-info", Static).update(
            info if rows else "No pending action: every action sent has its final outcome.")
        self.refresh_bindings()

    def _current(self) -> Any | None:
        table = self.query_one(DataTable)
        if not self.rows or table.cursor_row is None or table.cursor_row >= len(self.rows):
            return None
        return self.rows[table.cursor_row]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Describe needs an action whose device still exists."""
        if action == "describe":
            current = self._current()
            return True if current is not None and current.device_id is not None else None
        return super().check_action(action, parameters)

    def disabled_reason(self, action: str) -> str:
        """Why the key does nothing now."""
        if action == "describe":
            return "no action highlighted (or its device's information was deleted)"
        return super().disabled_reason(action)

    @on(DataTable.RowSelected)
    def _selected(self) -> None:
        if self.check_action("describe", ()) is True:
            self.action_describe()

    def action_describe(self) -> None:
        """Describe the highlighted action's device."""
        from mdmtui.screens.describe import DescribeScreen

        self.app.push_screen(DescribeScreen(self._current().device_id))

    def action_follow_up(self) -> None:
        """Ask the MDMs about every pending action now."""
        self.app.follow_up(None)

    def action_refresh(self) -> None:
        """Reload."""
        self.reload()
