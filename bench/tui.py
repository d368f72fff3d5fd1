"""Console benchmark: first paint of the virtual device table vs Textual's stock DataTable (same run,
same rows), filter keystroke latency, and memory at 10k vs 100k devices; and the console's Overview
screen's first paint against the Devices screen's, both in the real console on the same database.

    .venv/bin/python bench/tui.py [--devices 100000] [--skip-stock] [--only-overview]
    .venv/bin/python bench/tui.py --software [--devices 100000] [--apps 100]
    .venv/bin/python bench/tui.py --keystrokes [--devices 100000] [--rounds 5]

``--keystrokes`` times issue 14's filter keystrokes (``0`` … ``os:iOS 営``) until the visible rows are
painted, at 10k and at ``--devices`` devices, against a plain ``LIKE '%…%'`` scan of the same table (every
term: the index takes one and two characters too), and the first page's query alone, index against LIKE. ``--software`` measures the Software screen instead: its first paint at ``--devices`` × ``--apps``
software rows as a ratio against the device table's first paint in the same run, and its filter
keystroke latency at 10k and at ``--devices`` devices (the growth between the two).

Figures are ratios against the stock table measured in the same run, never absolute thresholds.
Rows come from the inventory service (``DeviceSource`` + ``DeviceFilter``, as the Devices screen reads
them) unless ``--source direct`` asks for a plain paged query.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import sys
import tempfile
import statistics
import time
import tracemalloc
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from textual.app import App, ComposeResult
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import DataTable

from mdmtui.config import Settings
from mdmtui.storage.models import CollectionRun, Device, Linkage, utcnow
from mdmtui.services.collection import search_text
from mdmtui.services.context import open_context
from mdmtui.screens.app import freeze_heap
from mdmtui.widgets.virtual_table import Column, VirtualTable

COLUMNS = ("computer_name", "os_name", "model", "serial_number", "imei", "phone_number", "carrier", "linkage_name")
NAMES = ["営業部の iPhone", "Galaxy", "Surface", "iPad", "Pixel", "ThinkPad", "総務 PC", "Xperia"]


def fill(ctx, n: int, seed: int = 7) -> None:
    """``n`` devices with direct bulk inserts (fast; the bench is not about collection)."""
    r = random.Random(seed)
    states = random.Random(seed + 1)  # its own stream: the names and numbers above stay as they were
    with ctx.db.atomic():
        lk = Linkage.create(name="bench", system="intune", server_url="https://graph.microsoft.com")
        rows = []
        for i in range(n):
            rows.append(dict(linkage=lk.id, linkage_name="bench", mdm_device_id=f"d{i}", os_class="IS",
                             computer_name=f"{r.choice(NAMES)}-{i:06d}", os_name="iOS", os_version="17.4",
                             model="iPhone 15", serial_number=f"SN{r.randrange(10**9):09d}",
                             imei=f"35{r.randrange(10**13):013d}", phone_number=f"090{r.randrange(10**8):08d}",
                             carrier="Docomo", device_type="Smart Device", device_status="Unknown",
                             user_name=f"user{i % 997}", last_alive_at=utcnow()))
            rows[-1].update(_varied(states))
            rows[-1]["search_text"] = search_text(rows[-1])  # as a collection writes it
            if len(rows) == 5000:
                Device.insert_many(rows).execute()
                rows = []
        if rows:
            Device.insert_many(rows).execute()


VERSIONS = ("15.8.3", "16.7.10", "17.4", "17.6.1", "18.5", "18.6.2", "26.0", "26.0.1")


def _varied(r: random.Random) -> dict:
    """What the overview counts: OS versions, security states and last-seen ages spread over the fleet."""
    return dict(os_version=r.choice(VERSIONS), passcode_set=r.random() > 0.05, jailbroken=r.random() < 0.01,
                encrypted=r.random() > 0.03, last_alive_at=utcnow() - timedelta(hours=r.expovariate(1 / 200)))


def fill_history(ctx, runs: int = 30) -> None:
    """Collection runs of the bench linkage with their inventory totals (the overview's sparklines)."""
    with ctx.db.atomic():
        lk = Linkage.get(Linkage.name == "bench")
        total = Device.select().count()
        start = utcnow() - timedelta(days=runs)
        CollectionRun.insert_many([dict(linkage=lk.id, linkage_name="bench", status="succeeded",
                                        started_at=start + timedelta(days=i),
                                        finished_at=start + timedelta(days=i, seconds=40 + i),
                                        devices_seen=total, inventory_total=total - runs + i) for i in range(runs)
                                   ]).execute()


@dataclass
class DirectSource:
    """Paged rows straight from the table (used only when the inventory service is not installed)."""

    text: str | None = None

    def _query(self):
        q = Device.select()
        if self.text:
            like = f"%{self.text}%"
            q = q.where(Device.computer_name ** like | Device.serial_number ** like | Device.imei ** like
                        | Device.udid ** like | Device.phone_number ** like | Device.user_name ** like)
        return q

    def count(self) -> int:
        return self._query().count()

    def page(self, offset: int, limit: int):
        return list(self._query().order_by(Device.computer_name).offset(offset).limit(limit))


def make_source(ctx, kind: str, text: str | None = None):
    """The device table's row source: the inventory service, or the direct query."""
    if kind == "inventory":
        from mdmtui.screens.backend import DeviceSource
        from mdmtui.services import inventory

        return DeviceSource(ctx, inventory.filter_text(text, sort="computer_name"))  # the / prompt's language
    return DirectSource(text)


def columns() -> list[Column]:
    """The Devices screen's own columns (security status included) when rows come from the inventory."""
    from mdmtui.screens.devices import device_columns
    from mdmtui.services.inventory import security_flags

    return device_columns(lambda d: ", ".join(security_flags(d)))


class VirtualApp(App):
    def __init__(self, source, table_columns=None, key=lambda d: d.id) -> None:
        super().__init__()
        self.source = source
        self.table_columns, self.key = table_columns, key
        self.loaded = asyncio.Event()
        self.painted = asyncio.Event()  # a frame showed the rows of the source generation ``awaited``
        self.awaited, self.painted_at = -1, 0.0

    def compose(self) -> ComposeResult:
        yield VirtualTable(self.table_columns or columns(), key=self.key)

    def on_mount(self) -> None:
        self.query_one(VirtualTable).set_source(self.source)
        self.call_after_refresh(freeze_heap)  # as the console does once it is on screen
        display = self._display

        def framed(screen, renderable) -> None:  # each frame going out: the time the rows are on screen
            display(screen, renderable)
            if self.query_one(VirtualTable).painted_generation == self.awaited and not self.painted.is_set():
                self.painted_at = time.perf_counter()
                self.painted.set()

        self._display = framed  # type: ignore[method-assign]

    def on_virtual_table_loaded(self) -> None:
        self.loaded.set()


class StockApp(App):
    def __init__(self, rows) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        yield DataTable()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(*COLUMNS)
        table.add_rows(self.rows)


async def first_paint_virtual(source, table_columns=None, key=lambda d: d.id) -> float:
    app = VirtualApp(source, table_columns, key)
    start = time.perf_counter()
    async with app.run_test(size=(160, 45)) as pilot:
        await app.loaded.wait()
        await pilot.pause()
        took = time.perf_counter() - start
        assert app.query_one(VirtualTable).visible_text()[1].strip(), "nothing painted"
    return took


async def first_paint_stock(ctx) -> float:
    start = time.perf_counter()
    with ctx.db.connection_context():
        rows = list(Device.select(*[getattr(Device, c) for c in COLUMNS]).order_by(Device.computer_name).tuples())
    app = StockApp(rows)
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        took = time.perf_counter() - start
    return took


async def keystroke_latency(ctx, kind: str, texts: list[str],
                            lines: list | None = None) -> tuple[list[float], list[float]]:
    """Per filter change: (until the new first page is painted, until the match count is known too).
    ``lines`` (a list) receives the table's lines as the last keystroke painted them (``frame_floor``)."""
    app = VirtualApp(make_source(ctx, kind))
    shown, counted = [], []
    async with app.run_test(size=(160, 45)) as pilot:
        await app.loaded.wait()
        await pilot.pause()
        table = app.query_one(VirtualTable)
        for text in texts:
            # a typist's pause (80 words a minute is ~150 ms a key): the frame of the last count is out of
            # Textual's 60-per-second pacing, which would otherwise hold a page that comes within 1/60 s
            # of it back to the next frame (bench and floor alike: frame_floor waits the same)
            await asyncio.sleep(KEY_GAP)
            app.loaded.clear()
            app.painted.clear()
            start = time.perf_counter()
            table.set_source(make_source(ctx, kind, text))
            app.awaited = table._generation
            await app.painted.wait()  # the end of the frame that showed the new rows
            shown.append(app.painted_at - start)
            await app.loaded.wait()
            while not table._counted:
                await asyncio.sleep(0.002)
            counted.append(time.perf_counter() - start)
            await pilot.pause()
        if lines is not None:
            lines.extend(table.render_line(y) for y in range(table.size.height))
    return shown, counted


class ReplayView(ScrollView):
    """The device table's painted lines handed back ready-made, with the table's scrollbar: what a frame
    of those lines costs Textual alone (styles, line filters, compositor, output), none of it ours."""

    def __init__(self, lines: list) -> None:
        super().__init__()
        self.lines = lines

    def on_mount(self) -> None:
        self.virtual_size = Size(self.lines[0].cell_length, 100_000)

    def render_line(self, y: int) -> Strip:
        return self.lines[y] if y < len(self.lines) else Strip.blank(self.size.width)


class ReplayApp(App):
    def __init__(self, lines: list) -> None:
        super().__init__()
        self.lines, self.framed, self.framed_at = lines, asyncio.Event(), 0.0

    def compose(self) -> ComposeResult:
        yield ReplayView(self.lines)

    def on_mount(self) -> None:
        self.call_after_refresh(freeze_heap)
        display = self._display

        def framed(screen, renderable) -> None:
            display(screen, renderable)
            self.framed_at = time.perf_counter()
            self.framed.set()

        self._display = framed  # type: ignore[method-assign]


async def frame_floor(lines: list, rounds: int = 40) -> float:
    """Median time from a repaint asked for to the end of its frame, for the table's own last lines
    replayed by ``ReplayView``: Textual's floor under a keystroke's repaint, in the same run."""
    app = ReplayApp(lines)
    took = []
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        view = app.query_one(ReplayView)
        for _ in range(rounds):
            await asyncio.sleep(KEY_GAP)  # as between keystrokes: the last frame is long gone
            app.framed.clear()
            start = time.perf_counter()
            view.refresh()
            await app.framed.wait()
            took.append(app.framed_at - start)
    return statistics.median(took)


KEYSTROKES = ["0", "00", "001", "0012", "iP", "営業", "os:iOS 営"]  # issue 14's sequence
KEY_GAP = 0.03  # seconds between one keystroke's count and the next keystroke (keystroke_latency)
INDEXED = KEYSTROKES  # every term goes through the index (SQLite: one and two characters too)


def like_scan(text: str) -> float:
    """A plain LIKE '%…%' scan of the same table: the count of the matching rows, timed."""
    pattern = "%" + text.lower() + "%"
    start = time.perf_counter()
    Device.select().where(Device.search_text ** pattern).count()
    return time.perf_counter() - start


def query_times(text: str) -> tuple[float, float]:
    """(the first page through the index, the same page by a plain LIKE scan), the storage queries alone."""
    from mdmtui.services import inventory
    from mdmtui.storage import devices, search_index

    f = inventory.filter_text(text, sort="computer_name")
    start = time.perf_counter()
    indexed = devices.page(f, 0, 100)
    took = time.perf_counter() - start
    condition, route = search_index.condition, devices._keyed_route
    search_index.condition, devices._keyed_route = (lambda needles: None), (lambda f: None)
    try:
        start = time.perf_counter()
        scanned = devices.page(f, 0, 100)
        scan = time.perf_counter() - start
    finally:
        search_index.condition, devices._keyed_route = condition, route
    assert [r.id for r in indexed] == [r.id for r in scanned], text
    return took, scan


async def scanned_latency(ctx, texts: list[str]) -> list[float]:
    """The same keystrokes through the same screen path with the index switched off (every term scanned
    with LIKE, as before the index): the baseline the index is measured against."""
    from mdmtui.storage import devices, search_index

    condition, route = search_index.condition, devices._keyed_route
    search_index.condition, devices._keyed_route = (lambda needles: None), (lambda f: None)
    try:
        shown, _counted = await keystroke_latency(ctx, "inventory", texts)
    finally:
        search_index.condition, devices._keyed_route = condition, route
    return shown


async def keystrokes_main(args, base: Path) -> int:
    """The filter keystrokes at 10k and at --devices devices, medians of --rounds, with the LIKE baseline."""
    sizes = (10_000, args.devices)
    results: dict[int, list[list[float]]] = {}
    scans: dict[str, list[float]] = {t: [] for t in INDEXED}
    unindexed: dict[str, list[float]] = {t: [] for t in INDEXED}
    queries: dict[str, list[tuple[float, float]]] = {t: [] for t in INDEXED}
    lines: list = []
    for n in sizes:
        ctx = context_with(n, base)
        results[n] = [[] for _ in KEYSTROKES]
        for _ in range(args.rounds):
            shown, _counted = await keystroke_latency(ctx, "inventory", KEYSTROKES,
                                                      lines if n == args.devices and not lines else None)
            for i, x in enumerate(shown):
                results[n][i].append(x)
            if n == args.devices:
                with ctx.db.connection_context():
                    for t in INDEXED:
                        scans[t].append(like_scan(t))
                        queries[t].append(query_times(t))
                for t, x in zip(INDEXED, await scanned_latency(ctx, INDEXED)):
                    unindexed[t].append(x)
        ctx.db.close()
    small, big = sizes
    print(f"filter keystrokes until the visible rows are painted (median of {args.rounds}), "
          f"{small // 1000}k vs {big // 1000}k devices:")
    for i, text in enumerate(KEYSTROKES):
        a, b = statistics.median(results[small][i]), statistics.median(results[big][i])
        line = f"  {text!r:12} {a * 1000:7.1f} ms  {b * 1000:7.1f} ms  growth {b / a:5.2f}"
        if text in scans:
            scan, before = statistics.median(scans[text]), statistics.median(unindexed[text])
            line += (f"  | at {big // 1000}k: painted with LIKE instead of the index {before * 1000:7.1f} ms "
                     f"(index: {b / before:.2f} of it); the bare LIKE count {scan * 1000:6.1f} ms "
                     f"(painted: {b / scan:.2f} of it)")
        print(line)
    print(f"the first page's query alone at {big // 1000}k (median of {args.rounds}): index vs the same page by LIKE")
    for text in INDEXED:
        took = statistics.median(q[0] for q in queries[text])
        scan = statistics.median(q[1] for q in queries[text])
        print(f"  {text!r:12} index {took * 1000:7.2f} ms  LIKE {scan * 1000:7.1f} ms  ratio {took / scan:.3f}")
    floor = await frame_floor(lines)
    print(f"Textual's own frame for the table's last painted lines, replayed ready-made (median of 40): "
          f"{floor * 1000:.1f} ms; that floor alone is {floor / min(statistics.median(v) for v in scans.values()):.2f} "
          "of the fastest term's bare LIKE count")
    for i, text in enumerate(KEYSTROKES):
        b, scan = statistics.median(results[big][i]), statistics.median(scans[text])
        print(f"  {text!r:12} painted less the floor {(b - floor) * 1000:6.1f} ms = {(b - floor) / scan:.2f} of the "
              "bare LIKE count")
    return 0


async def memory_of_view(ctx, kind: str) -> tuple[int, int]:
    """Peak traced bytes while opening the table and paging through a few screens; rows cached."""
    gc.collect()
    tracemalloc.start()
    app = VirtualApp(make_source(ctx, kind))
    async with app.run_test(size=(160, 45)) as pilot:
        await app.loaded.wait()
        for _ in range(10):
            await pilot.press("pagedown")
            await app.workers.wait_for_complete()
        await pilot.pause()
        cached = app.query_one(VirtualTable).cached_rows
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, cached


async def console_first_paint(ctx, start: str) -> float:
    """Seconds from starting the console on ``start`` until its data is painted: the Devices screen's
    first page (and its count), or the Overview's figures."""
    from mdmtui.screens.app import create_app

    app = create_app(ctx, start=start, poll_seconds=3600)
    began = time.perf_counter()
    async with app.run_test(size=(160, 45)) as pilot:
        while not _painted(app, start):
            await asyncio.sleep(0.002)
        await pilot._wait_for_screen()  # the screen has processed the refresh: what it shows is painted
        took = time.perf_counter() - began
    return took


def _painted(app, start: str) -> bool:
    screen = app.screen
    if start == "overview":
        return getattr(screen, "figures", None) is not None
    try:
        table = screen.query_one("#devices", VirtualTable)
    except Exception:  # noqa: BLE001 - not mounted yet
        return False
    return table.row_count is not None and table._counted and table.row_at(0) is not None


async def overview_vs_devices(ctx, rounds: int = 3) -> tuple[float, float]:
    """Median first paint of the Overview and of the Devices screen, alternating, same database."""
    fill_history(ctx)
    overview, devices = [], []
    for _ in range(rounds):
        devices.append(await console_first_paint(ctx, "devices"))
        overview.append(await console_first_paint(ctx, "overview"))
    return statistics.median(overview), statistics.median(devices)


def context_with(n: int, base: Path):
    ctx = open_context(Settings(data_dir=base / f"d{n}", config_dir=base / f"c{n}"))
    start = time.perf_counter()
    fill(ctx, n)
    took = time.perf_counter() - start
    print(f"{n:,} devices written (insert_many, 5,000 rows a statement) in {took:.1f} s: "
          f"{took / n * 1e6:.0f} us a row", file=sys.stderr)
    return ctx


# ------------------------------------------------------------------------------------ the Software screen

APP_TITLES = [f"App {i:03d}" for i in range(120)] + ["乗換案内", "Microsoft Teams", "Microsoft Outlook",
                                                       "社内ポータル", "Slack", "Zoom", "LINE WORKS", "Box",
                                                       "Chrome", "Authenticator"]


def fill_software(ctx, apps: int) -> int:
    """``apps`` software items per device, from a catalogue of 130 titles in 1-4 versions, written in SQL
    (no Python row per item: 10 million rows); then the counts filled as migration 9 fills them."""
    from mdmtui.services import software

    catalogue = len(APP_TITLES)
    with ctx.db.atomic():
        ctx.db.execute_sql("CREATE TEMP TABLE bench_app (n INTEGER, name TEXT, vendor TEXT)")
        ctx.db.cursor().executemany("INSERT INTO bench_app VALUES (?, ?, ?)",
                                    [(i, t, None if i % 5 == 0 else f"Vendor {i % 17}") for i, t in enumerate(APP_TITLES)])
        ctx.db.execute_sql(
            "INSERT INTO software (device_id, name, version, vendor) SELECT d.id, a.name, "
            "'1.' || ((d.id + a.n) % (1 + a.n % 4)), a.vendor FROM device d CROSS JOIN bench_app a "
            f"WHERE (d.id + a.n * 7) % {catalogue} < {min(apps, catalogue)} ORDER BY d.id, a.n")
        software.backfill(ctx.db)
        ctx.db.execute_sql("DROP TABLE bench_app")
    with ctx.db.connection_context():
        return ctx.db.execute_sql("SELECT COUNT(*) FROM software").fetchone()[0]


def title_source(ctx, text: str | None = None):
    """The Software screen's row source (``TitleSource`` + ``TitleFilter``, as the screen reads them)."""
    from mdmtui.screens.backend import TitleSource
    from mdmtui.services.software import TitleFilter

    return TitleSource(ctx, TitleFilter(text=text))


def software_app(ctx) -> VirtualApp:
    from mdmtui.screens.software import TITLE_COLUMNS

    return VirtualApp(title_source(ctx), TITLE_COLUMNS, key=lambda t: t.name)


SOFTWARE_TEXTS = ["a", "ap", "app", "app 0", "app 05", "乗換", "micro", "vendor 3"]


async def software_latency(ctx, rounds: int = 5) -> list[float]:
    """The Software screen's filter keystrokes: until the new first page is painted, each text typed
    ``rounds`` times (a few milliseconds each: one round is mostly the scheduler's noise)."""
    app = software_app(ctx)
    shown = []
    async with app.run_test(size=(160, 45)) as pilot:
        await app.loaded.wait()
        await pilot.pause()
        table = app.query_one(VirtualTable)
        for text in SOFTWARE_TEXTS * rounds:
            app.loaded.clear()
            start = time.perf_counter()
            table.set_source(title_source(ctx, text))
            await app.loaded.wait()
            await pilot._wait_for_screen()
            shown.append(time.perf_counter() - start)
            while not table._counted:
                await asyncio.sleep(0.002)
            await pilot.pause()
    return shown


def replace_cost(ctx, devices: int) -> tuple[float, float]:
    """Seconds to replace the software of the first ``devices`` devices as a collection's apply does:
    (the rows alone, the rows with the counts kept), each in a transaction rolled back."""
    from mdmtui.services import software

    db, chosen = ctx.db, f"SELECT id FROM device WHERE id <= {int(devices)}"
    db.execute_sql(f"CREATE TEMP TABLE bench_keep AS SELECT * FROM software WHERE device_id IN ({chosen})")
    replace = ("INSERT INTO software (device_id, name, version, vendor) "
               "SELECT device_id, name, version, vendor FROM bench_keep")
    took = []
    for counted in (False, True):
        with db.atomic() as txn:
            start = time.perf_counter()
            if counted:
                software.remove(db, chosen, linkage="bench")
            db.execute_sql(f"DELETE FROM software WHERE device_id IN ({chosen})")
            db.execute_sql(replace)
            if counted:
                software.add(db, chosen, linkage="bench")
                software.settle(db)
            took.append(time.perf_counter() - start)
            txn.rollback()
    db.execute_sql("DROP TABLE bench_keep")
    return took[0], took[1]


def _timed(fn, *args) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - start, value


async def software_main(args, base: Path) -> int:
    """The Software screen at ``args.devices`` × ``args.apps``, against the device table in the same run."""
    from mdmtui.screens.software import TITLE_COLUMNS
    from mdmtui.services import inventory

    small = context_with(10_000, base)
    took, rows = _timed(fill_software, small, args.apps)
    print(f"10,000 devices: {rows:,} software rows written and counted in {took:.1f} s")
    small_lat = await software_latency(small)
    alone, counted = replace_cost(small, 10_000)
    print(f"a collection's apply, the software of all 10,000 devices replaced: rows alone {alone:.2f} s, "
          f"with the counts kept {counted:.2f} s (x{counted / alone:.2f})")
    small.db.close()
    ctx = context_with(args.devices, base)
    took, rows = _timed(fill_software, ctx, args.apps)
    print(f"{args.devices:,} devices: {rows:,} software rows written and counted in {took:.1f} s")
    devices = min([await first_paint_virtual(make_source(ctx, "inventory")) for _ in range(3)])
    titles = min([await first_paint_virtual(title_source(ctx), TITLE_COLUMNS, lambda t: t.name) for _ in range(3)])
    print(f"first paint (best of 3): device table {devices * 1000:.1f} ms, software screen {titles * 1000:.1f} ms "
          f"-> ratio {titles / devices:.2f} (target <= 2)")
    big_lat = await software_latency(ctx)
    print(f"software filter keystrokes ({len(big_lat)} each), rows painted: max 10k {max(small_lat) * 1000:.0f} ms, "
          f"{args.devices // 1000}k {max(big_lat) * 1000:.0f} ms")
    small_med, big_med = sorted(small_lat)[len(small_lat) // 2], sorted(big_lat)[len(big_lat) // 2]
    print(f"software filter keystroke, median: 10k {small_med * 1000:.1f} ms, {args.devices // 1000}k "
          f"{big_med * 1000:.1f} ms -> growth {big_med / small_med:.2f} (target <= 1.5)")
    with ctx.db.connection_context():
        with_it = inventory.DeviceFilter(software_title="Microsoft Teams", sort="computer_name")
        lacking = inventory.DeviceFilter(software_title="Microsoft Teams", without_software=True, sort="computer_name")
        for label, f in (("with", with_it), ("without", lacking)):
            t_page, _ = _timed(inventory.page, f, 0, 100)
            t_count, n = _timed(inventory.count, f)
            print(f"device table filtered to devices {label} a title: first page {t_page * 1000:.1f} ms, "
                  f"count {t_count * 1000:.1f} ms ({n:,} devices)")
    daily = args.devices // 20
    alone, counted = replace_cost(ctx, daily)
    print(f"a collection's apply, the software of {daily:,} devices (5 %) replaced: rows alone {alone:.2f} s, "
          f"with the counts kept {counted:.2f} s (x{counted / alone:.2f})")
    ctx.db.close()
    return 0


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--source", choices=("inventory", "direct"), default=None)
    parser.add_argument("--skip-stock", action="store_true")
    parser.add_argument("--only-overview", action="store_true", help="only the Overview vs Devices first paint")
    parser.add_argument("--software", action="store_true", help="measure the Software screen instead")
    parser.add_argument("--apps", type=int, default=100, help="software items per device (with --software)")
    parser.add_argument("--keystrokes", action="store_true",
                        help="only the filter keystrokes at 10k and --devices, against a LIKE scan")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per keystroke (with --keystrokes)")
    args = parser.parse_args(argv)
    if args.keystrokes:
        return await keystrokes_main(args, Path(tempfile.mkdtemp(prefix="mdmtui-bench-")))
    if args.software:
        return await software_main(args, Path(tempfile.mkdtemp(prefix="mdmtui-bench-")))
    try:
        import mdmtui.services.inventory  # noqa: F401
        kind = args.source or "inventory"
    except ImportError:
        kind = args.source or "direct"
    base = Path(tempfile.mkdtemp(prefix="mdmtui-bench-"))
    if args.only_overview:
        ctx = context_with(args.devices, base)
        await report_overview(ctx, args.devices)
        ctx.db.close()
        return 0
    small = context_with(10_000, base)
    small_mem = await memory_of_view(small, kind)
    small.db.close()
    ctx = context_with(args.devices, base)
    print(f"rows from: {kind}; devices: {args.devices:,}")
    virtual = await first_paint_virtual(make_source(ctx, kind))
    print(f"first paint, virtual table: {virtual * 1000:8.1f} ms")
    if not args.skip_stock:
        stock = await first_paint_stock(ctx)
        print(f"first paint, stock DataTable: {stock * 1000:8.1f} ms  -> virtual is {stock / virtual:.1f}x faster")
    lat, counted = await keystroke_latency(ctx, kind, KEYSTROKES if kind == "inventory" else KEYSTROKES[:-1])
    print("filter keystrokes, rows painted (ms): " + ", ".join(f"{x * 1000:.0f}" for x in lat)
          + f"; max {max(lat) * 1000:.0f}")
    print("filter keystrokes, match count shown too (ms): " + ", ".join(f"{x * 1000:.0f}" for x in counted)
          + f"; max {max(counted) * 1000:.0f}")
    big_mem = await memory_of_view(ctx, kind)
    print(f"memory (tracemalloc peak while viewing): 10k devices {small_mem[0] / 1e6:.1f} MB "
          f"({small_mem[1]} rows cached), {args.devices // 1000}k devices {big_mem[0] / 1e6:.1f} MB "
          f"({big_mem[1]} rows cached); ratio {big_mem[0] / small_mem[0]:.2f}")
    await report_overview(ctx, args.devices)
    ctx.db.close()
    return 0


async def report_overview(ctx, devices: int) -> None:
    """The Overview's first paint as a ratio of the Devices screen's (target: at most 2x)."""
    overview, table = await overview_vs_devices(ctx)
    print(f"console first paint at {devices:,} devices (median of 3): Devices screen {table * 1000:.0f} ms, "
          f"Overview {overview * 1000:.0f} ms -> {overview / table:.2f}x the device table")


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
