"""The events view: what changed since the last triage (new, missing, SIM swapped, failures...)."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.widgets import DataTable, Static

from mdmtui.screens import backend
from mdmtui.screens.base import TableScreen
from mdmtui.screens.rows import EventRow
from mdmtui.screens.commands import bindings
from mdmtui.formatting import local_time, plural
from mdmtui.widgets.safe import plain


def kind_label(kind: str) -> str:
    """The events service's words for a kind."""
    return backend.event_kind_label(kind)


class EventsScreen(TableScreen[EventRow]):
    """Newest first; unread ones marked; ``m`` marks all read, enter shows the device."""

    SCOPE = "events"
    CSS_PATH = "events.tcss"
    BINDINGS: ClassVar[list[BindingType]] = bindings("events")
    COLUMNS = ("", "When", "What", "Linkage", "Message")
    TABLE_ID = LOAD_GROUP = LOAD_NAME = "events"

    def body(self) -> ComposeResult:
        yield from super().body()
        yield Static("", id="events-info")

    def fetch(self) -> list[Any]:
        """The recent events."""
        return backend.recent_events(self.ctx)

    def show(self, rows: list[Any]) -> None:
        """One line per event, and the count."""
        self.rows = rows
        table = self.query_one(DataTable)
        table.clear()
        for e in rows:
            table.add_row("●" if not e.read else " ", local_time(e.at), kind_label(e.kind), plain(e.linkage_name),
                          plain(e.message))
        unread = sum(1 for e in rows if not e.read)
        self.query_one("#events-info", Static).update(
            f"{plural(len(rows), 'event')}, {unread} unread (● = unread) · m: mark all read · enter: show the device"
            if rows else "No events yet: they appear after collections and actions.")

    @work(thread=True, exit_on_error=False, name="mark events read")
    def action_mark_read(self) -> None:
        """Mark every event read."""
        count = backend.mark_events_read(self.ctx)
        self.app.call_from_thread(self._marked, count)

    def _marked(self, count: int) -> None:
        self.notify(f"{plural(count, 'event')} marked read")
        self.app.refresh_unread()
        self.reload()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Show device only for an event about a device."""
        if action == "show_device":
            current = self.current()
            return True if current is not None and current.device_id else None
        return super().check_action(action, parameters)

    def disabled_reason(self, action: str) -> str:
        """Why the key does nothing now."""
        if action == "show_device":
            return "this event is not about one device"
        return super().disabled_reason(action)

    def on_data_table_row_highlighted(self) -> None:
        self.refresh_bindings()

    def on_data_table_row_selected(self) -> None:
        if self.check_action("show_device", ()) is True:
            self.action_show_device()

    def action_show_device(self) -> None:
        """Open the devices screen filtered to the event's device."""
        device_id = self.chosen().device_id
        if device_id is not None:
            self.app.show_device(device_id)
