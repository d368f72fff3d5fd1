"""Fixtures for the console tests: a fixed time zone, a fresh SQLite context, and a small simulated fleet
linked and collected through the real services (linkage service, collection service, simulator)."""

from __future__ import annotations

import inspect
import time

import pytest

from tui_helpers import link_and_collect, make_settings, steady_cursors

from mdmtui.services.context import open_context

@pytest.fixture(autouse=True)
def _tokyo(monkeypatch):
    """Dates on screen are in the server's local zone: make it a fixed one."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.delenv("TZ", raising=False)
    time.tzset()


@pytest.fixture(autouse=True)
def _first_screen(request, monkeypatch):
    """The console opens on the Overview; the tests written for the other screens start on the Devices
    screen, as they were written, unless marked ``first_screen`` (the Overview's own tests)."""
    if request.node.get_closest_marker("first_screen") is None:
        from mdmtui.screens import app

        monkeypatch.setattr(app, "DEFAULT_START", "devices")


@pytest.fixture
def snap_compare(snap_compare):
    """The plugin's ``snap_compare``, every text cursor held steady (shown) once ``run_before`` is done:
    a blinking cursor is drawn or not depending on the time since the last key (its 0.5 s timer), not on
    the console's state, and no wait for workers or messages makes that deterministic."""
    def compare(app, *args, run_before=None, **kwargs):
        async def then_steady(pilot) -> None:
            if run_before is not None:
                result = run_before(pilot)
                if inspect.isawaitable(result):
                    await result
            steady_cursors(pilot.app)
        return snap_compare(app, *args, run_before=then_steady, **kwargs)
    return compare


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
    from tui_helpers import FIXED_NOW

    simulator = Simulator(seed=11, intune=14, mobileiron=10, sdm=10, scenario="demo",
                          now=FIXED_NOW.timestamp()).start()
    simulator.intune.action_delay = 0.2
    simulator.sdm.command_step = 0.05
    yield simulator
    simulator.stop()


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
