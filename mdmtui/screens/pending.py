"""Pending actions: every action across the fleet whose outcome the MDM has not settled, refreshed on
its own while shown; ``u`` asks the MDMs again, ``enter`` describes the device."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.widgets import DataTable, Static

from mdmtui.formatting import local_time, plural
from mdmtui.screens import backend
from mdmtui.screens.base import TableScreen
from mdmtui.screens.rows import ActionRow
from mdmtui.screens.commands import bindings
from mdmtui.widgets.safe import plain

REFRESH_S = 10.0  # how often the view reads the database again while it is on screen


class PendingScreen(TableScreen[ActionRow]):
    """Device, action, sent, by whom, the MDM's last answer."""

    SCOPE = "pending"
    BINDINGS: ClassVar[list[BindingType]] = bindings("pending")
    DEFAULT_CSS = """
    PendingScreen #pending { height: 1fr; }
    PendingScreen #pending-info { height: auto; padding: 0 1; color: $text-muted; }
    """

    COLUMNS = ("Device", "Action", "Outcome", "Sent", "By", "The MDM's last answer")
    TABLE_ID = LOAD_GROUP = "pending"
    LOAD_NAME = "pending actions"

    def body(self) -> ComposeResult:
        yield from super().body()
        yield Static("", id="pending-info")

    def on_mount(self) -> None:  # the table and the first load: TableScreen's (Textual calls both)
        self.set_interval(REFRESH_S, self._tick)

    def _tick(self) -> None:
        if self.is_current:  # only while shown
            self.reload()

    def fetch(self) -> list[Any]:
        """The actions not yet final."""
        return backend.pending_actions(self.ctx)

    def show(self, rows: list[Any]) -> None:
        """One line per action, keeping the cursor's place."""
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

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Describe needs an action whose device still exists."""
        if action == "describe":
            current = self.current()
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

        device_id = self.chosen().device_id
        if device_id is not None:  # greyed otherwise
            self.app.push_screen(DescribeScreen(device_id))

    def action_follow_up(self) -> None:
        """Ask the MDMs about every pending action now."""
        self.app.follow_up(None)
