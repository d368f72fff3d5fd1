"""Help (``?``): every binding of the current screen and of the app, with the keys as remapped."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from mdmtui.screens.commands import COMMANDS, SCREENS, current_keys

if TYPE_CHECKING:
    from textual import getters

    from mdmtui.screens.app import MdmtuiApp


def key_text(keys: str) -> str:
    """``question_mark`` -> ``?``; several keys joined by ``/``."""
    names = {"question_mark": "?", "slash": "/", "colon": ":", "space": "space", "escape": "esc"}
    return " / ".join(names.get(k.strip(), k.strip()) for k in keys.split(","))


def where_name(scope: str) -> str:
    """``Devices``, ``anywhere`` (the app), ``Describe`` (a view that is not a screen of its own)."""
    return "anywhere" if scope == "app" else SCREENS.get(scope, scope.capitalize())


def help_table(scope: str, keymap: dict[str, str]) -> Table:
    """The keys of ``scope`` first, then the others' and the app's."""
    table = Table(box=None, show_header=True, header_style="bold", pad_edge=False, expand=True)
    table.add_column("Key", no_wrap=True, style="bold")
    table.add_column("Where", no_wrap=True)
    table.add_column("What")
    table.add_column("Binding id", style="dim", no_wrap=True)
    order = [scope, "app"] + [s for s in (*SCREENS, "describe") if s != scope]
    for where in order:
        for command in (c for c in COMMANDS if c.scope == where):
            table.add_row(key_text(current_keys(command, keymap)), where_name(where),
                          ("! " if command.dangerous else "") + command.help,
                          command.id)
    table.add_row("ctrl+p", "anywhere", "Command palette: every command by name", "")
    table.add_row("tab / mouse", "anywhere", "Move between panes; click rows, headers (sort), buttons", "")
    return table


class HelpScreen(ModalScreen[None]):
    """A scrollable list of bindings; any of esc, q, ? closes it."""

    if TYPE_CHECKING:
        app = getters.app(MdmtuiApp)  # for the type checker: the console, with its context, counts, runners

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "close", "Close", id="help.close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; background: $background 60%; }
    HelpScreen > Vertical { width: 110; max-width: 100%; height: 100%; max-height: 44;
                            border: thick $primary; background: $surface; padding: 0 1; }
    HelpScreen #help-title { text-style: bold; }
    HelpScreen #help-foot { color: $text-muted; width: 100%; height: auto; }
    """

    def __init__(self, scope: str) -> None:
        super().__init__()
        self.scope = scope

    def compose(self) -> ComposeResult:
        keymap = dict(getattr(self.app.ctx.settings, "keymap", {}) or {})
        self.table = help_table(self.scope, keymap)
        with Vertical():
            yield Label(f"Keys — {where_name(self.scope)} first", id="help-title")
            with VerticalScroll():
                yield Static(self.table, id="help-table")
            yield Label("! changes devices or settings (hidden in read-only mode) · remap in config.toml: "
                        "[keymap] \"devices.lock\" = \"ctrl+l\" · esc closes", id="help-foot", markup=False)

    def action_close(self) -> None:
        """Close help."""
        self.dismiss(None)
