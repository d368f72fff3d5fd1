"""The Software screen: every title across the fleet, its versions, and the devices that have (or lack) it."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label

from mdmtui.formatting import plural
from mdmtui.screens import backend
from mdmtui.screens.base import ConsoleScreen
from mdmtui.screens.commands import bindings
from mdmtui.screens.dialogs import ChoiceScreen
from mdmtui.widgets.field import Field
from mdmtui.widgets.safe import plain
from mdmtui.widgets.virtual_table import Column, VirtualTable

NEEDS_ROW = {"devices", "without", "focus_versions"}


def _linkages(row: Any) -> str | None:
    return ", ".join(row.linkages) or None


TITLE_COLUMNS = [
    Column("name", "Title", 22, lambda t: t.name, flex=True),
    Column("vendor", "Vendor", 12, lambda t: t.vendor),
    Column("devices", "Devices", 7, lambda t: f"{t.devices:,}"),
    Column("versions", "Vers", 4, lambda t: f"{t.versions:,}", tone=lambda t: "warn" if t.versions > 1 else None),
    Column("top_version", "Most common", 11, lambda t: t.top_version),
    Column("linkages", "Linkages", 14, _linkages, flex=True),
]
VERSION_COLUMNS = [
    Column("version", "Version", 20, lambda v: v.version, flex=True),
    Column("devices", "Devices", 7, lambda v: f"{v.devices:,}"),
    Column("vendor", "Vendor", 12, lambda v: v.vendor),
    Column("linkages", "Linkages", 24, _linkages, flex=True),
]
SORTABLE = ("name", "vendor", "devices", "versions", "linkages")


class SoftwareScreen(ConsoleScreen):
    """Software across the fleet, counted in the database: instant at 100,000 devices × 100 apps."""

    SCOPE = "software"
    CSS_PATH = "software.tcss"
    BINDINGS: ClassVar[list[BindingType]] = bindings("software")

    def __init__(self) -> None:
        super().__init__()
        self.source: backend.TitleSource | None = None

    @property
    def view_filter(self) -> backend.TitleFilter:
        """The current view's titles filter (the source is made on mount)."""
        assert self.source is not None
        return self.source.filter

    def body(self) -> ComposeResult:
        with Horizontal(id="filter-bar"):
            yield Field(placeholder="/ filter: title or vendor", id="filter")
            yield Label("", id="count")
        with Vertical(id="body"):
            yield VirtualTable(TITLE_COLUMNS, id="titles", key=lambda t: t.name, sort_key="name", frozen=1,
                               show_marks=False)
            yield Label("", id="versions-title")
            yield VirtualTable(VERSION_COLUMNS, id="versions", key=lambda v: v.version, show_marks=False)

    def on_mount(self) -> None:
        super().on_mount()
        self.source = backend.TitleSource(self.ctx, backend.title_filter())
        self.titles.set_source(self.source)
        self.titles.focus()

    @property
    def titles(self) -> VirtualTable:
        """The table of titles."""
        return self.query_one("#titles", VirtualTable)

    @property
    def versions(self) -> VirtualTable:
        """The highlighted title's versions."""
        return self.query_one("#versions", VirtualTable)

    def reload(self) -> None:
        """Read the counts again (after a collection), the cursor kept."""
        self.titles.reload()

    def on_screen_resume(self) -> None:
        if self.source is not None:
            self.reload()

    # ------------------------------------------------------------------ the tables

    def _apply(self, **changes: Any) -> None:
        assert self.source is not None
        self.source = self.source.with_filter(**changes)
        self.titles.sort_key, self.titles.descending = self.source.filter.sort, self.source.filter.descending
        self.titles.set_source(self.source)

    @on(VirtualTable.Loaded, "#titles")
    def _loaded(self, event: VirtualTable.Loaded) -> None:
        self.query_one("#count", Label).update(plural(event.count, "title"))

    @on(VirtualTable.Highlighted, "#titles")
    def _highlighted(self, event: VirtualTable.Highlighted) -> None:
        self.refresh_bindings()
        label = self.query_one("#versions-title", Label)
        if event.row is None:
            label.update("No title matches." if self.titles.row_count == 0 else "")
            self.versions.set_source(_NoRows())
            return
        label.update(plain(f"Versions of {event.row.name} — {plural(event.row.devices, 'device')}, "
                           f"{plural(event.row.versions, 'version')}  (tab: into the versions)"))
        self.versions.set_source(backend.VersionSource(self.ctx, event.row.name))

    @on(VirtualTable.Highlighted, "#versions")
    def _version_highlighted(self, event: VirtualTable.Highlighted) -> None:
        self.refresh_bindings()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._apply(text=event.value.strip() or None)

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.titles.focus()

    @on(VirtualTable.HeaderClicked, "#titles")
    def _header_clicked(self, event: VirtualTable.HeaderClicked) -> None:
        self._sort_by(event.column.key)

    def _sort_by(self, key: str | None) -> None:
        if key not in SORTABLE:
            return
        f = self.view_filter
        self._apply(sort=key, descending=not f.descending if f.sort == key else key in {"devices", "versions"})

    # ------------------------------------------------------------------ bindings

    def _target(self) -> tuple[str, str | None] | None:
        """(title, version or None) of what the focused table highlights; the version "" = not collected."""
        title = self.titles.cursor_row
        if title is None:
            return None
        if self.versions.has_focus:
            version = self.versions.cursor_row
            return (title.name, "" if version.version is None else version.version) if version else None
        return title.name, None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """``/`` typed into the field is text; the device keys need a highlighted title."""
        if action == "filter" and isinstance(self.focused, Input):
            return False
        if action == "focus_versions" and isinstance(self.focused, Input):
            return False
        base = super().check_action(action, parameters)
        if base is not True:
            return base
        if action in NEEDS_ROW and (self.titles.cursor_row if action == "focus_versions" else self._target()) is None:
            return None
        return True

    def disabled_reason(self, action: str) -> str:
        """Why the key does nothing now."""
        if action in NEEDS_ROW:
            return "no title highlighted"
        return super().disabled_reason(action)

    def action_filter(self) -> None:
        """Focus the filter field (a priority binding: a burst after ``/`` lands in it)."""
        self.set_focus(self.query_one("#filter", Input))

    def action_focus_versions(self) -> None:
        """Between the titles and the highlighted title's versions."""
        (self.titles if self.versions.has_focus else self.versions).focus()
        self.refresh_bindings()

    def action_devices(self) -> None:
        """The Devices screen, filtered to the devices that have the highlighted title or version."""
        self._open_devices(without=False)

    def action_without(self) -> None:
        """The Devices screen, filtered to the devices WITHOUT the highlighted title or version."""
        self._open_devices(without=True)

    def _open_devices(self, *, without: bool) -> None:
        target = self._target()
        if target is not None:
            self.app.drill_down({"software_title": target[0], "software_version": target[1],
                                 "without_software": without})

    def action_clear(self) -> None:
        """Step back: out of the field or the versions, then clear the filter."""
        field = self.query_one("#filter", Input)
        if self.focused is field or self.versions.has_focus:
            self.titles.focus()
        elif self.view_filter.text:
            with self.prevent(Input.Changed):
                field.value = ""
            self._apply(text=None)
        self.titles.focus()

    def action_sort(self) -> None:
        """Choose the order of the titles (the same again: reversed)."""
        options = [(c.label, c.key) for c in TITLE_COLUMNS if c.key in SORTABLE]
        self.app.push_screen(ChoiceScreen("Sort titles by", options, current=self.view_filter.sort), self._sort_by)

    def action_refresh(self) -> None:
        """Reload from the database."""
        self.reload()

    def action_export(self) -> None:
        """Export the titles of the current view, a line per version, to the data directory."""
        self.app.push_screen(ChoiceScreen("Export the current view as", [("CSV", "csv"), ("JSON", "json")]),
                             lambda fmt: self._export(fmt) if fmt else None)

    def _export(self, fmt: str) -> None:
        title_filter = self.view_filter

        def write() -> None:
            done = backend.export_software(self.ctx, title_filter, fmt)
            self.app.call_from_thread(self.notify, f"exported {plural(done.count, 'title')} to {done.path}",
                                      title="Export", timeout=12)
        self.run_worker(write, thread=True, exit_on_error=False, name="export")


class _NoRows:
    """An empty row source (no title highlighted)."""

    def count(self) -> int:
        return 0

    def page(self, offset: int, limit: int) -> list[Any]:
        return []
