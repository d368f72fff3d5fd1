"""The daemon with a controlled clock against the simulator and the real collection service."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "services"))
from schedule_helpers import Clock, intune_linkage, inventory, utc  # noqa: E402

from mdmtui.daemon import Daemon  # noqa: E402
from mdmtui.storage.models import CollectionRun, Linkage  # noqa: E402
from mdmtui.recurrence import Schedule  # noqa: E402
from mdmtui.services import schedule as svc  # noqa: E402
from mdmtui.services.collection import collect  # noqa: E402
from mdmtui.sim import Simulator  # noqa: E402
from mdmtui.sim.faults import Faults  # noqa: E402

DAILY_6 = Schedule(start_at=datetime(2026, 1, 1, 6), interval="daily", tz="UTC")
FLEET = 30


@pytest.fixture
def sim():
    """A small simulator of its own (the tests change its faults and devices)."""
    with Simulator(seed=5, intune=FLEET, mobileiron=1, sdm=1) as s:
        yield s


@pytest.fixture
def linkage(ctx, sim):
    """An Intune linkage on the simulator, scheduled daily at 06:00 UTC from 1 January 2026."""
    intune_linkage(ctx, sim, "Intune")
    return svc.set_schedule(ctx, "Intune", DAILY_6, now=utc(2026, 1, 1))


def make_daemon(ctx, clock=None, **kwargs) -> Daemon:
    kwargs.setdefault("busy_poll_s", 0.05)
    return Daemon(ctx, clock=clock or Clock(utc(2026, 1, 1)), tick_s=0.05, **kwargs)


def scheduled_runs() -> list[CollectionRun]:
    return list(CollectionRun.select().where(CollectionRun.trigger == "scheduled").order_by(CollectionRun.id))


async def test_a_due_linkage_is_collected_once_not_twice(ctx, sim, linkage):
    async with make_daemon(ctx) as daemon:
        [outcome] = await daemon.run_once(utc(2026, 1, 2, 6, 0, 30))
        assert await daemon.run_once(utc(2026, 1, 2, 6, 1)) == []
        assert await daemon.run_once(utc(2026, 1, 2, 23, 59)) == []
    assert (outcome.linkage, outcome.due_at, outcome.status) == ("Intune", utc(2026, 1, 2, 6), "succeeded")
    assert [r.status for r in scheduled_runs()] == ["succeeded"]
    assert set(inventory("Intune")) == set(sim.device_ids("intune"))


async def test_after_downtime_one_missed_collection_only(ctx, sim, linkage):
    svc.mark_handled(linkage.id, utc(2026, 1, 2, 6))
    async with make_daemon(ctx) as daemon:
        outcomes = await daemon.run_once(utc(2026, 1, 9, 12))  # a week with the daemon down
        again = await daemon.run_once(utc(2026, 1, 9, 12, 5))
    assert [(o.due_at, o.status) for o in outcomes] == [(utc(2026, 1, 9, 6), "succeeded")]
    assert again == [] and len(scheduled_runs()) == 1
    assert Linkage.get().last_scheduled_run_at == utc(2026, 1, 9, 6)


async def test_a_schedule_change_is_picked_up_on_the_next_tick(ctx, sim, linkage):
    clock = Clock(utc(2026, 1, 2, 8))
    svc.mark_handled(linkage.id, utc(2026, 1, 2, 6))
    stop = asyncio.Event()
    task = asyncio.create_task(make_daemon(ctx, clock).run(stop))
    await _until(lambda: svc.daemon_status(ctx, now=clock()).running)
    await asyncio.sleep(0.2)
    assert scheduled_runs() == []  # next run tomorrow 06:00
    svc.set_schedule(ctx, "Intune", Schedule(start_at=datetime(2026, 1, 2, 8, 30), interval="daily", tz="UTC"),
                     now=clock())
    clock.advance(minutes=31)
    await _until(lambda: [r for r in scheduled_runs() if r.status != "running"], timeout=20)
    stop.set()
    await asyncio.wait_for(task, 20)
    assert [r.status for r in scheduled_runs()] == ["succeeded"]
    assert Linkage.get().last_scheduled_run_at == utc(2026, 1, 2, 8, 30)


@pytest.mark.parametrize("fault", ["5xx storm", "bad credentials"])
async def test_a_failed_run_is_recorded_and_the_next_run_still_scheduled(ctx, sim, linkage, fault):
    if fault == "5xx storm":
        sim.set_faults(Faults(rate_5xx=1.0, status_5xx=503, retry_after=0), mdm="intune")
    else:
        from mdmtui.services import linkages

        linkages.update(ctx, "Intune", client_secret="not-the-secret")
    async with make_daemon(ctx) as daemon:
        [failed] = await daemon.run_once(utc(2026, 1, 2, 6, 1))
        sim.set_faults(None)
        if fault == "bad credentials":
            linkages.update(ctx, "Intune", client_secret=sim.intune.client_secret)
        assert await daemon.run_once(utc(2026, 1, 2, 12)) == []  # a failure is not retried at once
        [next_day] = await daemon.run_once(utc(2026, 1, 3, 6, 1))
    assert failed.status == "failed" and failed.reason
    assert [r.status for r in scheduled_runs()] == ["failed", "succeeded"]
    assert scheduled_runs()[0].reason
    assert next_day.due_at == utc(2026, 1, 3, 6)
    assert len(inventory("Intune")) == FLEET


async def test_a_manual_collection_in_progress_makes_the_scheduled_one_skip(ctx, sim, linkage):
    sim.set_faults(Faults(latency_ms=150), mdm="intune")
    manual = asyncio.create_task(collect(ctx, "Intune", trigger="immediate"))
    await _until(lambda: CollectionRun.select().where(CollectionRun.trigger == "immediate").exists())
    async with make_daemon(ctx, busy_wait_s=0.2) as daemon:
        [outcome] = await daemon.run_once(utc(2026, 1, 2, 6, 1))
    summary = await manual
    assert summary.status == "succeeded"
    assert outcome.status == "skipped"
    [skipped] = scheduled_runs()
    assert skipped.status == "skipped" and skipped.reason
    # the skip handled the due time: nothing more until tomorrow
    assert Linkage.get().last_scheduled_run_at == utc(2026, 1, 2, 6)


async def test_a_scheduled_run_waits_for_a_short_manual_collection(ctx, sim, linkage):
    sim.set_faults(Faults(latency_ms=100), mdm="intune")
    manual = asyncio.create_task(collect(ctx, "Intune", trigger="immediate"))
    await _until(lambda: CollectionRun.select().where(CollectionRun.trigger == "immediate").exists())
    async with make_daemon(ctx, busy_wait_s=60) as daemon:
        [outcome] = await daemon.run_once(utc(2026, 1, 2, 6, 1))
    assert (await manual).status == "succeeded"
    assert outcome.status == "succeeded"
    runs = list(CollectionRun.select().order_by(CollectionRun.started_at))
    assert [(r.trigger, r.status) for r in runs] == [("immediate", "succeeded"), ("scheduled", "succeeded")]
    assert runs[1].started_at >= runs[0].finished_at  # one run per linkage at a time


async def _until(predicate, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)
