"""The schedule service: storing schedules, which linkages are due, last and next runs, daemon status."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

import pytest
from schedule_helpers import add_linkage, simulate_ticks, utc

from mdmtui.errors import ActionRefused, ConfigurationError, NotFoundError, UsageError
from mdmtui.storage.models import AuditEvent, CollectionRun, Linkage, SchedulerState
from mdmtui.recurrence import Schedule
from mdmtui.services import schedule as svc

HOUR = timedelta(hours=1)


def reload(linkage: Linkage) -> Linkage:
    return Linkage.get_by_id(linkage.id)


# --- storing a schedule -----------------------------------------------------------------------


def test_set_schedule_round_trips_and_is_audited(ctx):
    add_linkage("SDM 01")
    schedule = svc.build_schedule(start_at="2026-12-01 09:00", interval="weekly", every=2,
                                  weekdays="mon,THU", tz="Asia/Tokyo")
    linkage = svc.set_schedule(ctx, "SDM 01", schedule, now=utc(2026, 11, 1))

    assert svc.schedule_of(reload(linkage)) == schedule
    assert (linkage.schedule_start_at, linkage.schedule_weekdays) == ("2026-12-01T09:00", "0,3")
    event = AuditEvent.get(AuditEvent.action == "schedule set")
    assert (event.category, event.outcome, event.linkage_name) == ("settings", "succeeded", "SDM 01")
    assert json.loads(event.options)["after"] == "every 2 weeks on Mon, Thu at 09:00 (Asia/Tokyo)"


def test_clearing_a_schedule_stops_its_runs(ctx):
    add_linkage("M1")
    daily = svc.build_schedule(start_at="2026-01-01 06:00", interval="daily", tz="UTC")
    svc.set_schedule(ctx, "M1", daily, now=utc(2026, 1, 1))
    assert svc.due_linkages(ctx, utc(2026, 1, 2, 7))

    linkage = svc.set_schedule(ctx, "M1", None, now=utc(2026, 1, 2, 8))
    assert svc.schedule_of(linkage) is None
    assert svc.next_runs_for(linkage, now=utc(2026, 1, 2, 8)) == []
    assert svc.due_linkages(ctx, utc(2026, 2, 1)) == []
    assert AuditEvent.get(AuditEvent.action == "schedule clear").outcome == "succeeded"


@pytest.mark.parametrize("kwargs, message", [
    (dict(start_at="tomorrow 9am", interval="daily"), "not a date and time"),
    (dict(start_at="2026-02-30 09:00", interval="daily"), "not a date and time"),
    (dict(start_at="2026-12-01 09:00", interval="hourly"), "interval"),
    (dict(start_at="2026-12-01 09:00", interval="daily", every=0), "every"),
    (dict(start_at="2026-12-01 09:00", interval="weekly", weekdays="mon,funday"), "funday"),
    (dict(start_at="2026-12-01 09:00", interval="monthly", month_day=32), "month_day"),
    (dict(start_at="2026-12-01 09:00", interval="daily", month_day=5), "only to a monthly"),
    (dict(start_at="2026-12-01 09:00", interval="daily", tz="Mars/Olympus"), "unknown time zone"),
])
def test_bad_schedule_input_gets_a_clear_usage_error(kwargs, message):
    with pytest.raises(UsageError, match=message):
        svc.build_schedule(**kwargs)


def test_unknown_linkage_and_read_only_change_nothing(ctx):
    add_linkage("SDM 01")
    schedule = svc.build_schedule(start_at="2026-12-01 09:00", interval="daily")
    with pytest.raises(NotFoundError, match="SDM 01"):
        svc.set_schedule(ctx, "SDM 99", schedule)
    ctx.settings.read_only = True
    with pytest.raises(ActionRefused, match="read-only"):
        svc.set_schedule(ctx, "SDM 01", schedule)
    assert Linkage.get().schedule_interval is None
    assert AuditEvent.select().count() == 0


def test_setting_the_same_schedule_again_keeps_the_run_bookkeeping(ctx):
    add_linkage("I1")
    schedule = svc.build_schedule(start_at="2026-01-01 06:00", interval="daily", tz="UTC")
    svc.set_schedule(ctx, "I1", schedule, now=utc(2026, 1, 1))
    svc.mark_handled(Linkage.get().id, utc(2026, 1, 5, 6))

    svc.set_schedule(ctx, "I1", schedule, now=utc(2026, 1, 5, 12))
    assert Linkage.get().last_scheduled_run_at == utc(2026, 1, 5, 6)
    assert AuditEvent.select().order_by(AuditEvent.id.desc()).first().outcome == "unchanged"


def test_a_damaged_stored_schedule_is_reported_and_skipped_not_fatal(ctx, caplog):
    # the mdmtui logger does not propagate once logging is set up: listen on it directly
    logger = logging.getLogger("mdmtui.services.schedule")
    logger.addHandler(caplog.handler)
    add_linkage("broken", schedule_start_at="2026-01-01T06:00", schedule_interval="daily",
                schedule_tz="Nowhere/Atlantis")
    add_linkage("fine", schedule_start_at="2026-01-01T06:00", schedule_interval="daily", schedule_tz="UTC")
    with pytest.raises(ConfigurationError, match="broken.*unknown time zone"):
        svc.schedule_of(Linkage.get(Linkage.name == "broken"))
    try:
        due = svc.due_linkages(ctx, utc(2026, 1, 3))
    finally:
        logger.removeHandler(caplog.handler)
    assert [(lk.name, when) for lk, when in due] == [("fine", utc(2026, 1, 2, 6))]
    assert "broken" in caplog.text


# --- next runs ------------------------------------------------------------------------------


def test_next_runs_weekly_on_two_weekdays_every_second_week(ctx):
    add_linkage("L")
    schedule = svc.build_schedule(start_at="2026-12-01 09:00", interval="weekly", every=2,
                                  weekdays="mon,thu", tz="Asia/Tokyo")
    linkage = svc.set_schedule(ctx, "L", schedule, now=utc(2026, 11, 1))
    # 2026-12-01 is a Tuesday: Thu 3rd, then the week after next (Mon 14th, Thu 17th)
    runs = svc.next_runs_for(linkage, 4, now=utc(2026, 11, 1))
    assert runs == [utc(2026, 12, 3, 0), utc(2026, 12, 14, 0), utc(2026, 12, 17, 0), utc(2026, 12, 28, 0)]


def test_start_at_defaults_to_the_servers_time_zone(ctx, monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    add_linkage("L")
    schedule = svc.build_schedule(start_at="2026-12-01 09:00", interval="daily")
    linkage = svc.set_schedule(ctx, "L", schedule, now=utc(2026, 11, 1))
    assert linkage.schedule_tz is None
    assert svc.next_runs_for(linkage, 2, now=utc(2026, 11, 1)) == [utc(2026, 12, 1, 0), utc(2026, 12, 2, 0)]


def test_preview_of_an_unsaved_schedule_and_a_disabled_linkage(ctx):
    schedule = svc.build_schedule(start_at="2026-03-30 09:00", interval="monthly", month_day=31, tz="UTC")
    assert svc.preview_runs(schedule, now=utc(2026, 3, 1)) == [
        utc(2026, 3, 31, 9), utc(2026, 4, 30, 9), utc(2026, 5, 31, 9)]
    linkage = add_linkage("off", enabled=False)
    linkage = svc.set_schedule(ctx, "off", schedule, now=utc(2026, 3, 1))
    assert svc.next_runs_for(linkage, now=utc(2026, 3, 1)) == []
    assert svc.due_linkages(ctx, utc(2026, 6, 1)) == []


def test_an_overdue_run_comes_first_in_next_runs(ctx):
    add_linkage("L")
    schedule = svc.build_schedule(start_at="2026-01-01 06:00", interval="daily", tz="UTC")
    linkage = svc.set_schedule(ctx, "L", schedule, now=utc(2026, 1, 1))
    runs = svc.next_runs_for(linkage, 3, now=utc(2026, 1, 4, 12))
    assert runs == [utc(2026, 1, 4, 6), utc(2026, 1, 5, 6), utc(2026, 1, 6, 6)]


# --- due runs with a controlled clock -------------------------------------------------------


def test_a_new_schedule_owes_nothing_from_before_it_existed(ctx):
    add_linkage("L")
    schedule = svc.build_schedule(start_at="2025-06-01 06:00", interval="daily", tz="UTC")
    svc.set_schedule(ctx, "L", schedule, now=utc(2026, 1, 10, 12))
    assert svc.due_linkages(ctx, utc(2026, 1, 10, 12, 5)) == []
    assert [(lk.name, d) for lk, d in svc.due_linkages(ctx, utc(2026, 1, 11, 6))] == [("L", utc(2026, 1, 11, 6))]


def test_after_downtime_only_the_latest_missed_run_is_due(ctx):
    add_linkage("L")
    schedule = svc.build_schedule(start_at="2026-01-01 06:00", interval="daily", tz="UTC")
    svc.set_schedule(ctx, "L", schedule, now=utc(2026, 1, 1))
    svc.mark_handled(Linkage.get().id, utc(2026, 1, 2, 6))

    now = utc(2026, 1, 9, 12)  # a week down
    assert [d for _, d in svc.due_linkages(ctx, now)] == [utc(2026, 1, 9, 6)]
    svc.mark_handled(Linkage.get().id, utc(2026, 1, 9, 6))
    assert svc.due_linkages(ctx, now) == []
    assert svc.due_linkages(ctx, utc(2026, 1, 10, 5, 59)) == []
    assert len(svc.due_linkages(ctx, utc(2026, 1, 10, 6))) == 1


def test_mark_handled_never_moves_backwards(ctx):
    linkage = add_linkage("L", last_scheduled_run_at=utc(2026, 1, 5))
    assert not svc.mark_handled(linkage.id, utc(2026, 1, 4))
    assert reload(linkage).last_scheduled_run_at == utc(2026, 1, 5)
    assert svc.mark_handled(linkage.id, utc(2026, 1, 6))
    assert reload(linkage).last_scheduled_run_at == utc(2026, 1, 6)


def _ticking(ctx, name, schedule, start, end, step=timedelta(minutes=10)):
    add_linkage(name)
    svc.set_schedule(ctx, name, schedule, now=start)
    return [due for _, due in simulate_ticks(ctx, start, end, step)]


def test_spring_forward_runs_once_at_the_end_of_the_gap(ctx):
    schedule = Schedule(start_at=datetime(2026, 3, 1, 2, 30), interval="daily", tz="America/New_York")
    runs = _ticking(ctx, "NY", schedule, utc(2026, 3, 6, 12), utc(2026, 3, 10, 12))
    # 02:30 EST = 07:30Z; on 8 March 02:30 does not exist: 03:00 EDT = 07:00Z; then 02:30 EDT = 06:30Z
    assert runs == [utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7), utc(2026, 3, 9, 6, 30), utc(2026, 3, 10, 6, 30)]


def test_fall_back_runs_once_at_the_first_occurrence(ctx):
    schedule = Schedule(start_at=datetime(2026, 10, 1, 1, 30), interval="daily", tz="America/New_York")
    runs = _ticking(ctx, "NY", schedule, utc(2026, 10, 30, 12), utc(2026, 11, 3, 12))
    # 1 November 01:30 happens twice (05:30Z EDT, 06:30Z EST): run only the first
    assert runs == [utc(2026, 10, 31, 5, 30), utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30),
                    utc(2026, 11, 3, 6, 30)]


def test_europe_transitions_neither_double_nor_skip_a_weekly_run(ctx):
    # Sundays 02:30 in Berlin: 29 March 2026 falls in the gap, 25 October 2026 in the overlap
    schedule = Schedule(start_at=datetime(2026, 3, 22, 2, 30), interval="weekly", tz="Europe/Berlin")
    spring = _ticking(ctx, "DE", schedule, utc(2026, 3, 21), utc(2026, 4, 6), step=timedelta(minutes=30))
    assert spring == [utc(2026, 3, 22, 1, 30), utc(2026, 3, 29, 1), utc(2026, 4, 5, 0, 30)]
    svc.mark_handled(Linkage.get().id, utc(2026, 10, 17))
    autumn = [d for _, d in simulate_ticks(ctx, utc(2026, 10, 17), utc(2026, 11, 2), timedelta(minutes=30))]
    assert autumn == [utc(2026, 10, 18, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 11, 1, 1, 30)]


def test_month_end_runs_on_the_last_day(ctx):
    schedule = Schedule(start_at=datetime(2026, 1, 31, 9), interval="monthly", month_day=31, tz="Asia/Tokyo")
    runs = _ticking(ctx, "JP", schedule, utc(2026, 1, 1), utc(2026, 6, 1), step=timedelta(hours=6))
    assert runs == [utc(2026, 1, 31, 0), utc(2026, 2, 28, 0), utc(2026, 3, 31, 0), utc(2026, 4, 30, 0),
                    utc(2026, 5, 31, 0)]


def test_29_february_and_every_n_months(ctx):
    # every 3 months on the 29th: February of a leap year has it, of a common year does not
    schedule = Schedule(start_at=datetime(2027, 11, 29, 12), interval="monthly", every=3, month_day=29, tz="UTC")
    add_linkage("Q")
    linkage = svc.set_schedule(ctx, "Q", schedule, now=utc(2027, 11, 1))
    assert svc.next_runs_for(linkage, 5, now=utc(2027, 11, 1)) == [
        utc(2027, 11, 29, 12), utc(2028, 2, 29, 12), utc(2028, 5, 29, 12), utc(2028, 8, 29, 12),
        utc(2028, 11, 29, 12)]
    common = Schedule(start_at=datetime(2026, 11, 29, 12), interval="monthly", every=3, month_day=29, tz="UTC")
    assert svc.preview_runs(common, 2, now=utc(2026, 11, 1)) == [utc(2026, 11, 29, 12), utc(2027, 2, 28, 12)]


def test_every_three_days_through_the_ticks(ctx):
    schedule = Schedule(start_at=datetime(2028, 2, 26, 23, 0), interval="daily", every=3, tz="UTC")
    runs = _ticking(ctx, "D3", schedule, utc(2028, 2, 20), utc(2028, 3, 8), step=timedelta(hours=1))
    assert runs == [utc(2028, 2, 26, 23), utc(2028, 2, 29, 23), utc(2028, 3, 3, 23), utc(2028, 3, 6, 23)]


# --- last run and daemon status -------------------------------------------------------------


def test_last_run_of_any_trigger_and_last_scheduled(ctx):
    linkage = add_linkage("L")
    other = add_linkage("other")
    assert svc.last_run(linkage) == svc.LastRuns(any=None, scheduled=None)
    CollectionRun.create(linkage=linkage, linkage_name="L", trigger="scheduled", status="failed",
                         reason="HTTP 503", started_at=utc(2026, 1, 1, 6), finished_at=utc(2026, 1, 1, 6, 1))
    CollectionRun.create(linkage=linkage, linkage_name="L", trigger="immediate", status="succeeded",
                         started_at=utc(2026, 1, 1, 9), finished_at=utc(2026, 1, 1, 9, 2))
    CollectionRun.create(linkage=other, linkage_name="other", trigger="scheduled", status="succeeded",
                         started_at=utc(2026, 1, 2))
    last = svc.last_run(linkage)
    assert (last.any.status, last.any.trigger, last.any.started_at) == ("succeeded", "immediate", utc(2026, 1, 1, 9))
    assert (last.scheduled.status, last.scheduled.reason) == ("failed", "HTTP 503")


def test_daemon_status_follows_the_heartbeat(ctx):
    assert svc.daemon_status(ctx) == svc.DaemonStatus(running=False)
    SchedulerState.create(host="srv1", pid=4242, started_at=utc(2026, 1, 1), heartbeat_at=utc(2026, 1, 1, 0, 10))
    alive = svc.daemon_status(ctx, now=utc(2026, 1, 1, 0, 11))
    assert (alive.running, alive.host, alive.pid, alive.heartbeat_at) == (True, "srv1", 4242, utc(2026, 1, 1, 0, 10))
    assert not svc.daemon_status(ctx, now=utc(2026, 1, 1, 0, 10) + svc.STALE_AFTER + timedelta(seconds=1)).running
