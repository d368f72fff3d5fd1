"""The virtual table: pages on demand, a bounded cache, cursor, marks, sort clicks, wide characters."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from textual.app import App, ComposeResult

from mdmtui.textwidth import width
from mdmtui.widgets.virtual_table import Column, VirtualTable


@dataclass
class Row:
    id: int
    name: str
    serial: str | None


class CountingSource:
    """A fleet of ``n`` rows that records which pages were asked for."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.pages: list[tuple[int, int]] = []

    def count(self) -> int:
        return self.n

    def page(self, offset: int, limit: int) -> list[Row]:
        self.pages.append((offset, limit))
        return [Row(i, "営業部の iPhone" if i == 1 else f"device-{i:06d}", None if i == 2 else f"SN{i}")
                for i in range(offset, min(offset + limit, self.n))]


COLUMNS = [Column("name", "Name", 16, lambda r: r.name), Column("serial", "Serial", 10, lambda r: r.serial)]


class TableApp(App):
    def __init__(self, source) -> None:
        super().__init__()
        self.source = source
        self.clicked: list[str] = []
        self.loaded: list[int] = []

    def on_virtual_table_loaded(self, event: VirtualTable.Loaded) -> None:
        self.loaded.append(event.count)

    def on_virtual_table_header_clicked(self, event: VirtualTable.HeaderClicked) -> None:
        self.clicked.append(event.column.key)

    def compose(self) -> ComposeResult:
        yield VirtualTable(COLUMNS, key=lambda r: r.id, page_size=50, cache_pages=3, id="t")

    def on_mount(self) -> None:
        self.query_one(VirtualTable).set_source(self.source)


async def test_only_visible_pages_are_fetched_and_the_cache_stays_bounded():
    source = CountingSource(100_000)
    app = TableApp(source)
    async with app.run_test(size=(60, 20)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        table = app.query_one(VirtualTable)
        assert table.row_count == 100_000
        assert source.pages == [(0, 50)]
        lines = table.visible_text()
        assert lines[0].split() == ["Name", "Serial"]
        assert "device-000000" in lines[1]
        await pilot.press("end")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert table.cursor == 99_999
        assert "device-099999" in table.visible_text()[-1]
        for _ in range(5):
            await pilot.press("pageup")
            await app.workers.wait_for_complete()
            await pilot.pause()
        assert table.cached_rows <= 3 * 50
        assert len(source.pages) < 10


async def test_marks_not_collected_and_wide_names_align():
    app = TableApp(CountingSource(10))
    async with app.run_test(size=(60, 12)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        table = app.query_one(VirtualTable)
        await pilot.press("down")
        assert table.toggle_mark()
        lines = table.visible_text()
        # the Japanese name takes two columns per character: the serial column starts at the same cell
        assert width(lines[2].split("SN1")[0]) == width(lines[1].split("SN0")[0])
        assert lines[2].startswith("●")
        assert "n/c" in lines[3]  # row 2 has no serial: not collected
        assert table.marked == {1}


async def test_header_click_reports_the_column():
    app = TableApp(CountingSource(5))
    async with app.run_test(size=(60, 10)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.click(VirtualTable, offset=(22, 0))
        await pilot.pause()
        assert app.clicked == ["serial"]
        await pilot.click(VirtualTable, offset=(3, 4))
        await pilot.pause()
        assert app.query_one(VirtualTable).cursor == 3


@dataclass
class Wide:
    id: int
    name: str
    imei: str
    model: str
    phone: str


class WideSource:
    def count(self) -> int:
        return 3

    def page(self, offset: int, limit: int) -> list[Wide]:
        return [Wide(i, f"端末-{i}", f"35899911423848{i}", "Galaxy S24 Ultra Enterprise Edition", f"+8170930790{i:02d}")
                for i in range(offset, min(offset + limit, 3))][:limit]


WIDE_COLUMNS = [Column("name", "Name", 10, lambda r: r.name, flex=True),
                Column("model", "Model", 12, lambda r: r.model),
                Column("imei", "IMEI", 10, lambda r: r.imei, whole=True),
                Column("phone", "Phone", 8, lambda r: r.phone, whole=True)]


class WideApp(App):
    def compose(self) -> ComposeResult:
        yield VirtualTable(WIDE_COLUMNS, key=lambda r: r.id, id="t", frozen=1)

    def on_mount(self) -> None:
        self.query_one(VirtualTable).set_source(WideSource())


async def test_cut_cells_end_in_an_ellipsis_and_identifiers_are_never_cut():
    app = WideApp()
    async with app.run_test(size=(44, 8)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        lines = app.query_one(VirtualTable).visible_text()
        assert "Galaxy S24 …" in lines[1]  # cut, with a sign
        assert "358999114238480" in lines[1]  # the IMEI whole (its column widened to fit it)
        assert "+81709307" not in lines[1]  # the phone does not fit whole: left out, not cut
        assert lines[0].endswith("▶")  # and the header says more columns are to the right


async def test_right_scrolls_by_whole_columns_and_the_name_stays():
    app = WideApp()
    async with app.run_test(size=(44, 8)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        table = app.query_one(VirtualTable)
        table.focus()
        await pilot.press("right")
        await pilot.pause()
        lines = table.visible_text()
        assert lines[0].split()[:4] == ["◀", "Name", "IMEI", "Phone"]  # Model scrolled away, Name frozen
        assert "端末-0" in lines[1] and "358999114238480" in lines[1] and "+817093079000" in lines[1]
        await pilot.press("right")  # the last column is already on screen: nothing moves
        await pilot.pause()
        assert table.visible_text() == lines
        await pilot.press("left")
        await pilot.pause()
        assert "Model" in table.visible_text()[0]


async def test_the_count_starts_once_the_first_page_is_painted():
    """A count beside the paint slows the paint (the two share the GIL): the count of a new filter starts
    after the refresh that paints its first page, and a count for an older filter never starts."""
    app = TableApp(CountingSource(100_000))
    async with app.run_test(size=(60, 20)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        table = app.query_one(VirtualTable)
        painted_when_counting: list[bool] = []
        count = table._count

        def spy() -> None:
            painted_when_counting.append(table.painted_generation == table._generation)  # the new page is on screen
            count()

        table._count = spy  # type: ignore[method-assign]
        table.set_source(CountingSource(90_000))
        table.set_source(CountingSource(80_000))  # the next keystroke before the first one painted
        for _ in range(250):  # a busy machine may need several refreshes before the count is in
            await app.workers.wait_for_complete()
            await pilot.pause()
            if table._counted:
                break
        assert painted_when_counting == [True] and table.row_count == 80_000


class GatedSource(CountingSource):
    """Rows that come only once ``gate`` is set (a slow query), or an error instead."""

    def __init__(self, n: int, *, fail: bool = False) -> None:
        super().__init__(n)
        self.gate = threading.Event()
        self.fail = fail

    def page(self, offset: int, limit: int) -> list[Row]:
        self.gate.wait(10)
        if self.fail:
            raise RuntimeError("the database went away")
        return [Row(i, f"other-{i:06d}", f"SN{i}") for i in range(offset, min(offset + limit, self.n))]


async def _settled(app, pilot) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()


async def test_a_new_source_keeps_the_rows_on_screen_until_its_first_page_comes():
    """A keystroke repaints once, with the new rows: no frame of placeholders in between (which also
    held the real frame back by up to a frame period), and the old rows are never handed out as rows."""
    app = TableApp(CountingSource(1_000))
    async with app.run_test(size=(60, 20)) as pilot:
        await _settled(app, pilot)
        table = app.query_one(VirtualTable)
        await pilot.press("down", "down")
        before = table.visible_text()
        painted = table.painted_generation
        slow = GatedSource(500)
        table.set_source(slow)
        await pilot.pause()
        assert table.visible_text() == before  # the old rows, cursor and all, not "…"
        assert table.cursor_row is None and table.painted_generation == painted
        slow.gate.set()
        await _settled(app, pilot)
        assert "other-000000" in table.visible_text()[1] and table.cursor == 0
        assert table.cursor_row.name == "other-000000" and table.painted_generation == table._generation


async def test_a_new_row_count_does_not_lay_the_screen_out_again():
    """A filter keystroke changes the row count: that moves the scrollbar, not the screen's layout (a
    layout of the whole screen was most of a keystroke's frame)."""
    app = TableApp(CountingSource(1_000))
    async with app.run_test(size=(60, 20)) as pilot:
        await _settled(app, pilot)
        table = app.query_one(VirtualTable)
        layouts: list[bool] = []
        refresh_layout = app.screen._refresh_layout

        def spy(*args, **kwargs):
            layouts.append(True)
            return refresh_layout(*args, **kwargs)

        app.screen._refresh_layout = spy  # type: ignore[method-assign]
        table.set_source(CountingSource(700))
        await _settled(app, pilot)
        await _settled(app, pilot)
        assert table.row_count == 700 and table.virtual_size.height == 701
        assert layouts == []
        assert table.vertical_scrollbar.window_virtual_size == 701  # the scrollbar did follow


class SlowCount(CountingSource):
    """Pages at once, the count only once ``gate`` is set (a slow COUNT), or an error instead."""

    def __init__(self, n: int, *, fail: bool = False) -> None:
        super().__init__(n)
        self.gate = threading.Event()
        self.fail = fail

    def count(self) -> int:
        self.gate.wait(10)
        if self.fail:
            raise RuntimeError("the count was cut off")
        return self.n


async def test_the_scrollbar_keeps_its_rows_until_the_count_comes():
    """A new filter's first page is only a lower bound of its rows: the scrollbar stays as it was until the
    count comes (not drawn once as if that page were all, then again), and shows the rows known when the
    count fails."""
    app = TableApp(CountingSource(1_000))
    async with app.run_test(size=(60, 20)) as pilot:
        await _settled(app, pilot)
        table = app.query_one(VirtualTable)
        bar = table.vertical_scrollbar
        slow = SlowCount(700)
        table.set_source(slow)
        await _until(pilot, lambda: table.painted_generation == table._generation)
        assert "device-000000" in table.visible_text()[1] and table.row_count == 50 and not table._counted
        assert table.virtual_size.height == 1_001 and bar.window_virtual_size == 1_001
        slow.gate.set()
        await _until(pilot, lambda: table._counted)
        await pilot.pause()
        assert table.row_count == 700 and table.virtual_size.height == 701 and bar.window_virtual_size == 701
        notes: list[str] = []
        app.notify = lambda message, **kw: notes.append(message)  # type: ignore[method-assign]
        broken = SlowCount(900, fail=True)
        broken.gate.set()
        table.set_source(broken)
        await _until(pilot, lambda: bool(notes) and table._counted)
        await pilot.pause()
        assert notes == ["the count was cut off"] and app.is_running
        assert table.row_count == 50 and table.virtual_size.height == 51 and bar.window_virtual_size == 51


class FailingFirstPage(CountingSource):
    """Every page but the first (a page whose query fails, once the table has been opened)."""

    def __init__(self, n: int) -> None:
        super().__init__(n)
        self.fail = False

    def page(self, offset: int, limit: int) -> list[Row]:
        if self.fail and offset == 0:
            raise RuntimeError("the database went away")
        return super().page(offset, limit)


async def test_the_count_comes_when_a_page_on_screen_fails():
    """The count waits for a paint with every row on screen; when one of their pages fails, no such paint
    comes: the count starts then, and the scrollbar shows it."""
    source = FailingFirstPage(1_000)
    app = TableApp(source)
    async with app.run_test(size=(60, 20)) as pilot:
        await _settled(app, pilot)
        table = app.query_one(VirtualTable)
        app.notify = lambda message, **kw: None  # type: ignore[method-assign]
        table.cursor = 55  # rows 37..55 on screen: pages 0 and 1
        await _settled(app, pilot)
        source.fail = True
        source.n = 700
        table.reload()  # the cursor's page (1) first, then page 0, which fails
        await _until(pilot, lambda: table._counted)
        assert table._failed == {0} and table.row_count == 700 and table.virtual_size.height == 701


class Subset(CountingSource):
    """Every ``step``-th row of a ``CountingSource`` (a narrower filter), some of them ``renamed``."""

    def __init__(self, n: int, step: int, renamed: dict[int, str] | None = None) -> None:
        super().__init__(n)
        self.step, self.renamed = step, renamed or {}

    def count(self) -> int:
        return len(range(0, self.n, self.step))

    def page(self, offset: int, limit: int) -> list[Row]:
        rows = [Row(r.id, self.renamed.get(r.id, r.name), r.serial) for r in super().page(0, self.n)[::self.step]]
        return rows[offset:offset + limit]


async def test_a_row_on_screen_for_one_filter_is_not_drawn_again_for_the_next():
    """Typing narrows the filter: most rows of its answer were on screen already. They are drawn again
    only when their values changed, wherever they now are; the rows new on screen are drawn."""
    app = TableApp(CountingSource(100))
    async with app.run_test(size=(60, 20)) as pilot:
        await _settled(app, pilot)
        table = app.query_one(VirtualTable)
        drawn: list[int] = []
        draw = table._render_row

        def spy(row, is_cursor, marked):
            drawn.append(row.id)
            return draw(row, is_cursor, marked)

        table._render_row = spy  # type: ignore[method-assign]
        table.set_source(Subset(100, 2, renamed={4: "renamed-4"}))
        await _until(pilot, lambda: table._counted)
        await pilot.pause()
        lines = table.visible_text()
        assert "device-000002" in lines[2] and "renamed-4" in lines[3] and "device-000036" in lines[19]
        # rows 0..18 were on screen: of them only row 4 (renamed) is drawn again, then rows 20..36
        assert sorted(set(drawn)) == [4, *range(20, 37, 2)]
        drawn.clear()
        app.theme = "textual-light" if app.theme != "textual-light" else "textual-dark"
        await pilot.pause()
        await pilot.pause()
        assert sorted(set(drawn)) == list(range(0, 37, 2))  # another theme: every row drawn in its styles


class SubmittingSource(CountingSource):
    """Rows handed to an executor of its own (``submit_page``), as the console's sources do with the
    storage's workers; ``gate`` holds the answers back, ``fail`` makes them errors."""

    def __init__(self, n: int, executor, *, prefix: str = "device", fail: bool = False) -> None:
        super().__init__(n)
        self.executor, self.prefix, self.fail = executor, prefix, fail
        self.gate = threading.Event()
        self.gate.set()

    def page(self, offset: int, limit: int) -> list[Row]:
        self.gate.wait(10)
        if self.fail:
            raise RuntimeError("the database went away")
        self.pages.append((offset, limit))
        return [Row(i, f"{self.prefix}-{i:06d}", f"SN{i}") for i in range(offset, min(offset + limit, self.n))]

    def submit_page(self, offset: int, limit: int):
        return self.executor.submit(self.page, offset, limit)


async def _until(pilot, done) -> None:
    for _ in range(200):
        await pilot.pause()
        if done():
            return


async def test_a_source_that_submits_its_pages_needs_no_worker_and_drops_stale_answers():
    """Pages of a source with ``submit_page`` come back as one call on the event loop (no worker thread,
    no worker messages: a keystroke's rows sooner), and an answer for a replaced source is dropped."""
    with ThreadPoolExecutor(2) as executor:
        first = SubmittingSource(1_000, executor)
        app = TableApp(first)
        async with app.run_test(size=(60, 20)) as pilot:
            table = app.query_one(VirtualTable)
            started: list[str | None] = []
            run_worker = table.run_worker

            def spy(*args, **kwargs):
                started.append(kwargs.get("name"))
                return run_worker(*args, **kwargs)

            table.run_worker = spy  # type: ignore[method-assign]
            apps: list[object] = []
            store = table._store_page

            def store_spy(number, rows):
                from textual._context import active_app

                apps.append(active_app.get(None))  # the answer runs in the app's context, as a handler does
                return store(number, rows)

            table._store_page = store_spy  # type: ignore[method-assign]
            table.reload()
            await _until(pilot, lambda: table._counted)
            assert "device-000000" in table.visible_text()[1] and "page" not in started
            assert apps and all(a is app for a in apps)
            slow = SubmittingSource(1_000, executor, prefix="stale")
            slow.gate.clear()
            table.set_source(slow)
            table.set_source(SubmittingSource(300, executor, prefix="new"))
            await _until(pilot, lambda: table._counted)
            slow.gate.set()
            await _until(pilot, lambda: bool(slow.pages))
            await pilot.pause()
            assert table.row_count == 300 and "new-000000" in table.visible_text()[1]
            assert not any("stale-" in line for line in table.visible_text()) and "page" not in started
            assert app.loaded[-1] == 300 and 1_000 in app.loaded


@pytest.mark.parametrize("submitted", [False, True], ids=["worker", "submitted"])
async def test_a_failed_page_is_reported_and_leaves_no_old_rows_on_screen(submitted):
    """A page query that fails (the database went away) is a notification, not the end of the console;
    the page is not asked again at every repaint, and the rows of the filter before it do not stay on
    screen as if they were the answer: through a worker and through ``submit_page`` alike."""
    with ThreadPoolExecutor(1) as executor:
        app = TableApp(CountingSource(1_000))
        async with app.run_test(size=(60, 20)) as pilot:
            await _settled(app, pilot)
            table = app.query_one(VirtualTable)
            notes: list[str] = []
            app.notify = lambda message, **kw: notes.append(f"{kw.get('title')}: {message}")  # type: ignore[method-assign]
            broken = SubmittingSource(500, executor, fail=True) if submitted else GatedSource(500, fail=True)
            broken.gate.set()
            table.set_source(broken)
            await _until(pilot, lambda: bool(notes))
            for _ in range(5):
                table.refresh()
                await pilot.pause()
            assert app.is_running and notes == ["page failed: the database went away"]
            assert table._failed == {0} and not table._pending
            assert not any("device-" in line for line in table.visible_text())
