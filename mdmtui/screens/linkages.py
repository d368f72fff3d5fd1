"""The linkages screen: each linkage with its last and next collection; add, edit, test, collect."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.widgets import DataTable, Static
from textual.widgets.data_table import ColumnKey

from mdmtui.screens import backend
from mdmtui.screens.base import ConsoleScreen
from mdmtui.screens.commands import bindings
from mdmtui.screens.dialogs import ChoiceScreen
from mdmtui.formatting import local_time, plural
from mdmtui.records import System
from mdmtui.textwidth import fit
from mdmtui.widgets.safe import plain, visible

NEEDS_LINKAGE = {"collect", "collect_changed", "edit", "test", "remove"}
# (label, width): the last collection takes the room left, so a long failure reason is cut there (with
# an ellipsis; the line under the table shows it whole) and never pushes the other columns away
COLUMNS = (("Name", 20), ("System", 10), ("Server", 32), ("Enabled", 7), ("Next collection", 16),
           ("Last collection", 0))
NARROW_COLUMNS = (("Name", 18), ("System", 10), ("Next collection", 16), ("Last collection", 0))  # < 120 wide
LAST_MIN = 24


def last_text(run: Any) -> str:
    """``2026-05-01 09:00 succeeded`` or ``never``."""
    if run is None:
        return "never"
    reason = f" ({run.reason})" if run.reason and run.status != "succeeded" else ""
    kind = " (changed-only)" if getattr(run, "kind", "full") == "changed" else ""
    return f"{local_time(run.started_at)} {run.status}{kind}{reason}"


def next_text(row: Any) -> str:
    """The next scheduled collection, or why there is none."""
    if row.next_run is not None:
        return local_time(row.next_run) or ""
    if row.schedule != "none" and not row.enabled:
        return "disabled"
    return "not scheduled" if row.schedule == "none" else row.schedule


class LinkagesScreen(ConsoleScreen):
    """Every linkage; ``c`` collects the highlighted one, ``n`` adds, enter edits."""

    SCOPE = "linkages"
    CSS_PATH = "linkages.tcss"
    BINDINGS: ClassVar[list[BindingType]] = bindings("linkages")

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[backend.LinkageRow] = []
        self._want: str | None = None

    def body(self) -> ComposeResult:
        yield DataTable(id="linkages", cursor_type="row", zebra_stripes=True)
        yield Static("", id="linkage-info")
        yield Static("", id="daemon")

    def on_mount(self) -> None:
        super().on_mount()
        self._add_columns()
        self.reload()
        self.query_one(DataTable).focus()

    @property
    def columns(self) -> tuple[tuple[str, int], ...]:
        """The columns for this width (narrow: server and enabled only in the line under the table)."""
        if self.size.width < 120:
            return NARROW_COLUMNS
        return COLUMNS if self.size.width >= 140 else tuple((label, 24 if label == "Server" else w) for label, w in COLUMNS)

    def _last_width(self) -> int:
        fixed = sum(w + 2 for _label, w in self.columns if w)  # DataTable pads each cell by one on each side
        return max(self.size.width - fixed - 4, LAST_MIN)

    def _add_columns(self) -> None:
        table = self.query_one(DataTable)
        table.clear(columns=True)
        self._shown_columns = self.columns
        for label, width in self.columns:
            table.add_column(label, width=width or self._last_width(), key=label)

    def on_resize(self) -> None:
        if self.columns != getattr(self, "_shown_columns", None):
            self._add_columns()
        column = self.query_one(DataTable).columns.get(ColumnKey("Last collection"))
        if column is not None and column.width != self._last_width():
            column.width = self._last_width()
        self._show(self.rows, None)

    def reload(self) -> None:
        """Fetch the linkages."""
        self._load()

    @work(thread=True, exclusive=True, group="linkages", exit_on_error=False, name="linkages")
    def _load(self) -> None:
        rows = backend.linkage_rows(self.ctx)
        daemon = backend.daemon_line(self.ctx)
        self.app.call_from_thread(self._show, rows, daemon)

    def _show(self, rows: list[backend.LinkageRow], daemon: str | None = "") -> None:
        if daemon is not None:
            self.query_one("#daemon", Static).update(plain(daemon))
        table = self.query_one(DataTable)
        keep = self._want or (self.chosen.name if self.current else None)
        self.rows = rows
        table.clear()
        widths = {label: width or self._last_width() for label, width in self._shown_columns}
        for r in rows:
            cells = {"Name": r.name, "System": r.system, "Server": r.server, "Enabled": "yes" if r.enabled else "no",
                     "Next collection": next_text(r), "Last collection": last_text(r.last)}
            table.add_row(*[plain(fit(visible(cells[label]), widths[label]).rstrip()) for label in widths],
                          key=r.name)
        self.query_one("#linkage-info", Static).update(
            "" if rows else "No linkage yet. Press n to add one (Intune, MobileIron or SDM).")
        if keep and keep in [r.name for r in rows]:
            table.move_cursor(row=[r.name for r in rows].index(keep))
        self._want = None
        self.refresh_bindings()

    @property
    def current(self) -> backend.LinkageRow | None:
        """The highlighted linkage."""
        table = self.query_one(DataTable)
        if not self.rows or table.cursor_row is None or table.cursor_row >= len(self.rows):
            return None
        return self.rows[table.cursor_row]

    @property
    def chosen(self) -> backend.LinkageRow:
        """The highlighted linkage, for a command that needs one (its key is greyed without one)."""
        row = self.current
        if row is None:
            raise LookupError("no linkage highlighted")
        return row

    def highlight(self, name: str) -> None:
        """Put the cursor on linkage ``name`` (from ``:``)."""
        names = [r.name for r in self.rows]
        if name in names:
            self.query_one(DataTable).move_cursor(row=names.index(name))
        else:
            self._want = name

    @on(DataTable.RowHighlighted)
    def _moved(self) -> None:
        self.refresh_bindings()
        row = self.current
        if row is not None:
            last = f" · last collection: {last_text(row.last)}" if row.last is not None else ""
            enabled = "" if row.enabled else " (disabled)"
            self.query_one("#linkage-info", Static).update(
                plain(f"{row.name}{enabled} at {row.server}: schedule {row.schedule}{last}"))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Grey the per-linkage commands when there is none."""
        base = super().check_action(action, parameters)
        if base is True and action in NEEDS_LINKAGE and self.current is None:
            return None
        return base

    def disabled_reason(self, action: str) -> str:
        """Why the key does nothing now."""
        if action in NEEDS_LINKAGE and self.current is None and not self.ctx.read_only:
            return "no linkage highlighted: press n to add one"
        return super().disabled_reason(action)

    @on(DataTable.RowSelected)
    def _selected(self) -> None:
        if self.check_action("edit", ()) is True:
            self.action_edit()

    def action_refresh(self) -> None:
        """Reload the linkages."""
        self.reload()

    def action_collect(self) -> None:
        """Collect the highlighted linkage now."""
        self.app.collect([self.chosen.name])

    def action_collect_changed(self) -> None:
        """Collect only what changed on the highlighted linkage since its last run."""
        self.app.collect([self.chosen.name], changed_only=True)

    def action_add(self) -> None:
        """Add a linkage."""
        from mdmtui.screens.linkage_form import LinkageFormScreen

        self.app.push_screen(LinkageFormScreen(None), self._saved)

    def action_edit(self) -> None:
        """Edit the highlighted linkage."""
        self._edit(self.chosen.name)

    @work(exit_on_error=False, name="linkage settings")
    async def _edit(self, name: str) -> None:
        from mdmtui.screens.linkage_form import LinkageFormScreen

        settings = await backend.run_sync(backend.linkage_settings, self.ctx, name)
        self.app.push_screen(LinkageFormScreen(settings), self._saved)

    def _saved(self, name: str | None) -> None:
        if name:
            self._want = name
            self.reload()

    def action_test(self) -> None:
        """Test the highlighted linkage's connection."""
        self._test(self.chosen.name)

    @work(exit_on_error=False, name="test connection")
    async def _test(self, name: str) -> None:
        self.notify(f"testing {name}…")
        answer = await backend.test_connection(self.ctx, name)
        self.notify(f"{name}: {answer}", title="Connection works", timeout=8)

    def action_remove(self) -> None:
        """Remove the highlighted linkage; choose what becomes of its devices."""
        name = self.chosen.name
        choices = [("kept, marked orphaned (default)", "keep"), ("deleted from mdmtui", "delete")]
        if self.chosen.system == System.SDM:  # its sdm_import.properties entry would name no linkage any more
            choices += [("kept; its sdm_import.properties entry removed too", "keep+entry"),
                        ("deleted; its sdm_import.properties entry removed too", "delete+entry")]
        self.app.push_screen(ChoiceScreen(f"Remove linkage {name}? Its devices are…",
                                          [*choices, ("Cancel: keep the linkage", None)]),
                             lambda choice: self._removing(name, choice))

    def _removing(self, name: str, choice: str | None) -> None:
        if choice:
            self._remove(name, choice)

    @work(thread=True, exit_on_error=False, name="remove linkage")
    def _remove(self, name: str, choice: str) -> None:
        devices, _, entry = choice.partition("+")
        count = backend.remove_linkage(self.ctx, name, "delete" if devices == "delete" else "keep",
                                       properties_entry=bool(entry))
        self.app.call_from_thread(self._removed, name, devices, count)

    def _removed(self, name: str, devices: str, count: int) -> None:
        self.notify(f"linkage {name} removed; {plural(count, 'device')} {'kept' if devices == 'keep' else 'deleted'}")
        self.app.data_version += 1

    def action_properties(self) -> None:
        """Edit sdm_import.properties."""
        from mdmtui.screens.properties import PropertiesScreen

        self.app.push_screen(PropertiesScreen())
