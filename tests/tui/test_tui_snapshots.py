"""SVG snapshots of the main screens at 80x24 and 160x45 (pytest-textual-snapshot).

Deterministic: a fixed simulator fleet (seed, epoch), collected in turn; every stored time set to one
fixed instant; the console's "now" frozen; TZ=Asia/Tokyo (conftest); user, host and ports fixed.
Update with ``pytest tests/tui/test_tui_snapshots.py --snapshot-update`` after looking at the SVGs.
"""

from __future__ import annotations

import asyncio

import pytest
from tui_helpers import FIXED_NOW, link_and_collect, make_settings, settle

from mdmtui.storage.models import CollectionRun, Device, Event, Linkage
from mdmtui.screens.app import create_app
from mdmtui.storage import events as stored_events
from mdmtui.storage import runs
from mdmtui.services import audit, inventory, linkages, schedule
from mdmtui.services.context import open_context

SIZES = {"80x24": (80, 24), "160x45": (160, 45)}


@pytest.fixture
def frozen_fleet(tmp_path, sim, monkeypatch):
    """The small demo fleet with every time, user, host and port fixed."""
    for module in (audit, runs, stored_events, inventory, linkages, schedule):  # the audit log is append-only:
        monkeypatch.setattr(module, "utcnow", lambda: FIXED_NOW)             # its times are fixed as written
    ctx = open_context(make_settings(tmp_path))
    ctx.os_user, ctx.host = "admin", "console"
    asyncio.run(link_and_collect(ctx, sim))
    with ctx.db.connection_context():
        CollectionRun.update(started_at=FIXED_NOW, finished_at=FIXED_NOW).execute()
        Event.update(at=FIXED_NOW).execute()
        Device.update(first_seen_at=FIXED_NOW, last_collected_at=FIXED_NOW).execute()
        for lk in Linkage.select():
            Linkage.update(server_url=f"https://{lk.system}.example.jp").where(Linkage.id == lk.id).execute()
    yield ctx
    ctx.db.close()


def _open(key: str | None):
    async def run_before(pilot) -> None:
        await settle(pilot)
        if key:
            await pilot.press(key)
            await settle(pilot)
    return run_before


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("screen,key", [("devices", None), ("linkages", "2"), ("events", "3"), ("audit", "4"),
                                        ("licenses", "5")])
def test_screen_snapshot(frozen_fleet, snap_compare, screen, key, size):
    app = create_app(frozen_fleet, poll_seconds=3600)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=_open(key))


def test_help_snapshot(frozen_fleet, snap_compare):
    app = create_app(frozen_fleet, poll_seconds=3600)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_open("question_mark"))


def test_ansi_theme_snapshot(frozen_fleet, snap_compare):
    """The 16-colour theme stays readable (the table, the cursor, the security column)."""
    frozen_fleet.settings.theme = "ansi-dark"
    app = create_app(frozen_fleet, poll_seconds=3600)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_open(None))


@pytest.mark.parametrize("size", SIZES)
def test_describe_snapshot(frozen_fleet, snap_compare, size):
    """enter on the first device: the describe view, full screen."""
    app = create_app(frozen_fleet, poll_seconds=3600)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=_open("enter"))


@pytest.mark.parametrize("size", SIZES)
def test_pending_snapshot(frozen_fleet, snap_compare, size):
    """6: two actions not final (recorded with fixed times, as the control service writes them)."""
    from mdmtui.storage.models import DeviceAction

    with frozen_fleet.db.connection_context():
        for dev, outcome, message in zip(Device.select().order_by(Device.id).limit(2), ("pending", "unknown"),
                                         ("the MDM accepted the command; the device has not reported yet",
                                          "no answer: the connection was lost after sending")):
            DeviceAction.create(device=dev.id, linkage_name=dev.linkage_name, mdm_device_id=dev.mdm_device_id,
                                device_name=dev.computer_name, action="lock", outcome=outcome, message=message,
                                os_user="admin", host="console", requested_at=FIXED_NOW, updated_at=FIXED_NOW)
    app = create_app(frozen_fleet, poll_seconds=3600)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=_open("6"))


@pytest.mark.parametrize("size", SIZES)
def test_overview_snapshot(frozen_fleet, snap_compare, monkeypatch, size):
    """8: the overview of the demo fleet (counts, bars, OS versions, history sparklines), as of FIXED_NOW."""
    from mdmtui.services import overview

    monkeypatch.setattr(overview, "utcnow", lambda: FIXED_NOW)
    app = create_app(frozen_fleet, poll_seconds=3600)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=_open("8"))


def test_overview_drill_down_snapshot(frozen_fleet, snap_compare, monkeypatch):
    """enter on the overview's first count: the Devices screen says which drill-down it shows."""
    from mdmtui.services import overview

    monkeypatch.setattr(overview, "utcnow", lambda: FIXED_NOW)
    app = create_app(frozen_fleet, poll_seconds=3600)

    async def run_before(pilot) -> None:
        await _open("8")(pilot)
        await pilot.press("down", "enter")  # passcode not set
        await settle(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def _pending_lock(ctx, count: int = 1) -> None:
    """``count`` lock actions not final yet on the first devices of the list (the MDM column says "wait")."""
    from mdmtui.storage.models import DeviceAction

    with ctx.db.connection_context():
        for dev in inventory.page(inventory.DeviceFilter(), 0, count):
            DeviceAction.create(device=dev.id, linkage_name=dev.linkage_name, mdm_device_id=dev.mdm_device_id,
                                device_name=dev.computer_name, action="lock", outcome="pending",
                                message="the MDM accepted the command; the device has not reported yet",
                                os_user="admin", host="console", requested_at=FIXED_NOW, updated_at=FIXED_NOW)


@pytest.mark.parametrize("size", SIZES)
def test_devices_pending_marker_snapshot(frozen_fleet, snap_compare, size):
    """The device table with actions not final: "wait" in the MDM column, the header's pending badge."""
    _pending_lock(frozen_fleet, 3)
    app = create_app(frozen_fleet, poll_seconds=3600)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=_open(None))


def test_column_chooser_snapshot(frozen_fleet, snap_compare):
    """o: the checklist of the optional columns (the default set ticked)."""
    app = create_app(frozen_fleet, poll_seconds=3600)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_open("o"))


@pytest.mark.parametrize("size", SIZES)
def test_device_chooser_snapshot(frozen_fleet, snap_compare, size):
    """: with a term three devices share (their user): the chooser lists name, serial, linkage, OS."""
    with frozen_fleet.db.connection_context():
        ids = [d.id for d in Device.select().order_by(Device.id).limit(6)][::2]
        Device.update(user_name="sato.k").where(Device.id.in_(ids)).execute()

    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("colon", *list("sato.k"))
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)

    app = create_app(frozen_fleet, poll_seconds=3600)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)
