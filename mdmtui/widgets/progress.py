"""Collection progress: one line per linkage being collected (pages, devices, rate)."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from mdmtui.records import Progress
from mdmtui.widgets.safe import plain


def progress_line(p: Progress) -> str:
    """``Intune: page 3, 1,200 of 2,000 devices, 450/s``."""
    devices = f"{p.devices:,} of {p.total:,}" if p.total else f"{p.devices:,}"
    rate = f", {p.rate:,.0f}/s" if p.rate else ""
    return f"{p.linkage}: page {p.pages}, {devices} devices{rate}"


class CollectionPanel(Widget):
    """Hidden unless a collection runs; shows the app's ``collecting`` map."""

    DEFAULT_CSS = """
    CollectionPanel { dock: bottom; height: auto; max-height: 5; background: $boost; color: $foreground;
                      display: none; padding: 0 1; }
    CollectionPanel.-active { display: block; }
    """

    def on_mount(self) -> None:
        self.watch(self.app, "collecting", self._changed, init=True)

    def _changed(self, collecting: dict) -> None:
        self.set_class(bool(collecting), "-active")
        self.refresh(layout=True)

    def render(self) -> Text:
        """One line per running linkage, and how to stop."""
        collecting: dict = getattr(self.app, "collecting", {})
        lines = [progress_line(p) if isinstance(p, Progress) else f"{name}: starting…"
                 for name, p in collecting.items()]
        if lines:
            lines[-1] += "   (x: stop)"
        return plain("\n".join(lines), lines=True)
