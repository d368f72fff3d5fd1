"""What every console screen shares: header, footer, progress panel, greyed-key explanations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from textual import events, work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer
from textual.worker import Worker

from mdmtui.screens import backend
from mdmtui.screens.backend import Permission
from mdmtui.screens.commands import DANGEROUS_ACTIONS, SCREENS, commands_for, current_keys
from mdmtui.widgets.header import AppHeader
from mdmtui.widgets.progress import CollectionPanel
from mdmtui.widgets.safe import report_worker_failure

if TYPE_CHECKING:
    from textual import getters

    from mdmtui.screens.app import MdmtuiApp

RowT = TypeVar("RowT")


class ConsoleFooter(Footer):
    """One line from 140 columns; below, compact keys on a grid of two lines, so none is cut off at 80."""

    DEFAULT_CSS = """
    ConsoleFooter.-narrow { layout: grid; }
    ConsoleFooter.-narrow FooterKey { width: 1fr; margin: 0; }
    ConsoleFooter.-narrow FooterKey.-command-palette { display: none; }
    """
    CELL = 11  # "space Mark" and a gap

    def _grid(self) -> None:
        keys = len([k for k in self.query("FooterKey") if not k.has_class("-command-palette")])
        columns = max(self.app.size.width // self.CELL, 1)
        self.styles.grid_size_columns = columns
        self.styles.height = max(-(-keys // columns), 1)

    def compose(self) -> ComposeResult:
        yield from super().compose()
        if self.has_class("-narrow"):  # Footer.compose sets one grid column per key
            self.call_after_refresh(self._grid)

    def on_resize(self) -> None:
        narrow = self.app.size.width < 140
        if narrow != self.has_class("-narrow"):
            self.compact = narrow
            self.set_class(narrow, "-narrow")
            if not narrow:
                self.styles.height = 1
            self.refresh(recompose=True)
        elif narrow:
            self._grid()


# the role a screen's command needs (services/roles.py); the services check it again when it runs
ROLE_PERMISSIONS = {"collect": Permission.COLLECT, "collect_changed": Permission.COLLECT,
                    "lock": Permission.LOCK,
                    "wipe": Permission.WIPE, "reset_passcode": Permission.RESET_PASSCODE,
                    "delete": Permission.DELETE, "edit_asset": Permission.ASSET_EDIT,
                    "add": Permission.LINKAGES, "edit": Permission.LINKAGES,
                    "remove": Permission.LINKAGES, "approve": Permission.APPROVE,
                    "reject": Permission.APPROVE}


def role_refusal(screen: ConsoleScreen, action: str) -> str | None:
    """Why the OS user's role forbids ``action`` on this screen, or None."""
    permission = ROLE_PERMISSIONS.get(action)
    return backend.role_refusal(screen.app.ctx, permission) if permission else None


class ConsoleScreen(Screen):
    """A top-level screen (a mode): subclasses compose ``body()`` and may explain disabled actions."""

    if TYPE_CHECKING:
        app = getters.app(MdmtuiApp)  # for the type checker: the console, with its context, counts, runners

    SCOPE: ClassVar[str] = "app"

    def compose(self) -> ComposeResult:
        yield AppHeader(SCREENS.get(self.SCOPE, self.SCOPE))
        yield from self.body()
        yield CollectionPanel()
        yield ConsoleFooter()

    def body(self) -> ComposeResult:
        """The screen's own widgets."""
        return iter(())

    @property
    def ctx(self):
        """The service context."""
        return self.app.ctx

    def on_mount(self) -> None:
        self.watch(self.app, "data_version", lambda *_: self.reload(), init=False)

    def reload(self) -> None:
        """Fetch the screen's data again (after a collection, an action, an edit)."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """State-changing commands are hidden in read-only mode; subclasses grey others."""
        if action in DANGEROUS_ACTIONS and self.app.ctx.read_only:
            return False
        return None if role_refusal(self, action) else True  # greyed, and the key says why

    def disabled_reason(self, action: str) -> str:
        """Why ``action`` cannot run now (shown when its key is pressed)."""
        if action in DANGEROUS_ACTIONS and self.app.ctx.read_only:
            return "read-only mode: nothing can be changed (started with --read-only or read_only = true)"
        return role_refusal(self, action) or "not available here"

    def refused(self, action: str) -> None:
        """A greyed or hidden command was pressed: a role's refusal is audited as the services audit it
        (subclasses also record refusals of device actions)."""
        permission = ROLE_PERMISSIONS.get(action)
        if permission is not None and backend.role_refusal(self.app.ctx, permission):
            self._audit_role_refusal(permission)

    @work(thread=True, exit_on_error=False, name="audit the refusal")
    def _audit_role_refusal(self, permission: Permission) -> None:
        backend.audit_role_refusal(self.app.ctx, permission)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A failed worker of this screen shows its reason (the app never hears of it otherwise)."""
        report_worker_failure(self, event)

    def on_key(self, event: events.Key) -> None:
        """A key whose command is greyed out or hidden says why instead of doing nothing."""
        keymap = getattr(self.app, "_keymap", {}) or {}
        for command in commands_for(self.SCOPE):
            if command.scope != self.SCOPE:
                continue
            keys = {k.strip() for k in current_keys(command, keymap).split(",")}
            if event.key in keys and self.check_action(command.action, ()) is not True:
                event.stop()
                event.prevent_default()
                self.notify(self.disabled_reason(command.action), title=command.label, severity="warning")
                self.refused(command.action)
                return


class LoadedScreen(ConsoleScreen):
    """A screen that reads its data in a thread worker on mount, on resume and on ``refresh``; subclasses
    say what ``fetch`` reads and how ``show`` draws it.

    Loads never overlap: a thread worker cannot be stopped, so "a newer load cancels the older" would
    leave both queries running (at 100,000 devices a scan each). A reload asked for while one runs (the
    first show asks up to three times: mount, resume, a data change) runs once, after it.
    """

    LOAD_GROUP: ClassVar[str] = "load"  # the worker's group and name
    LOAD_NAME: ClassVar[str] = "load"

    def __init__(self) -> None:
        super().__init__()
        self._loading = self._again = self._loaded = False

    # Textual calls the on_mount of every class along the MRO, so these handlers never call super()
    def on_mount(self) -> None:
        self.reload()

    def on_screen_resume(self) -> None:
        if self._loaded:  # the first show: the load on mount reads everything
            self.reload()

    def reload(self) -> None:
        """Fetch the screen's data again (once more after the running load, if one runs)."""
        if self._loading:
            self._again = True
            return
        self._loading, self._again = True, False
        self.run_worker(self._load, thread=True, group=self.LOAD_GROUP, name=self.LOAD_NAME, exit_on_error=False)

    def _load(self) -> None:
        try:
            rows = self.fetch()
            self.app.call_from_thread(self._show_loaded, rows)
        finally:
            self.app.call_from_thread(self._load_ended)

    def _show_loaded(self, rows: Any) -> None:
        self._loaded = True
        self.show(rows)

    def _load_ended(self) -> None:
        self._loading = False
        if self._again:
            self.reload()

    def fetch(self) -> Any:
        """Read the data (in the worker thread, through ``backend``)."""
        raise NotImplementedError

    def show(self, rows: Any) -> None:
        """Draw what ``fetch`` read (on the app's thread)."""
        raise NotImplementedError

    def action_refresh(self) -> None:
        """Reload."""
        self.reload()


class TableScreen(LoadedScreen, Generic[RowT]):
    """A list screen: one row-cursor ``DataTable`` with ``COLUMNS``, focused; ``rows`` holds what each row
    shows, in order (of a shape of ``screens/rows.py``)."""

    COLUMNS: ClassVar[tuple[str, ...]] = ()
    TABLE_ID: ClassVar[str] = "table"

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[RowT] = []

    def body(self) -> ComposeResult:
        yield DataTable(id=self.TABLE_ID, cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:  # runs before LoadedScreen.on_mount starts the load
        table = self.query_one(DataTable)
        table.add_columns(*self.COLUMNS)
        table.focus()

    def current(self) -> RowT | None:
        """The highlighted row's item."""
        row = self.query_one(DataTable).cursor_row
        return self.rows[row] if row is not None and 0 <= row < len(self.rows) else None

    def chosen(self) -> RowT:
        """The highlighted row's item, for a command that needs one (its key is greyed without one)."""
        item = self.current()
        if item is None:
            raise LookupError("no row highlighted")
        return item
