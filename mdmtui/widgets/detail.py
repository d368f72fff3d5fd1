"""The detail pane of the highlighted device: grouped items, software, history and audit."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Label, Static, TabbedContent, TabPane

from mdmtui.formatting import NOT_COLLECTED, local_time, shown
from mdmtui.widgets.safe import plain, visible
from mdmtui.widgets.virtual_table import Column, VirtualTable
from mdmtui.widgets.field import Field

SOFTWARE_COLUMNS = (
    Column("name", "Software name", 24, lambda s: s.name, flex=True),
    Column("version", "Version", 14, lambda s: s.version),
    Column("vendor", "Vendor", 16, lambda s: s.vendor),
)


def item_name(field: str) -> str:
    """The spec's name of a stored field (``phone_number`` -> ``Contract phone number``)."""
    from mdmtui import mapping

    names = {item.field: item.name for item in mapping.ITEMS}
    return names.get(field, field.replace("_", " "))


def group_table(title: str, items: Iterable[tuple[str, Any]]) -> Table:
    """One group as label/value lines; Rich measures cells, so Japanese values align."""
    table = Table.grid(padding=(0, 1))
    table.add_column(style="dim", no_wrap=True)
    table.add_column(overflow="fold")
    table.title = title
    table.title_justify = "left"
    table.title_style = "bold"
    for label, value in items:
        text = shown(value, title)
        table.add_row(plain(label), plain(text, "dim italic") if text == NOT_COLLECTED else plain(text))
    return table


def _pairs(items: Any) -> list[tuple[str, Any]]:
    if isinstance(items, Mapping):
        return list(items.items())
    return [(str(label), value) for label, value in items]


def detail_renderable(groups: Mapping[str, Any]) -> Group:
    """Every group of a device detail, one after the other."""
    tables = [group_table(title, _pairs(items)) for title, items in groups.items()]
    spaced: list[Any] = []
    for table in tables:
        spaced += [table, Text("")]
    return Group(*spaced)


class DetailPane(Vertical):
    """Tabs over the highlighted device; the devices screen fills them from its workers."""

    DEFAULT_CSS = """
    DetailPane { border-left: vkey $panel; }
    DetailPane TabbedContent { height: 1fr; }
    DetailPane TabPane { padding: 0 1; height: 1fr; }
    DetailPane #sw-bar { height: 1; }
    DetailPane #sw-filter { width: 1fr; border: none; height: 1; padding: 0; }
    DetailPane #sw-count { width: auto; padding-left: 1; color: $text-muted; }
    DetailPane #software { height: 1fr; }
    DetailPane VerticalScroll { height: 1fr; }
    """

    def compose(self) -> ComposeResult:
        with TabbedContent(id="detail-tabs"):
            with TabPane("Device", id="tab-device"):
                with VerticalScroll(id="device-scroll"):
                    yield Static("No device highlighted.", id="device-groups")
            with TabPane("Software", id="tab-software"):
                from textual.containers import Horizontal

                with Horizontal(id="sw-bar"):
                    yield Field(placeholder="filter software…", id="sw-filter")
                    yield Label("", id="sw-count")
                yield VirtualTable(SOFTWARE_COLUMNS, id="software", show_marks=False, key=lambda s: id(s))
            with TabPane("History", id="tab-history"):
                with VerticalScroll(id="history-scroll"):
                    yield Static("", id="history")
            with TabPane("Audit", id="tab-audit"):
                with VerticalScroll(id="audit-scroll"):
                    yield Static("", id="audit")

    CONTENT = {"tab-device": "#device-scroll", "tab-software": "#software", "tab-history": "#history-scroll",
               "tab-audit": "#audit-scroll"}

    def focus_content(self) -> None:
        """Focus what the active tab shows, so the keyboard scrolls it."""
        active = self.query_one("#detail-tabs", TabbedContent).active
        self.query_one(self.CONTENT.get(active, "#device-scroll")).focus()

    def show_detail(self, title: str, groups: Mapping[str, Any], flags: Iterable[str] = ()) -> None:
        """The device's items, grouped as the spec groups them; security problems first."""
        head = plain(title, "bold")
        flags = list(flags)
        security = (plain("Security: " + ", ".join(flags), "bold red") if flags
                    else Text("Security: no problem known", style="green"))
        self.query_one("#device-groups", Static).update(Group(head, security, Text(""), detail_renderable(groups)))

    def show_empty(self, text: str) -> None:
        """Nothing to show (no device, or still loading)."""
        self.query_one("#device-groups", Static).update(plain(text))
        self.query_one("#history", Static).update("")
        self.query_one("#audit", Static).update("")

    def show_history(self, rows: Iterable[Any]) -> None:
        """Field changes recorded by collections (SIM swaps show here)."""
        lines = [f"{local_time(r.at)}  {item_name(r.field)}: {r.old_value or NOT_COLLECTED} → "
                 f"{r.new_value or NOT_COLLECTED}" for r in rows]
        self.query_one("#history", Static).update(plain("\n".join(visible(line) for line in lines) or "No changes recorded.",
                                                        lines=True))

    def show_audit(self, rows: Iterable[Any]) -> None:
        """What admins did to this device."""
        lines = [f"{local_time(r.at)}  {r.os_user}@{r.host}  {r.action}: {r.outcome}"
                 + (f" — {r.message}" if r.message else "") for r in rows]
        self.query_one("#audit", Static).update(plain("\n".join(visible(line) for line in lines) or "No actions recorded.",
                                                      lines=True))

    def show_software_count(self, shown_count: int, total: int | None, text: str) -> None:
        """``12 of 3,400 items`` next to the filter."""
        label = f"{shown_count:,} items" if not text else f"{shown_count:,} match"
        if total is not None and text:
            label += f" of {total:,}"
        self.query_one("#sw-count", Label).update(label)
