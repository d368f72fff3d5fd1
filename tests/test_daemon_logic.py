"""The daemon's loop with a controlled clock and a stand-in collection (the rules, not the MDMs)."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "services"))
from schedule_helpers import Clock, add_linkage, utc  # noqa: E402

from mdmtui.daemon import Daemon  # noqa: E402
from mdmtui.errors import Busy, ConnectionFailed  # noqa: E402
from mdmtui.storage.models import CollectionRun, Event, Linkage, SchedulerState  # noqa: E402
from mdmtui.records import CollectionSummary  # noqa: E402
from mdmtui.recurrence import Schedule  # noqa: E402
from mdmtui.services import schedule as svc  # noqa: E402

DAILY_6 = Schedule(start_at=datetime(2026, 1, 1, 6), interval="daily", tz="UTC")


class FakeCollect:
    """Stands in for collection.collect: records its calls and a CollectionRun like the real one."""

    def __init__(self, *, fail: Exception | None = None, busy_times: int = 0, duration: float = 0.0,
                 honour_cancel: bool = True) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail, self.busy_times, self.duration, self.honour_cancel = fail, busy_times, duration, honour_cancel
        self.running = self.peak = 0

    async def __call__(self, ctx, name, *, trigger="immediate", progress=None, cancel=None):
        if self.busy_times:
            self.busy_times -= 1
            raise Busy(f"a collection of {name} is already running")
        self.calls.append((name, trigger))
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            return await self._run(name, trigger, cancel)
        finally:
            self.running -= 1

    async def _run(self, name, trigger, cancel):
        if self.fail:
            raise self.fail
        linkage = Linkage.get(Linkage.name == name)
        run = CollectionRun.create(linkage=linkage, linkage_name=name, trigger=trigger, status="running")
        status = "succeeded"
        waited = 0.0
        while waited < self.duration:
            if cancel is not None and cancel.is_set() and self.honour_cancel:
                status = "cancelled"
                break
            await asyncio.sleep(0.01)
            waited += 0.01
        CollectionRun.update(status=status, finished_at=utc(2026, 1, 1)).where(CollectionRun.id == run.id).execute()
        return CollectionSummary(linkage=name, run_id=run.id, status=status)


@pytest.fixture
def make(ctx):
    """Build linkages with schedules and a daemon over them."""
    def linkage(name, schedule=DAILY_6, *, set_at=utc(2026, 1, 1), **columns):
        add_linkage(name, **columns)
        return svc.set_schedule(ctx, name, schedule, now=set_at)

    def daemon(collect, clock=None, **kwargs):
        kwargs.setdefault("busy_poll_s", 0.01)
        return Daemon(ctx, clock=clock or Clock(utc(2026, 1, 1)), collect=collect, tick_s=0.05, **kwargs)

    return linkage, daemon


async def test_a_due_linkage_is_collected_once_not_twice(ctx, make):
    linkage, daemon = make
    linkage("SDM 01")
    linkage("later", Schedule(start_at=datetime(2026, 1, 2, 18), interval="daily", tz="UTC"))
    collect = FakeCollect()
    async with daemon(collect) as d:
        first = await d.run_once(utc(2026, 1, 2, 6, 0, 20))
        again = await d.run_once(utc(2026, 1, 2, 6, 0, 50))
    assert [(o.linkage, o.due_at, o.status) for o in first] == [("SDM 01", utc(2026, 1, 2, 6), "succeeded")]
    assert again == []
    assert collect.calls == [("SDM 01", "scheduled")]
    assert Linkage.get(Linkage.name == "SDM 01").last_scheduled_run_at == utc(2026, 1, 2, 6)


async def test_after_downtime_one_missed_run_only(ctx, make):
    linkage, daemon = make
    linkage("A")
    linkage("B", Schedule(start_at=datetime(2026, 1, 1, 7), interval="weekly", weekdays=[0, 3], tz="UTC"))
    collect = FakeCollect()
    async with daemon(collect) as d:
        outcomes = await d.run_once(utc(2026, 1, 31, 12))  # down for a month
        assert await d.run_once(utc(2026, 1, 31, 12, 1)) == []
    assert sorted((o.linkage, o.due_at) for o in outcomes) == [("A", utc(2026, 1, 31, 6)), ("B", utc(2026, 1, 29, 7))]
    assert sorted(collect.calls) == [("A", "scheduled"), ("B", "scheduled")]


async def test_a_failed_run_is_recorded_and_the_next_one_still_scheduled(ctx, make):
    linkage, daemon = make
    linkage("I1")
    collect = FakeCollect(fail=ConnectionFailed("cannot reach graph.example: connection refused"))
    async with daemon(collect) as d:
        [outcome] = await d.run_once(utc(2026, 1, 2, 6, 1))
        collect.fail = None
        assert await d.run_once(utc(2026, 1, 2, 18)) == []
        [after] = await d.run_once(utc(2026, 1, 3, 6, 1))
    assert (outcome.status, outcome.reason) == ("failed", "cannot reach graph.example: connection refused")
    failed = CollectionRun.get(CollectionRun.status == "failed")
    assert (failed.trigger, failed.reason, failed.pid) == ("scheduled", outcome.reason, os.getpid())
    assert Event.get(Event.kind == "collection_failed").linkage_name == "I1"
    assert (after.due_at, after.status) == (utc(2026, 1, 3, 6), "succeeded")


async def test_an_unexpected_crash_in_a_run_does_not_stop_the_daemon(ctx, make):
    linkage, daemon = make
    linkage("I1")
    linkage("I2")
    collect = FakeCollect(fail=KeyError("surprise"))
    async with daemon(collect) as d:
        outcomes = await d.run_once(utc(2026, 1, 2, 6, 1))
    assert {o.status for o in outcomes} == {"failed"}
    assert CollectionRun.select().where(CollectionRun.status == "failed").count() == 2


async def test_a_manual_collection_holding_the_lock_makes_the_scheduled_one_wait(ctx, make):
    linkage, daemon = make
    linkage("M1")
    collect = FakeCollect(busy_times=3)
    async with daemon(collect, busy_wait_s=5) as d:
        [outcome] = await d.run_once(utc(2026, 1, 2, 6, 1))
    assert outcome.status == "succeeded"
    assert collect.calls == [("M1", "scheduled")]


async def test_a_scheduled_run_blocked_too_long_is_skipped_and_recorded(ctx, make):
    linkage, daemon = make
    linkage("M1")
    collect = FakeCollect(busy_times=10_000)
    async with daemon(collect, busy_wait_s=0.1) as d:
        [outcome] = await d.run_once(utc(2026, 1, 2, 6, 1))
    assert outcome.status == "skipped" and "already running" in outcome.reason
    skipped = CollectionRun.get()
    assert (skipped.trigger, skipped.status, skipped.linkage_name) == ("scheduled", "skipped", "M1")
    assert "waited 0.1s" in skipped.reason
    # a skip is handled: the next run is tomorrow's, not a retry
    assert Linkage.get().last_scheduled_run_at == utc(2026, 1, 2, 6)


async def test_concurrent_runs_are_bounded_by_collect_concurrency(ctx, make):
    linkage, daemon = make
    ctx.settings.collect_concurrency = 2
    for n in range(5):
        linkage(f"L{n}")
    collect = FakeCollect(duration=0.05)
    async with daemon(collect) as d:
        outcomes = await d.run_once(utc(2026, 1, 2, 6, 1))
    assert len(outcomes) == 5 and collect.peak == 2


async def test_a_run_still_going_is_not_started_again_by_the_next_tick(ctx, make):
    linkage, daemon = make
    linkage("slow")
    collect = FakeCollect(duration=0.3)
    async with daemon(collect) as d:
        first = await d._tick(utc(2026, 1, 2, 6, 1))
        second = await d._tick(utc(2026, 1, 3, 6, 1))  # next day's run is due, but the first still runs
        await asyncio.gather(*first)
    assert len(first) == 1 and second == []
    assert collect.calls == [("slow", "scheduled")]


async def test_the_loop_heartbeats_and_picks_up_a_schedule_change_without_restart(ctx, make):
    linkage, daemon = make
    linkage("L", set_at=utc(2026, 1, 2, 8))
    clock = Clock(utc(2026, 1, 2, 8))
    collect = FakeCollect()
    stop = asyncio.Event()
    task = asyncio.create_task(daemon(collect, clock).run(stop))
    await _until(lambda: svc.daemon_status(ctx, now=clock()).running)
    clock.advance(minutes=30)
    await asyncio.sleep(0.2)
    assert collect.calls == []  # next run is tomorrow 06:00
    # the admin edits the schedule in the console: 08:45 every day
    svc.set_schedule(ctx, "L", Schedule(start_at=datetime(2026, 1, 1, 8, 45), interval="daily", tz="UTC"),
                     now=clock())
    clock.advance(minutes=20)
    await _until(lambda: collect.calls)
    state = SchedulerState.get()
    assert state.heartbeat_at == clock() and state.pid == os.getpid()
    stop.set()
    await asyncio.wait_for(task, 5)
    assert collect.calls == [("L", "scheduled")]
    assert Linkage.get().last_scheduled_run_at == utc(2026, 1, 2, 8, 45)
    assert SchedulerState.select().count() == 0  # a clean stop leaves the role
    assert not svc.daemon_status(ctx, now=clock()).running


async def test_stop_cancels_the_running_collection_and_keeps_it_owed(ctx, make):
    linkage, daemon = make
    linkage("L")
    clock = Clock(utc(2026, 1, 2, 6, 1))
    collect = FakeCollect(duration=30)
    stop = asyncio.Event()
    task = asyncio.create_task(daemon(collect, clock, grace_s=5).run(stop))
    await _until(lambda: collect.running)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert CollectionRun.get().status == "cancelled"
    # not handled: the next start runs it (once)
    assert Linkage.get().last_scheduled_run_at == utc(2026, 1, 1)
    assert [d for _, d in svc.due_linkages(ctx, clock())] == [utc(2026, 1, 2, 6)]


async def test_a_run_ignoring_cancel_is_abandoned_after_the_grace_period(ctx, make):
    linkage, daemon = make
    linkage("L")
    collect = FakeCollect(duration=60, honour_cancel=False)
    stop = asyncio.Event()
    task = asyncio.create_task(daemon(collect, Clock(utc(2026, 1, 2, 6, 1)), grace_s=0.2).run(stop))
    await _until(lambda: collect.running)
    stop.set()
    await asyncio.wait_for(task, 5)
    run = CollectionRun.get()
    assert run.status == "cancelled" and run.finished_at is not None


async def test_a_second_daemon_is_refused_while_the_first_is_alive(ctx, make):
    _, daemon = make
    SchedulerState.create(host="other-host", pid=99, started_at=utc(2026, 1, 1), heartbeat_at=utc(2026, 1, 1))
    with pytest.raises(Busy, match="other-host"):
        async with daemon(FakeCollect(), Clock(utc(2026, 1, 1, 0, 0, 30))):
            pass
    # once the other one's heartbeat is stale, its row is replaced
    async with daemon(FakeCollect(), Clock(utc(2026, 1, 1, 0, 5))):
        assert [(s.host, s.pid) for s in SchedulerState.select()] == [(ctx.host, os.getpid())]


def test_a_tick_longer_than_the_heartbeat_is_refused(ctx):
    from mdmtui.errors import UsageError

    with pytest.raises(UsageError, match="tick"):
        Daemon(ctx, collect=FakeCollect(), tick_s=300)


async def _until(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def test_a_database_error_in_a_tick_is_logged_and_the_next_tick_goes_on(ctx, make, monkeypatch):
    linkage, daemon = make
    linkage("L")
    collect = FakeCollect()
    real = svc.due_linkages
    failures = iter([RuntimeError("server closed the connection unexpectedly")])

    def flaky(*args):
        for exc in failures:
            raise exc
        return real(*args)

    monkeypatch.setattr(svc, "due_linkages", flaky)
    async with daemon(collect) as d:
        assert await d.run_once(utc(2026, 1, 2, 6, 1)) == []
        [outcome] = await d.run_once(utc(2026, 1, 2, 6, 2))
    assert outcome.status == "succeeded" and collect.calls == [("L", "scheduled")]


class TwoSpeedCollect(FakeCollect):
    """A stand-in that also takes ``changed_only`` and records the run's kind as the service does."""

    async def __call__(self, ctx, name, *, trigger="immediate", progress=None, cancel=None, changed_only=False):
        self.calls.append((name, "changed" if changed_only else "full"))
        linkage = Linkage.get(Linkage.name == name)
        run = CollectionRun.create(linkage=linkage, linkage_name=name, trigger=trigger, status="succeeded",
                                   kind="changed" if changed_only else "full", finished_at=utc(2026, 1, 1))
        return CollectionSummary(linkage=name, run_id=run.id, status="succeeded",
                                 kind="changed" if changed_only else "full")


async def test_the_changed_only_schedule_runs_between_the_full_ones(ctx, make):
    linkage, daemon = make
    linkage("SDM 01", Schedule(start_at=datetime(2026, 1, 1, 2), interval="daily", tz="UTC"))
    svc.set_schedule(ctx, "SDM 01", Schedule(start_at=datetime(2026, 1, 1, 0), interval="hourly", every=2, tz="UTC"),
                     now=utc(2026, 1, 1), changed_only=True)
    collect = TwoSpeedCollect()
    ran = []
    async with daemon(collect) as d:
        for hour in (1, 2, 3, 4, 5, 6, 23):
            ran.append((hour, [o.due_at.hour for o in await d.run_once(utc(2026, 1, 1, hour, 0, 10))]))
        ran.append((26, [o.due_at.hour for o in await d.run_once(utc(2026, 1, 2, 2, 0, 10))]))
    # 02:00 owes both: the full run alone (it sees all a changed-only one would); 23:00 owes 22:00 only
    assert ran == [(1, []), (2, [2]), (3, []), (4, [4]), (5, []), (6, [6]), (23, [22]), (26, [2])]
    assert collect.calls == [("SDM 01", k) for k in ("full", "changed", "changed", "changed", "full")]
    kinds = [r.kind for r in CollectionRun.select().order_by(CollectionRun.id)]
    assert kinds == ["full", "changed", "changed", "changed", "full"]
    stored = Linkage.get(Linkage.name == "SDM 01")
    assert stored.last_scheduled_run_at == utc(2026, 1, 2, 2) and stored.last_changed_run_at == utc(2026, 1, 2, 2)


def test_clearing_the_changed_only_schedule_keeps_the_full_one(ctx, make):
    linkage, _ = make
    linkage("SDM 01")
    svc.set_schedule(ctx, "SDM 01", Schedule(start_at=datetime(2026, 1, 1, 0), interval="hourly", tz="UTC"),
                     now=utc(2026, 1, 1), changed_only=True)
    assert [c for _, _, c in svc.due_runs(ctx, utc(2026, 1, 1, 3))] == [True]
    svc.set_schedule(ctx, "SDM 01", None, changed_only=True)
    stored = Linkage.get(Linkage.name == "SDM 01")
    assert stored.changed_schedule is None and svc.schedule_of(stored) == DAILY_6
    assert svc.due_runs(ctx, utc(2026, 1, 1, 3)) == []


async def test_a_changed_only_run_that_fails_early_is_recorded_as_changed_only(ctx, make):
    linkage, daemon = make
    linkage("SDM 01")
    svc.set_schedule(ctx, "SDM 01", Schedule(start_at=datetime(2026, 1, 1, 0), interval="hourly", tz="UTC"),
                     now=utc(2026, 1, 1), changed_only=True)

    async def unreachable(ctx, name, *, trigger="immediate", progress=None, cancel=None, changed_only=False):
        raise ConnectionFailed("cannot connect to the SDM")
    async with daemon(unreachable) as d:
        [outcome] = await d.run_once(utc(2026, 1, 1, 3, 0, 10))
    assert outcome.status == "failed"
    run = CollectionRun.get()
    assert (run.kind, run.status, run.trigger) == ("changed", "failed", "scheduled")
