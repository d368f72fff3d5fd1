"""What every console screen shares: header, footer, progress panel, greyed-key explanations."""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer

from mdmtui.screens.commands import DANGEROUS_ACTIONS, SCREENS, commands_for, current_keys
from mdmtui.widgets.header import AppHeader
from mdmtui.widgets.progress import CollectionPanel


class ConsoleScreen(Screen):
    """A top-level screen (a mode): subclasses compose ``body()`` and may explain disabled actions."""

    SCOPE: ClassVar[str] = "app"

    def compose(self) -> ComposeResult:
        yield AppHeader(SCREENS.get(self.SCOPE, self.SCOPE))
        yield from self.body()
        yield CollectionPanel()
        yield Footer()

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
        return True

    def disabled_reason(self, action: str) -> str:
        """Why ``action`` cannot run now (shown when its key is pressed)."""
        if action in DANGEROUS_ACTIONS and self.app.ctx.read_only:
            return "read-only mode: nothing can be changed (started with --read-only or read_only = true)"
        return "not available here"

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
                return
