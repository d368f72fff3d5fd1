"""The events view: what changed since the last triage (new, missing, SIM swapped, failures...)."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.widgets import DataTable, Static

from mdmtui.screens import backend
from mdmtui.screens.base import ConsoleScreen
from mdmtui.screens.commands import bindings
from mdmtui.formatting import local_time, plural
from mdmtui.widgets.safe import plain


def kind_label(kind: str) -> str:
    """The events service's words for a kind."""
    from mdmtui.services.events import KINDS

    return KINDS.get(kind, kind)


class EventsScreen(ConsoleScreen):
    """Newest first; unread ones marked; ``m`` marks all read, enter shows the device."""

    SCOPE = "events"
    CSS_PATH = "events.tcss"
    BINDINGS: ClassVar[list[BindingType]] = bindings("events")

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[Any] = []

    def body(self) -> ComposeResult:
        yield DataTable(id="events", cursor_type="row", zebra_stripes=True)
        yield Static("", id="events-info")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(DataTable).add_columns("", "When", "What", "Linkage", "Message")
        self.reload()
        self.query_one(DataTable).focus()

    def on_screen_resume(self) -> None:
        self.reload()

    def reload(self) -> None:
        """Fetch the events."""
        self._load()

    @work(thread=True, exclusive=True, group="events", exit_on_error=False, name="events")
    def _load(self) -> None:
        rows = backend.recent_events(self.ctx)
        self.app.call_from_thread(self._show, rows)

    def _show(self, rows: list[Any]) -> None:
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

    def action_refresh(self) -> None:
        """Reload."""
        self.reload()

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
            return True if self._current() is not None and self._current().device_id else None
        return super().check_action(action, parameters)

    def disabled_reason(self, action: str) -> str:
        """Why the key does nothing now."""
        if action == "show_device":
            return "this event is not about one device"
        return super().disabled_reason(action)

    def _current(self) -> Any | None:
        table = self.query_one(DataTable)
        if not self.rows or table.cursor_row is None or table.cursor_row >= len(self.rows):
            return None
        return self.rows[table.cursor_row]

    def on_data_table_row_highlighted(self) -> None:
        self.refresh_bindings()

    def on_data_table_row_selected(self) -> None:
        if self.check_action("show_device", ()) is True:
            self.action_show_device()

    def action_show_device(self) -> None:
        """Open the devices screen filtered to the event's device."""
        self.app.show_device(self._current().device_id)
