"""A list of counts with bars: each row selectable (arrows, enter), focus runs on to the next list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.geometry import Region
from textual.containers import Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from mdmtui.charts import bar
from mdmtui.textwidth import fit
from mdmtui.textwidth import width as width_of
from mdmtui.widgets.safe import visible

COUNT_CELLS = 8  # "100,000" and a gap
MIN_BAR = 4


class FigureList(OptionList):
    """Rows of (label, count, bar); headings between them are not selectable. ``enter`` (or a click)
    posts ``Chosen`` with the row's figure; ``down`` on the last row moves the focus to the next widget
    and ``up`` on the first to the previous one, so the whole screen is walked with the arrows."""

    DEFAULT_CSS = """
    FigureList { height: auto; max-height: 1000; border: none; padding: 0; background: $surface; }
    FigureList:focus { border: none; background-tint: $foreground 4%; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select", "Devices", tooltip="List exactly the devices of the highlighted count")]

    class Chosen(Message):
        """A figure was chosen (enter or click)."""

        def __init__(self, figures: FigureList, figure: Any) -> None:
            super().__init__()
            self.figures = figures
            self.figure = figure

        @property
        def control(self) -> FigureList:
            return self.figures

    def __init__(self, *, label_cells: int = 44, tone: str = "primary", id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.label_cells = label_cells  # at most; the longest label when shorter, 2/3 of the width when narrow
        self.tone = tone  # the theme colour of the bars (a theme variable: primary, warning, error...)
        self._rows: list[tuple[str, Any, str | None]] = []  # (label, figure or None for a heading, note)
        self._top = 1

    def set_rows(self, rows: Sequence[tuple[str, Any, str | None]], *, top: int | None = None) -> None:
        """Show ``rows``: (label, figure, note) — a figure of None makes a heading. Bars scale to ``top``
        (default: the largest count shown), so lists that compare share one scale."""
        self._rows = list(rows)
        counts = [f.count for _l, f, _n in self._rows if f is not None]
        self._top = top if top is not None else max(counts + [1])
        self._draw()

    def on_mount(self) -> None:
        self.watch(self.app, "theme", lambda *_: self._draw(), init=False)  # the bars take the theme's colour

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        keep = self.highlighted
        width = self.content_size.width or 60
        longest = max([width_of(visible(label)) for label, f, _n in self._rows if f is not None] + [8])
        label_cells = min(self.label_cells, longest + 1, max(int(width * 0.66), 8))
        bar_cells = max(width - label_cells - COUNT_CELLS - 1, 0)
        colour = self.app.theme_variables.get(self.tone, "cyan")
        options = []
        for index, (label, figure, note) in enumerate(self._rows):
            if figure is None:
                options.append(Option(Text(fit(visible(label), width), style="bold"), disabled=True))
                continue
            text = Text(fit(visible(label), label_cells))
            text.append(f"{figure.count:>{COUNT_CELLS - 1},} ", style="bold" if figure.count else "dim")
            drawn = bar(figure.count, self._top, bar_cells)
            text.append(drawn, style=colour)
            if note:
                room = bar_cells - len(drawn) - 1
                if room > 3:
                    text.append(" " + fit(visible(note), room).rstrip(), style="dim")
            options.append(Option(text, id=str(index)))
        with self.prevent(OptionList.OptionHighlighted):
            self.set_options(options)
            if keep is not None and keep < len(options) and not options[keep].disabled:
                self.highlighted = keep
            elif options:
                self.action_first()

    def figure(self) -> Any | None:
        """The highlighted row's figure."""
        if self.highlighted is None or not (0 <= self.highlighted < len(self._rows)):
            return None
        return self._rows[self.highlighted][1]

    def _enabled(self) -> list[int]:
        return [i for i, o in enumerate(self.options) if not o.disabled]

    def action_cursor_down(self) -> None:
        """Down; on the last row, on to the next list."""
        enabled = self._enabled()
        if not enabled or self.highlighted == enabled[-1]:
            self.screen.focus_next()
            return
        super().action_cursor_down()

    def action_cursor_up(self) -> None:
        """Up; on the first row, back to the previous list (its last row)."""
        enabled = self._enabled()
        if not enabled or self.highlighted == enabled[0]:
            previous = self.screen.focus_previous()
            if isinstance(previous, FigureList) and previous is not self:
                previous.action_last()
            return
        super().action_cursor_up()

    def on_focus(self) -> None:
        self.call_after_refresh(self._show_highlight)  # after the screen scrolled to the list itself

    def watch_highlighted(self, highlighted: int | None) -> None:
        super().watch_highlighted(highlighted)
        self.call_after_refresh(self._show_highlight)

    def _show_highlight(self) -> None:
        """Scroll the screen's scrolling container so the highlighted row shows (the list itself is as
        tall as its rows, so it never scrolls)."""
        if self.highlighted is None or not self.region or not self.has_focus:
            return
        ancestors: list[Any] = self.ancestors  # the scrollable ones are widgets
        scroller: Widget | None = next((a for a in ancestors if getattr(a, "is_scrollable", False)
                                        and a.allow_vertical_scroll), None)
        if scroller is None:
            return
        line = Region(self.region.x, self.region.y + self.highlighted, self.region.width, 1)
        inside = line.translate(scroller.scroll_offset - scroller.content_region.offset)
        scroller.scroll_to_region(inside.grow((1, 0, 1, 0)), animate=False)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        figure = self.figure()
        if figure is not None:
            self.post_message(self.Chosen(self, figure))


class Passage(Vertical):
    """A focusable card of pictures (no rows to choose): the arrows pass the focus on, so a screen walked
    with the arrows reaches it, and scrolls to it, like the lists around it."""

    can_focus = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down", "app.focus_next", "Next", show=False),
        Binding("up", "app.focus_previous", "Previous", show=False),
    ]
