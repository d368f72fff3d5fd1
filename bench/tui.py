"""Console benchmark: first paint of the virtual device table vs Textual's stock DataTable (same run,
same rows), filter keystroke latency, and memory at 10k vs 100k devices; and the console's Overview
screen's first paint against the Devices screen's, both in the real console on the same database.

    .venv/bin/python bench/tui.py [--devices 100000] [--skip-stock] [--only-overview]

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
from textual.widgets import DataTable

from mdmtui.config import Settings
from mdmtui.models import CollectionRun, Device, Linkage, utcnow
from mdmtui.services.collection import search_text
from mdmtui.services.context import open_context
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

        return DeviceSource(ctx, inventory.DeviceFilter(text=text, sort="computer_name"))
    return DirectSource(text)


def columns() -> list[Column]:
    """The Devices screen's own columns (security status included) when rows come from the inventory."""
    from mdmtui.screens.devices import device_columns
    from mdmtui.services.inventory import security_flags

    return device_columns(lambda d: ", ".join(security_flags(d)))


class VirtualApp(App):
    def __init__(self, source) -> None:
        super().__init__()
        self.source = source
        self.loaded = asyncio.Event()

    def compose(self) -> ComposeResult:
        yield VirtualTable(columns(), key=lambda d: d.id)

    def on_mount(self) -> None:
        self.query_one(VirtualTable).set_source(self.source)

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


async def first_paint_virtual(source) -> float:
    app = VirtualApp(source)
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


async def keystroke_latency(ctx, kind: str, texts: list[str]) -> tuple[list[float], list[float]]:
    """Per filter change: (until the new first page is painted, until the match count is known too)."""
    app = VirtualApp(make_source(ctx, kind))
    shown, counted = [], []
    async with app.run_test(size=(160, 45)) as pilot:
        await app.loaded.wait()
        await pilot.pause()
        table = app.query_one(VirtualTable)
        for text in texts:
            app.loaded.clear()
            start = time.perf_counter()
            table.set_source(make_source(ctx, kind, text))
            await app.loaded.wait()
            await pilot._wait_for_screen()  # the screen has processed the refresh: the rows are painted
            shown.append(time.perf_counter() - start)
            while not table._counted:
                await asyncio.sleep(0.002)
            counted.append(time.perf_counter() - start)
            await pilot.pause()
    return shown, counted


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
    fill(ctx, n)
    return ctx


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--source", choices=("inventory", "direct"), default=None)
    parser.add_argument("--skip-stock", action="store_true")
    parser.add_argument("--only-overview", action="store_true", help="only the Overview vs Devices first paint")
    args = parser.parse_args(argv)
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
    lat, counted = await keystroke_latency(ctx, kind, ["0", "00", "001", "0012", "iP", "営業"])
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
