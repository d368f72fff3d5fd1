"""Fixtures for the console tests: a fixed time zone, a fresh SQLite context, and a small simulated fleet
linked and collected through the real services (linkage service, collection service, simulator)."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from mdmtui.config import Settings
from mdmtui.services.context import open_context

# The simulator's fleet epoch and the console's "now" in snapshot tests (times on screen never move).
FIXED_NOW = datetime(2026, 5, 1, 3, 0, tzinfo=timezone.utc)


def make_settings(tmp_path, **extra) -> Settings:
    """Settings rooted in ``tmp_path`` (SQLite: the console's dialect does not matter here)."""
    return Settings(data_dir=tmp_path / "data", config_dir=tmp_path / "config", **extra)


@pytest.fixture(autouse=True)
def _tokyo(monkeypatch):
    """Dates on screen are in the server's local zone: make it a fixed one."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.delenv("TZ", raising=False)
    time.tzset()


@pytest.fixture
def tui_ctx(tmp_path):
    """A service context on a fresh SQLite database."""
    ctx = open_context(make_settings(tmp_path))
    yield ctx
    ctx.db.close()


@pytest.fixture
def ro_ctx(tmp_path):
    """The same, in read-only mode."""
    ctx = open_context(make_settings(tmp_path, read_only=True))
    yield ctx
    ctx.db.close()


@pytest.fixture
def sim(monkeypatch):
    """A small simulator with the demo's remarkable devices; actions settle fast."""
    from mdmtui.services import control
    from mdmtui.sim import Simulator

    monkeypatch.setattr(control, "FOLLOW_FIRST_DELAY_S", 0.05)
    monkeypatch.setattr(control, "FOLLOW_MAX_DELAY_S", 0.1)
    simulator = Simulator(seed=11, intune=14, mobileiron=10, sdm=10, scenario="demo",
                          now=FIXED_NOW.timestamp()).start()
    simulator.intune.action_delay = 0.2
    simulator.sdm.command_step = 0.05
    yield simulator
    simulator.stop()


async def link_and_collect(ctx, sim) -> None:  # noqa: D103 - used by the fixtures below
    """Three linkages through the linkage service, sdm_import.properties, one collection each (in turn,
    so device ids do not depend on which MDM answers first)."""
    from mdmtui.cli_console import DEMO_LINKAGES, _link, _write_properties
    from mdmtui.services import collection

    with ctx.db.connection_context():
        _link(ctx, sim)
        _write_properties(ctx, sim)
    for name in DEMO_LINKAGES.values():
        summary = await collection.collect(ctx, name)
        assert summary.status == "succeeded", summary


@pytest.fixture
async def fleet(tmp_path, sim):
    """A context whose database holds the simulator's fleet, collected once."""
    ctx = open_context(make_settings(tmp_path))
    await link_and_collect(ctx, sim)
    yield ctx
    ctx.db.close()


@pytest.fixture
async def ro_fleet(tmp_path, sim):
    """The same fleet, opened read-only."""
    ctx = open_context(make_settings(tmp_path))
    await link_and_collect(ctx, sim)
    ctx.db.close()
    ro = open_context(make_settings(tmp_path, read_only=True))
    yield ro
    ro.db.close()
