"""The Software screen: titles across the fleet, the filter, versions, the drill-down to the device table
(devices with and without a title or version), export, and its layout at 80×24 and 160×45."""

from __future__ import annotations

import asyncio
import csv

import pytest
from textual.widgets import OptionList
from tui_helpers import FIXED_NOW, devices_table, make_settings, screen_text, settle, type_filter

from mdmtui.storage.models import CollectionRun, Device, Event, Linkage
from mdmtui.records import DeviceRecord, OsClass, SoftwareItem
from mdmtui.screens.app import create_app
from mdmtui.screens.dialogs import ChoiceScreen
from mdmtui.storage import events as stored_events
from mdmtui.storage import runs
from mdmtui.services import audit, collection, inventory, linkages
from mdmtui.services.context import open_context
from mdmtui.widgets.virtual_table import VirtualTable

HOSTILE = "[red]evil[/]\x1b[2J"
TEAMS, TRANSIT = "Microsoft Teams", "乗換案内"


def _apps(n: int) -> list[SoftwareItem]:
    items = [SoftwareItem(TEAMS, "24.1" if n % 3 else "23.9", "Microsoft")]
    if n % 2:
        items.append(SoftwareItem(TRANSIT, "5.1", "ジョルダン"))
    if n == 4:
        items += [SoftwareItem(HOSTILE, "1.0\x07", "[b]x"), SoftwareItem("Authenticator", None, None)]
    return items


# (linkage, MDM id, name): Teams on every device, 乗換案内 on the odd ones, the hostile title on one
FLEET = {"Intune": [(f"i-{n}", f"東京-{n:02}", _apps(n)) for n in range(1, 7)],
         "本社 Intune": [(f"h-{n}", f"大阪-{n:02}", _apps(n + 1)) for n in range(1, 4)]}


class _Scripted:
    """A connector that lists given records (and says every absent device is gone)."""

    system = "intune"

    def __init__(self, records: list[DeviceRecord]) -> None:
        self.records = records

    async def iter_device_pages(self, known):
        yield self.records

    async def device_gone(self, mdm_device_id: str) -> bool:
        return True

    async def aclose(self) -> None:
        return None


def _collect(ctx) -> None:
    for name, devices in FLEET.items():
        with ctx.db.connection_context():
            Linkage.create(name=name, system="intune", server_url="https://graph.example.jp")
        records = [DeviceRecord(mdm_device_id=ident, os_class=OsClass.IS, device_type="Smart Device",
                                computer_name=label, serial_number=f"SN{ident}", software=apps)
                   for ident, label, apps in devices]
        summary = asyncio.run(collection.collect(ctx, name, connector_factory=lambda _c, r=records: _Scripted(r)))
        assert summary.status == "succeeded", summary


@pytest.fixture
def software_fleet(tmp_path, monkeypatch):
    """The fleet above, with every stored time fixed (as the main snapshots' fleet)."""
    for module in (audit, runs, stored_events, inventory, linkages):
        monkeypatch.setattr(module, "utcnow", lambda: FIXED_NOW)
    ctx = open_context(make_settings(tmp_path))
    ctx.os_user, ctx.host = "admin", "console"
    _collect(ctx)
    with ctx.db.connection_context():
        CollectionRun.update(started_at=FIXED_NOW, finished_at=FIXED_NOW).execute()
        Event.update(at=FIXED_NOW).execute()
        Device.update(first_seen_at=FIXED_NOW, last_collected_at=FIXED_NOW).execute()
    yield ctx
    ctx.db.close()


def titles_table(app) -> VirtualTable:
    return app.screen.query_one("#titles", VirtualTable)


def versions_table(app) -> VirtualTable:
    return app.screen.query_one("#versions", VirtualTable)


def rows(table: VirtualTable) -> list[str]:
    return [line for line in table.visible_text()[1:] if line.strip()]


def label(app, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


async def open_software(pilot) -> None:
    await settle(pilot)
    await pilot.press("9")
    await settle(pilot)


async def test_the_screen_lists_every_title_with_devices_versions_and_linkages(software_fleet):
    app = create_app(software_fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await open_software(pilot)
        assert app.screen.SCOPE == "software"
        assert label(app, "#count") == "4 titles"
        shown = rows(titles_table(app))
        assert [r.split()[0] for r in shown] == ["[red]evil[/]\\x1b[2J", "Authenticator", "Microsoft", TRANSIT]
        teams = next(r for r in shown if r.startswith(TEAMS))
        assert teams.split()[2:5] == ["Microsoft", "9", "2"]           # vendor, devices, versions
        assert "24.1" in teams and "Intune, 本社 Intune" in teams
        assert "\x1b" not in screen_text(app)                          # the hostile title is shown escaped


async def test_filter_by_title_or_vendor_as_you_type_then_escape(software_fleet):
    app = create_app(software_fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await open_software(pilot)
        await type_filter(pilot, "teams")
        assert [r.split()[1] for r in rows(titles_table(app))] == ["Teams"]
        assert label(app, "#count") == "1 title"
        await type_filter(pilot, "ジョルダン")                            # a vendor finds its title
        assert [r.split()[0] for r in rows(titles_table(app))] == [TRANSIT]
        await pilot.press("escape")
        await settle(pilot)
        assert label(app, "#count") == "4 titles"


async def test_versions_of_the_highlighted_title_and_enter_on_a_version(software_fleet):
    with software_fleet.db.connection_context():
        old = inventory.count(inventory.DeviceFilter(software_title=TEAMS, software_version="23.9"))
    app = create_app(software_fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await open_software(pilot)
        await type_filter(pilot, "teams")
        versions = rows(versions_table(app))
        assert [v.split()[:2] for v in versions] == [["24.1", "6"], ["23.9", str(old)]]
        assert "Versions of Microsoft Teams — 9 devices, 2 versions" in label(app, "#versions-title")
        await pilot.press("tab", "down", "enter")                      # into the versions, the second, open
        await settle(pilot)
        assert app.screen.SCOPE == "devices"
        assert devices_table(app).row_count == old == 3
        assert "with software: Microsoft Teams 23.9" in label(app, "#quick")


async def test_enter_on_a_title_opens_its_devices_and_escape_clears_the_filter(software_fleet):
    with software_fleet.db.connection_context():
        total = Device.select().count()
    app = create_app(software_fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await open_software(pilot)
        await type_filter(pilot, "乗換")
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.SCOPE == "devices"
        names = [r.split()[0] for r in rows(devices_table(app))]
        assert names == ["大阪-02", "東京-01", "東京-03", "東京-05"]       # the devices with 乗換案内
        assert "with software: 乗換案内" in label(app, "#quick")
        await pilot.press("escape")
        await settle(pilot)
        assert devices_table(app).row_count == total
        assert "software" not in label(app, "#quick")


async def test_n_opens_the_devices_without_the_title(software_fleet):
    app = create_app(software_fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await open_software(pilot)
        await type_filter(pilot, "乗換")
        await pilot.press("n")
        await settle(pilot)
        names = [r.split()[0] for r in rows(devices_table(app))]
        assert names == ["大阪-01", "大阪-03", "東京-02", "東京-04", "東京-06"]
        assert "without software: 乗換案内" in label(app, "#quick")


async def test_export_writes_the_current_view_a_line_per_version(software_fleet):
    app = create_app(software_fleet)
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        await open_software(pilot)
        await type_filter(pilot, "i")                                  # Authenticator, Microsoft Teams, evil
        await pilot.press("e")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ChoiceScreen)
        screen.query_one(OptionList).highlighted = 0                   # CSV
        await pilot.press("enter")
        await settle(pilot)
    (path,) = (software_fleet.settings.data_dir / "exports").glob("software-*.csv")
    with open(path, encoding="utf-8", newline="") as f:
        lines = list(csv.DictReader(f))
    assert [(r["title"], r["version"], r["devices"]) for r in lines] == [
        (HOSTILE, "1.0\x07", "2"), ("Authenticator", "", "2"), (TEAMS, "24.1", "6"), (TEAMS, "23.9", "3")]
    assert lines[2]["linkages"] == "Intune, 本社 Intune" and lines[0]["vendor"] == "[b]x"


SIZES = {"80x24": (80, 24), "160x45": (160, 45)}


@pytest.mark.parametrize("size", SIZES)
def test_software_snapshot(software_fleet, snap_compare, size):
    """Japanese titles and linkages aligned; the hostile title escaped; the versions of the first title."""
    app = create_app(software_fleet, poll_seconds=3600)

    async def run_before(pilot) -> None:
        await open_software(pilot)
        await pilot.press("down")
        await settle(pilot)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_devices_filtered_by_software_snapshot(software_fleet, snap_compare, size):
    """The device table after ``n`` on a title: the filter line says which software it lacks."""
    app = create_app(software_fleet, poll_seconds=3600)

    async def run_before(pilot) -> None:
        await open_software(pilot)
        await type_filter(pilot, "乗換")
        await pilot.press("n")
        await settle(pilot)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)


async def test_colon_jumps_to_the_screen_and_a_collection_updates_the_counts(software_fleet):
    app = create_app(software_fleet)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await pilot.press("colon")
        await settle(pilot)
        await pilot.press(*"software", "enter")
        await settle(pilot)
        assert app.screen.SCOPE == "software" and label(app, "#count") == "4 titles"
        await type_filter(pilot, "teams")
        records = [DeviceRecord(mdm_device_id="i-1", os_class=OsClass.IS, device_type="Smart Device",
                                computer_name="東京-01", serial_number="SNi-1", software=[SoftwareItem("Zoom", "6")])]
        await asyncio.to_thread(lambda: asyncio.run(collection.collect(
            software_fleet, "Intune", connector_factory=lambda _c: _Scripted(records))))
        app.data_version += 1                                          # as the console's own collection does
        await settle(pilot)
        # 東京-01 now has Zoom only; the others went missing from Intune and keep their software
        assert rows(titles_table(app))[0].split()[2:4] == ["Microsoft", "8"]
