"""A virtualised table: rows are fetched a page at a time from a row source and rendered on demand.

The stock DataTable keeps every row in memory and measures them all; this one keeps a few pages in an
LRU cache and renders only the lines on screen (Line API, as Toolong's ``log_lines.py``), so a fleet of
100,000 devices costs no more than the rows visible plus the cache.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, cast

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.worker import Worker, WorkerState

from mdmtui.textwidth import fit, width as text_width
from mdmtui.widgets.safe import report_failure, report_worker_failure, visible


class RowSource(Protocol):
    """Where the table's rows come from; both calls run in a worker thread.

    A source may also have ``submit_page(offset, limit) -> concurrent.futures.Future`` (``PageSubmitter``):
    the page handed to the source's own executor, called on the event loop, never blocking. The table then
    takes the answer as one call on the event loop, with no worker thread and no worker state messages
    (``_fetch``): a keystroke's rows come a millisecond or two sooner (bench/tui.py --keystrokes)."""

    def count(self) -> int:
        """How many rows the current query has."""

    def page(self, offset: int, limit: int) -> Sequence[Any]:
        """Rows ``offset`` .. ``offset + limit`` of the current query."""


class PageSubmitter(Protocol):
    """A row source's optional non-blocking page call (see ``RowSource``)."""

    def __call__(self, offset: int, limit: int) -> Future[Sequence[Any]]: ...


@dataclass(frozen=True)
class Column:
    """One column: how to read a cell from a row, and how wide it is."""

    key: str
    label: str
    width: int
    render: Callable[[Any], str | None]
    flex: bool = False  # takes the room left over
    tone: Callable[[Any], str | None] | None = None  # "danger" | "warn" | "muted" | None
    whole: bool = False  # an identifier (IMEI, serial, phone): never cut; the column widens to its values


STRIPS_KEPT = 60.0  # seconds a painted row is reused across sources (its cells may age: "not seen 30d+")
NOT_COLLECTED_CELL = "n/c"  # a table cell the source did not deliver (the detail pane spells it out)


class VirtualTable(ScrollView, can_focus=True):
    """A table over a ``RowSource`` that never holds more than a few pages of rows."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "jump(0)", "First", show=False),
        Binding("end,G", "jump(-1)", "Last", show=False),
        Binding("right", "columns(1)", "Next column", show=False),
        Binding("left", "columns(-1)", "Previous column", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "virtual-table--header", "virtual-table--cursor", "virtual-table--marked", "virtual-table--loading",
        "virtual-table--danger", "virtual-table--warn", "virtual-table--muted", "virtual-table--sorted",
    }
    DEFAULT_CSS = """
    VirtualTable { background: $surface; overflow-x: hidden; }
    VirtualTable > .virtual-table--header { text-style: bold; background: $panel; color: $foreground; }
    VirtualTable > .virtual-table--sorted { text-style: bold underline; background: $panel; color: $accent; }
    VirtualTable > .virtual-table--cursor { background: $block-cursor-blurred-background; }
    VirtualTable:focus > .virtual-table--cursor { background: $block-cursor-background; color: $block-cursor-foreground; text-style: bold; }
    VirtualTable > .virtual-table--marked { color: $warning; text-style: bold; }
    VirtualTable > .virtual-table--loading { color: $text-muted; }
    VirtualTable > .virtual-table--danger { color: $error; }
    VirtualTable > .virtual-table--warn { color: $warning; }
    VirtualTable > .virtual-table--muted { color: $text-muted; }
    """

    cursor: reactive[int] = reactive(0)
    row_count: reactive[int | None] = reactive(None)  # None until the first count arrives

    class Highlighted(Message):
        """The cursor moved to another row (``row`` is None when the table is empty)."""

        def __init__(self, table: VirtualTable, row: Any | None) -> None:
            super().__init__()
            self.table = table
            self.row = row

        @property
        def control(self) -> VirtualTable:
            """The table (for ``@on(..., selector)``)."""
            return self.table

    class HeaderClicked(Message):
        """A column header was clicked (sort by it)."""

        def __init__(self, table: VirtualTable, column: Column) -> None:
            super().__init__()
            self.table = table
            self.column = column

        @property
        def control(self) -> VirtualTable:
            """The table (for ``@on(..., selector)``)."""
            return self.table

    class Loaded(Message):
        """The first page of the current query is on screen."""

        def __init__(self, table: VirtualTable, count: int) -> None:
            super().__init__()
            self.table = table
            self.count = count

        @property
        def control(self) -> VirtualTable:
            """The table (for ``@on(..., selector)``)."""
            return self.table

    def __init__(self, columns: Sequence[Column], *, key: Callable[[Any], Hashable] = id,
                 page_size: int = 50, cache_pages: int = 24, show_marks: bool = True,
                 sort_key: str | None = None, descending: bool = False, frozen: int = 0,
                 name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.columns = list(columns)
        self.row_key = key
        self.page_size = page_size
        self.show_marks = show_marks
        self.sort_key, self.descending = sort_key, descending
        self.sort_labels: dict[str, str] = {}  # labels of sort keys that are no column here (hidden ones)
        self.marked: set[Hashable] = set()
        self._source: RowSource | None = None
        self._generation = 0
        self._pages: OrderedDict[int, Sequence[Any]] = OrderedDict()
        # The rows on screen when the source was replaced, painted until the new source's first page comes
        # (``set_source``); None once it has. Never handed out as rows (``row_at``): only drawn.
        self._shown: OrderedDict[int, Sequence[Any]] | None = None
        self._keep_cursor = False
        self.painted_generation = 0  # the source generation whose rows were last painted in full (bench, tests)
        self._cache_pages = cache_pages
        self._pending: set[int] = set()
        self._failed: set[int] = set()  # pages whose query failed: not asked again until the next source
        # Painted rows by the row's key (not its index): a keystroke that narrows the filter finds most of
        # its rows painted already, wherever they now are (``_row_strip``); kept across sources.
        self._strips: LRUCache[tuple, tuple[Any, Strip]] = LRUCache(512)
        self._strips_since = time.monotonic()
        self._widths: list[int] = [c.width for c in self.columns]
        self._widest: dict[int, int] = {}  # whole columns: the widest value seen so far
        self.frozen = frozen  # leading columns that never scroll away (the device's name)
        self.first_column = 0  # how many scrollable columns are scrolled off to the left
        self._last_highlight: Hashable | None = object()
        self._counted = False  # the count is settled: known, or its query failed
        self._count_worker: Worker[Any] | None = None
        self._count_when_painted = False  # the count waits for the first page's paint (``_store_page``)
        self._first_page: int | None = None
        self._pass: dict[str, Any] | None = None  # what one repaint computes once (``_once``)
        self._styles: dict[tuple[str, bool], Style] = {}  # component styles by name and focus (``_style``)

    # ------------------------------------------------------------------ data

    def set_source(self, source: RowSource, *, keep_cursor: bool = False) -> None:
        """Show ``source``'s rows: the cursor's page first, then (only if needed) the count.

        Until that page comes, the rows on screen stay there as they are (not blanked, not repainted): a
        keystroke costs one repaint, with the new rows, and not a frame of placeholders first, which
        would also hold the real one back to Textual's next frame (60 per second)."""
        self._cancel_count(stale=source is not self._source)
        self._source = source
        self._generation += 1
        self._counted = False
        self._count_when_painted = False
        if self._shown is None and self._pages:
            self._shown = self._pages
        self._pages = OrderedDict()
        self._pending.clear()
        self._failed.clear()
        if time.monotonic() - self._strips_since > STRIPS_KEPT:  # a row's cells age ("not seen 30d+")
            self._clear_strips()
        self._keep_cursor = keep_cursor
        if not keep_cursor and self._shown is None:
            self._top()
        # The page paints the screen; a short page *is* the count, else the count follows it (a keystroke
        # waits for one query, not two on a busy CPU).
        self._first_page = self.cursor // self.page_size
        self._fetch(self._first_page)

    def _top(self) -> None:
        self.cursor = 0
        if self.scroll_offset.y:
            self.scroll_to(y=0, animate=False)

    def _count(self) -> None:
        source, generation = self._source, self._generation
        if source is None:
            return
        self._count_worker = self.run_worker(lambda: (generation, source.count()), thread=True, exclusive=True,
                                             group=f"count-{self.id}", name="count", exit_on_error=False)

    def _cancel_count(self, *, stale: bool) -> None:
        """Stop waiting for the running count; a source replaced (a new keystroke) also stops its query,
        where the source can (``cancel_count``: for good, a stale source never counts again)."""
        self.workers.cancel_group(self, f"count-{self.id}")
        cancel = getattr(self._source, "cancel_count", None) if stale else None
        if cancel is not None:
            cancel()

    def reload(self) -> None:
        """Fetch everything again, keeping the cursor where it is (the row is announced again)."""
        if self._source is not None:
            self._last_highlight = object()
            self.set_source(self._source, keep_cursor=True)

    @property
    def highlighted_key(self) -> Hashable | None:
        """The key of the row last announced as highlighted (None: none)."""
        return self._last_highlight

    def row_at(self, index: int) -> Any | None:
        """The row at ``index`` if its page is cached (a fetch is started otherwise); None while the rows
        on screen are still the replaced source's."""
        if self._shown is not None or self.row_count is None or not 0 <= index < self.row_count:
            return None
        number, offset = divmod(index, self.page_size)
        page = self._pages.get(number)
        if page is None:
            if number not in self._failed:  # a failed page would fail again at every repaint
                self._fetch(number)
            return None
        self._pages.move_to_end(number)
        return page[offset] if offset < len(page) else None

    @property
    def cursor_row(self) -> Any | None:
        """The highlighted row, when loaded."""
        return self.row_at(self.cursor)

    @property
    def fetching(self) -> bool:
        """A page was asked for and has not come yet (tests wait on it: a submitted page has no worker)."""
        return bool(self._pending)

    @property
    def cached_rows(self) -> int:
        """Rows held in memory right now (for the benchmark and tests)."""
        return sum(len(p) for p in self._pages.values())

    def _fetch(self, number: int) -> None:
        if number in self._pending or self._source is None:
            return
        self._pending.add(number)
        source, generation = self._source, self._generation
        offset = number * self.page_size
        submit: PageSubmitter | None = getattr(source, "submit_page", None)
        if submit is None:
            self.run_worker(lambda: (generation, number, list(source.page(offset, self.page_size))),
                            thread=True, group=f"page-{self.id}", name="page", exit_on_error=False)
            return
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()  # the app's: Textual finds its app and message pump in it
        try:
            future = submit(offset, self.page_size)
        except Exception as error:  # noqa: BLE001 - e.g. the storage closed: reported, as a failed query is
            self._page_failed(number, error)
            return

        def answered(done: Future[Sequence[Any]]) -> None:  # on the executor's thread
            try:
                loop.call_soon_threadsafe(self._page_answered, generation, number, done, context=context)
            except RuntimeError:
                pass  # the event loop has closed: the console is gone, and the page with it

        future.add_done_callback(answered)

    def _page_answered(self, generation: int, number: int, done: Future[Sequence[Any]]) -> None:
        """A submitted page's answer, on the event loop: stored, or reported as a failed page."""
        if generation != self._generation or not self.is_attached:
            return  # a new source replaced the one asked (its pending pages went with it)
        error = done.exception()
        if error is not None:
            self._page_failed(number, error)
        else:
            self._store_page(number, list(done.result()))

    def _page_failed(self, number: int | None, error: BaseException) -> None:
        """A page's query failed: not asked again for this source (it would fail again at every repaint),
        the admin told, and the replaced source's rows no longer shown as if they were the answer."""
        if number is None:
            self._failed |= self._pending
            self._pending.clear()
        else:
            self._failed.add(number)
            self._pending.discard(number)
        if self._shown is not None:
            self._shown = None
            self.refresh()
        if self._count_when_painted:  # a row on screen will never come, nor a paint with every row: count now
            self._count_when_painted = False
            self._count()
        report_failure(self, error, what="page")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Take a count or page from a finished worker (failures bubble to the app's handler)."""
        if event.worker.node is not self or event.state != WorkerState.SUCCESS:
            if event.worker.node is self and event.state == WorkerState.ERROR:
                if event.worker.name == "page":
                    self._page_failed(None, cast(BaseException, event.worker.error))
                else:
                    self._pending.clear()
                    if event.worker is self._count_worker:  # no count will come: the rows known are all shown
                        self._counted = True
                        self._update_virtual_size()
                    report_worker_failure(self, event)
            return
        event.stop()
        if event.worker.name == "count":
            generation, count = cast(tuple[int, int], event.worker.result)
            if generation == self._generation:
                self._set_count(count)
        elif event.worker.name == "page":
            generation, number, rows = cast(tuple[int, int, list[Any]], event.worker.result)
            if generation == self._generation:
                self._store_page(number, rows)

    def _set_count(self, count: int, *, final: bool = True) -> None:
        self.row_count = count
        self._counted = self._counted or final
        self.cursor = min(self.cursor, max(count - 1, 0))
        self._update_virtual_size()
        if count == 0:
            self.post_message(self.Loaded(self, 0))
            self._announce()
        elif self.cursor // self.page_size in self._pages:
            self._announce()
            self.post_message(self.Loaded(self, count))
        else:
            self._fetch(self.cursor // self.page_size)
        self.refresh()

    def _store_page(self, number: int, rows: list[Any]) -> None:
        self._pending.discard(number)
        self._failed.discard(number)
        self._pages[number] = rows
        self._widen(rows)
        while len(self._pages) > self._cache_pages:
            self._pages.popitem(last=False)
        self.refresh()
        if self._shown is not None:  # the new source's first rows replace the ones on screen
            self._shown = None
            if not self._keep_cursor:
                self._top()
        if not self._counted and number == self._first_page:
            self._first_page = None
            offset = number * self.page_size
            if len(rows) < self.page_size and (rows or number == 0):
                self._set_count(offset + len(rows))  # the last page: the count is known
                return
            if rows:
                self._set_count(offset + len(rows), final=False)  # at least this many; the count follows
            # the count starts once these rows are on screen (``render_lines``): a query beside the paint
            # slows the paint; at once when the table is not on the screen shown (no paint would come)
            if self.screen.is_current and self.is_on_screen:
                self._count_when_painted = True
            else:
                self._count()
            return
        if number == self.cursor // self.page_size and self.row_count is not None:
            self._announce()
            self.post_message(self.Loaded(self, self.row_count or 0))

    def _announce(self) -> None:
        row = self.cursor_row
        key = self.row_key(row) if row is not None else None
        if key != self._last_highlight:
            self._last_highlight = key
            self.post_message(self.Highlighted(self, row))

    # ------------------------------------------------------------------ geometry

    @property
    def _view_width(self) -> int:
        """The cells a line has: the widget's width less the vertical scrollbar drawn over it."""
        if self._pass is None:
            return self.scrollable_content_region.width
        width = self._pass.get("width")
        if width is None:
            width = self._pass["width"] = self.scrollable_content_region.width
        return cast(int, width)

    def _once(self, key: str, make: Callable[[], Any]) -> Any:
        """``make()``, computed once per repaint (``render_lines``): a repaint asks for the same styles,
        widths and layout on every line, and Textual computes each afresh (the most of a repaint's cost)."""
        if self._pass is None:
            return make()
        if key not in self._pass:
            self._pass[key] = make()
        return self._pass[key]

    def _style(self, name: str) -> Style:
        """A component class's style (``virtual-table--…``), kept until the styles or the focus change
        (Textual's own cache of it goes at every refresh, and each repaint asked for it afresh)."""
        key = (name, self.has_focus)
        style = self._styles.get(key)
        if style is None:
            style = self._styles[key] = self.get_component_rich_style(f"virtual-table--{name}")
        return style

    @property
    def _base(self) -> Style:
        return self._once("base", lambda: self.rich_style)

    def _widen(self, rows: Sequence[Any]) -> None:
        """Identifier columns grow to their widest value: an IMEI or a serial is never cut."""
        grew = False
        for i, column in enumerate(self.columns):
            if not column.whole:
                continue
            widest = max((text_width(visible(v)) for v in map(column.render, rows) if v), default=0)
            if widest > self._widest.get(i, 0):
                self._widest[i] = widest
                grew = True
        if grew:
            self._update_virtual_size()

    def _update_virtual_size(self) -> None:
        self._widths = self._column_widths(self._view_width)
        # no horizontal scrolling by cells: whole columns scroll (``first_column``), the frozen stay
        rows = self.row_count or 0
        if not self._counted:
            # Only a lower bound yet (the first page): the scrollbar keeps the rows it shows, if more, until
            # the count comes, and is not drawn twice, first as if that page were all, under a keystroke.
            rows = max(rows, self.virtual_size.height - 1)
        size = Size(self._view_width, rows + 1)
        if size != self.virtual_size:
            # As Textual's own ``_size_updated(layout=False)``: the scrollbars follow (one shown or hidden
            # lays the screen out by itself), the rest of the screen does not move with a new row count.
            # Set as a reactive it would lay out the whole screen on each keystroke: the most of a frame.
            self.set_reactive(VirtualTable.virtual_size, size)
            self._scroll_update(size)
            self.refresh()

    def _column_widths(self, available: int) -> list[int]:
        widths = [max(c.width, self._widest.get(i, 0)) for i, c in enumerate(self.columns)]
        spare = available - (sum(widths) + len(widths) + (2 if self.show_marks else 0)) - 1
        flex = [i for i, c in enumerate(self.columns) if c.flex]
        if spare > 0 and flex:
            for i in flex:
                widths[i] += spare // len(flex)
        return widths

    def _layout(self) -> list[tuple[int, int]]:
        """The columns on screen (``_fit_layout``), once per repaint."""
        return self._once("layout", self._fit_layout)

    def _fit_layout(self) -> list[tuple[int, int]]:
        """(column index, width) of the columns on screen: the frozen ones, then the scrollable ones from
        ``first_column`` while they fit; one that does not fit is cut with an ellipsis, or left out when it
        holds identifiers. When the sort column is not among them, room is kept for ``sort_tag``."""
        room = self._view_width - (2 if self.show_marks else 0) - 1  # the last cell: ▶ when more are right
        shown = self._fit(room)
        if self.sort_key is not None and not any(self.columns[i].key == self.sort_key for i, _w in shown):
            shown = self._fit(room - text_width(self.sort_tag) - 2)
        return shown

    def _fit(self, room: int) -> list[tuple[int, int]]:
        frozen = min(self.frozen, len(self.columns))
        shown: list[tuple[int, int]] = []
        for i in [*range(frozen), *range(frozen + self.first_column, len(self.columns))]:
            w = self._widths[i]
            if w + 1 <= room:
                shown.append((i, w))
                room -= w + 1
                continue
            if not self.columns[i].whole and room - 1 >= 4:
                shown.append((i, room - 1))
            break
        return shown

    @property
    def arrow(self) -> str:
        """The sort direction's sign."""
        return "▼" if self.descending else "▲"

    @property
    def sort_tag(self) -> str:
        """What the header's right end says when the sort column is off screen (scrolled away or hidden)."""
        label = self.sort_labels.get(self.sort_key or "") or next(
            (c.label for c in self.columns if c.key == self.sort_key), self.sort_key or "")
        return f"sorted by {label} {self.arrow}"

    def set_columns(self, columns: Sequence[Column]) -> None:
        """Show these columns (the rows cached stay: a column is a way of reading a row)."""
        self.columns = list(columns)
        self._widest = {}
        self.first_column = 0
        self._widths = [c.width for c in self.columns]
        self._clear_strips()
        for rows in self._pages.values():
            self._widen(rows)
        self._update_virtual_size()
        self.refresh()

    def _hidden(self) -> tuple[bool, bool]:
        """Whether columns are scrolled off to the left, and whether some are not (wholly) shown right."""
        shown = self._layout()
        last = shown[-1] if shown else None
        cut = last is not None and last[1] < self._widths[last[0]]
        right = last is None or last[0] < len(self.columns) - 1 or cut
        return self.first_column > 0, right

    def action_columns(self, delta: int) -> None:
        """Scroll by whole columns (the frozen ones stay)."""
        scrollable = len(self.columns) - min(self.frozen, len(self.columns))
        if delta > 0 and not self._hidden()[1]:
            return  # the last column is already on screen
        self.first_column = max(0, min(scrollable - 1, self.first_column + delta))
        self._clear_strips()
        self.refresh()

    def on_resize(self, event: events.Resize) -> None:
        self._clear_strips()
        self._update_virtual_size()

    # ------------------------------------------------------------------ rendering

    def _clear_strips(self) -> None:
        self._strips.clear()
        self._strips_since = time.monotonic()

    def notify_style_update(self) -> None:
        """A theme or style changed: rows painted in the old styles are painted again."""
        super().notify_style_update()
        self._styles.clear()
        self._clear_strips()

    def render_lines(self, crop: Region) -> list[Strip]:
        """The lines of ``crop``, the styles and layout they share read once (``_once``)."""
        self._pass = {}
        try:
            lines = super().render_lines(crop)
            if self._shown is None and "placeholder" not in self._pass:
                self.painted_generation = self._generation
                if self._count_when_painted:  # after this frame is out (a message, not in the frame)
                    self._count_when_painted = False
                    generation = self._generation
                    self.call_later(lambda: self._count() if generation == self._generation else None)
            return lines
        finally:
            self._pass = None

    def render_line(self, y: int) -> Strip:
        """One screen line: the header on line 0, else the row under it."""
        scroll_y = self.scroll_offset.y
        if y == 0:
            strip = self._header_strip()
        else:
            strip = self._row_strip(scroll_y + y - 1)
        if strip.cell_length == self._view_width:
            return strip
        return strip.crop_extend(0, self._view_width, self._base)

    def _header_strip(self) -> Strip:
        header = self._style("header")
        sorted_style = self._style("sorted")
        left, right = self._hidden()
        segments = [Segment("◀ " if left else "  ", header)] if self.show_marks else []
        layout = self._layout()
        for i, w in layout:
            column = self.columns[i]
            if column.key == self.sort_key:  # the direction is never cut off: the label is, with an ellipsis
                label = f"{column.label} {self.arrow}"
                if text_width(label) > w:
                    label = f"{fit(column.label, w - 2)} {self.arrow}" if w >= 3 else fit(self.arrow, w)
                segments += [Segment(fit(label, w), sorted_style), Segment(" ", header)]
            else:
                segments += [Segment(fit(column.label, w), header), Segment(" ", header)]
        tail = [] if self.sort_key is None or any(self.columns[i].key == self.sort_key for i, _w in layout) else [
            Segment(self.sort_tag, sorted_style)]
        if right:  # more columns to the right: say so
            tail += [Segment(" ", header)] if tail else []
            tail.append(Segment("▶", header))
        used = sum(s.cell_length for s in segments) + sum(s.cell_length for s in tail)
        if tail and used <= self._view_width:
            segments += [Segment(" " * (self._view_width - used), header), *tail]
        return Strip(segments).extend_cell_length(self._view_width, header)

    def _row_strip(self, index: int) -> Strip:
        if self._shown is not None:  # painted again before the new rows came: the old ones, as they were
            number, offset = divmod(index, self.page_size)
            page = self._shown.get(number)
            row = page[offset] if page is not None and offset < len(page) else None
            if row is None:
                return Strip.blank(self._view_width, self._base)
            return self._render_row(row, index == self.cursor, self.row_key(row) in self.marked)
        row_count = self.row_count
        if row_count is None or index >= row_count:
            return Strip.blank(self._view_width, self._base)
        row = self.row_at(index)
        if row is None:
            return self._render_row(None, False, False)
        key = self.row_key(row)
        marked = key in self.marked
        is_cursor = index == self.cursor
        cache_key = (key, is_cursor, marked, self._once("look", self._look))
        cached = self._strips.get(cache_key)
        if cached is not None and (cached[0] is row or cached[0] == row):  # the same row, collected the same
            return cached[1]
        strip = self._render_row(row, is_cursor, marked)
        self._strips[cache_key] = (row, strip)
        return strip

    def _look(self) -> tuple[Any, ...]:
        """What a painted row depends on besides the row: focus, column widths and scroll, line width."""
        return self.has_focus, tuple(self._widths), self.first_column, self._view_width

    def _render_row(self, row: Any | None, is_cursor: bool, marked: bool) -> Strip:
        base = self._base
        view = self._view_width
        if row is None:
            if self._pass is not None:
                self._pass["placeholder"] = True
            style = self._style("loading")
            return Strip([Segment(fit("  …", view), style)], view)
        if marked:
            base += self._style("marked")
        # Cells of one style go out as one segment: every segment costs again in Textual's line filters
        texts, styles = (["● " if marked else "  "], [base]) if self.show_marks else ([], [])
        used = 2 if self.show_marks else 0
        columns = self.columns
        for i, w in self._layout():
            column = columns[i]
            value = column.render(row)  # the cell, exactly w columns (fit)
            if value is None:
                text, style = fit(NOT_COLLECTED_CELL, w), base + self._style("muted")
            else:
                tone = column.tone(row) if column.tone else None
                style = base + self._style(tone) if tone else base
                if not isinstance(value, str):
                    value = str(value)
                text = fit(value if value.isascii() and value.isprintable() else visible(value), w)
            if styles and styles[-1] is style:
                texts[-1] += text
            else:
                texts.append(text)
                styles.append(style)
            if style is base:
                texts[-1] += " "
            else:
                texts.append(" ")
                styles.append(base)
            used += w + 1
        if used < view:
            if styles and styles[-1] is base:
                texts[-1] += " " * (view - used)
            else:
                texts.append(" " * (view - used))
                styles.append(base)
        strip = Strip(list(map(Segment, texts, styles)), max(used, view))
        if is_cursor:
            strip = strip.apply_style(self._style("cursor"))
        return strip

    # ------------------------------------------------------------------ cursor and input

    def watch_cursor(self, old: int, new: int) -> None:
        self._scroll_cursor_into_view()
        self.refresh()
        self._announce()

    def _scroll_cursor_into_view(self) -> None:
        visible = max(self.size.height - 1, 1)
        top = int(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + visible:
            self.scroll_to(y=self.cursor - visible + 1, animate=False, immediate=True)

    def action_cursor(self, delta: int) -> None:
        """Move the cursor by ``delta`` rows."""
        if self.row_count:
            self.cursor = max(0, min(self.row_count - 1, self.cursor + delta))

    def action_page(self, direction: int) -> None:
        """Move the cursor by one screen."""
        self.action_cursor(direction * max(self.size.height - 2, 1))

    def action_jump(self, index: int) -> None:
        """Move to the first (0) or last (-1) row."""
        if self.row_count:
            self.cursor = self.row_count - 1 if index < 0 else index

    def toggle_mark(self) -> bool:
        """Mark or unmark the highlighted row; True when it is now marked."""
        row = self.cursor_row
        if row is None:
            return False
        key = self.row_key(row)
        self.marked.symmetric_difference_update({key})
        self.refresh()
        return key in self.marked

    def clear_marks(self) -> None:
        """Unmark every row."""
        self.marked.clear()
        self.refresh()

    def on_click(self, event: events.Click) -> None:
        """A click on a header sorts by that column; on a row, moves the cursor there."""
        x = event.x - (2 if self.show_marks else 0)
        if event.y == 0:
            column = self._column_at(x)
            if column is not None:
                self.post_message(self.HeaderClicked(self, column))
            return
        index = int(self.scroll_y) + event.y - 1
        if self.row_count and 0 <= index < self.row_count:
            self.cursor = index

    def _column_at(self, x: int) -> Column | None:
        edge = 0
        for i, w in self._layout():
            edge += w + 1
            if x < edge:
                return self.columns[i]
        return None

    def on_focus(self) -> None:
        self.refresh()  # painted rows are kept by focus too (``_look``)

    def on_blur(self) -> None:
        self.refresh()

    def visible_text(self) -> list[str]:
        """The text of the lines on screen (header first): what the admin reads, for tests."""
        lines = []
        for y in range(self.size.height):
            strip = self.render_line(y)
            lines.append("".join(seg.text for seg in strip).rstrip())
        return lines


def header_width(columns: Sequence[Column]) -> int:
    """The width all columns need at their base widths."""
    return sum(max(c.width, text_width(c.label)) for c in columns) + len(columns)
