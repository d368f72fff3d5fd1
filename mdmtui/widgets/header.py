"""The one-line header: where you are, unread events, a running collection, read-only mode."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widget import Widget

from mdmtui.widgets.safe import visible

if TYPE_CHECKING:
    from textual import getters

    from mdmtui.screens.app import MdmtuiApp


class AppHeader(Widget):
    """Reads the app's reactive state; re-renders whenever it changes."""

    if TYPE_CHECKING:
        app = getters.app(MdmtuiApp)  # for the type checker: the console, with its context, counts, runners

    DEFAULT_CSS = """
    AppHeader { dock: top; height: 1; background: $panel; color: $foreground; }
    """

    def __init__(self, title: str) -> None:
        super().__init__()
        self.title = title

    def on_mount(self) -> None:
        for name in ("unread_events", "collecting", "banner", "pending_requests", "pending_actions"):
            self.watch(self.app, name, self._changed, init=False)

    def _changed(self, *_: object) -> None:
        self.refresh()

    def render(self) -> Text:
        """Title left; events, collection and mode on the right."""
        app = self.app
        left = Text.assemble(("mdmtui", "bold"), " · ", (self.title, "bold"))
        right = Text()
        if getattr(app, "banner", ""):
            right.append(f"{visible(app.banner)}  ", style="italic")
        collecting = getattr(app, "collecting", {})
        if collecting:
            right.append(f"collecting {len(collecting)} ", style="bold")
        unread = getattr(app, "unread_events", 0)
        right.append(f"events: {unread} unread" if unread else "events: none new",
                     style="bold reverse" if unread else "")
        waiting = getattr(app, "pending_requests", 0)
        if waiting:  # two-person-rule requests another admin must decide (Requests screen, 6)
            right.append(f"  requests: {waiting}", style="bold reverse")
        unsettled = getattr(app, "pending_actions", 0)
        if unsettled:  # actions whose outcome the MDM has not settled (Pending screen)
            right.append(f"  pending: {unsettled}", style="bold reverse")
        if app.ctx.read_only:
            right.append("  READ-ONLY", style="bold reverse")
        pad = max(self.size.width - left.cell_len - right.cell_len - 1, 1)
        return Text.assemble(left, " " * pad, right)
