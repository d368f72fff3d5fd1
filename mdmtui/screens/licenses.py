"""License use: every smart device managed uses one license; Intune devices use none."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from mdmtui.screens import backend
from mdmtui.screens.base import LoadedScreen
from mdmtui.screens.commands import bindings
from mdmtui.widgets.safe import plain


def licenses_table(usage: Any) -> Table:
    """Per linkage: devices managed, licenses used and how many of those are missing; then the total."""
    table = Table(title="License use", title_justify="left", expand=False)
    table.add_column("Linkage")
    table.add_column("System")
    for name in ("Managed devices", "Licenses used", "of which missing"):
        table.add_column(name, justify="right")
    for row in usage.rows:
        table.add_row(plain(row.linkage), row.system, f"{row.managed:,}", f"{row.licenses:,}", f"{row.missing:,}")
    table.add_section()
    missing = sum(row.missing for row in usage.rows)
    table.add_row("Total", "", f"{usage.managed:,}", f"{usage.licenses:,}", f"{missing:,}", style="bold")
    return table


class LicensesScreen(LoadedScreen):
    """Licenses used per linkage."""

    SCOPE = "licenses"
    BINDINGS: ClassVar[list[BindingType]] = bindings("licenses")
    DEFAULT_CSS = "LicensesScreen #licenses { padding: 1 2; }"
    LOAD_GROUP = LOAD_NAME = "licenses"

    def body(self) -> ComposeResult:
        with VerticalScroll():
            yield Static("Loading…", id="licenses")
            yield Static("Every smart device managed uses one product license; devices managed through "
                         "Intune use none. A device missing from its MDM keeps its license until its "
                         "information is deleted.", id="licenses-note")

    def fetch(self) -> Any:
        """License use per linkage."""
        return backend.licenses(self.ctx)

    def show(self, rows: Any) -> None:
        """The table of license use."""
        self.query_one("#licenses", Static).update(licenses_table(rows))
