"""Scheduled collection recurrence: month ends, leap days, both DST transitions, a controlled clock."""

from __future__ import annotations

from datetime import date, datetime, timedelta, UTC
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from mdmtui.recurrence import Schedule, describe, missed_run, next_run, next_runs

UTC = UTC
NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
TOKYO = ZoneInfo("Asia/Tokyo")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(runs: list[datetime], zone: ZoneInfo) -> list[str]:
    """Runs as wall-clock text with their offset, easy to read against a calendar."""
    return [r.astimezone(zone).strftime("%Y-%m-%d %H:%M%z") for r in runs]


def days(runs: list[datetime], zone: ZoneInfo) -> list[date]:
    return [r.astimezone(zone).date() for r in runs]


# ------------------------------------------------------------------------------------------- model


def test_no_schedule_means_no_runs() -> None:
    now = utc(2024, 1, 1)
    assert next_run(None, now) is None
    assert next_runs(None, now, 3) == []
    assert missed_run(None, None, now) is None
    assert describe(None) == "no schedule"


@pytest.mark.parametrize(("fields", "message"), [
    ({"interval": "minutely"}, "Input should be 'hourly', 'daily', 'weekly' or 'monthly'"),
    ({"interval": "daily", "every": 0}, "greater than or equal to 1"),
    ({"interval": "weekly", "weekdays": [7]}, "weekdays are 0 (Mon) to 6 (Sun), got 7"),
    ({"interval": "daily", "weekdays": [1]}, "weekdays apply only to a weekly schedule"),
    ({"interval": "weekly", "month_day": 3}, "month_day applies only to a monthly schedule"),
    ({"interval": "monthly", "month_day": 32}, "less than or equal to 31"),
    ({"interval": "monthly", "month_day": 0}, "greater than or equal to 1"),
    ({"interval": "daily", "tz": "Mars/Olympus"},
     "unknown time zone 'Mars/Olympus' (use an IANA name such as Asia/Tokyo)"),
])
def test_validation_messages(fields: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Schedule(start_at=datetime(2024, 1, 1, 9), **fields)


def test_weekdays_are_sorted_and_unique() -> None:
    schedule = Schedule(start_at=datetime(2024, 1, 1, 9), interval="weekly", weekdays=[3, 0, 3])
    assert schedule.weekdays == [0, 3]


def test_naive_after_is_refused() -> None:
    schedule = Schedule(start_at=datetime(2024, 1, 1, 9), interval="daily", tz="Asia/Tokyo")
    with pytest.raises(ValueError, match="after must be a timezone-aware datetime"):
        next_run(schedule, datetime(2024, 1, 2))


# --------------------------------------------------------------------------------- simple intervals


def test_asia_tokyo_daily_has_no_dst() -> None:
    schedule = Schedule(start_at=datetime(2024, 3, 8, 2, 30), interval="daily", tz="Asia/Tokyo")
    runs = next_runs(schedule, utc(2024, 3, 8), 5)
    assert runs == [utc(2024, 3, d, 17, 30) for d in range(8, 13)]  # 02:30 JST = 17:30Z the day before
    assert all(r.tzinfo is UTC for r in runs)


def test_every_3_days() -> None:
    schedule = Schedule(start_at=datetime(2024, 2, 27, 9), interval="daily", every=3, tz="Asia/Tokyo")
    assert days(next_runs(schedule, utc(2024, 1, 1), 4), TOKYO) == [
        date(2024, 2, 27), date(2024, 3, 1), date(2024, 3, 4), date(2024, 3, 7)]


def test_start_at_in_the_future_is_the_first_run() -> None:
    schedule = Schedule(start_at=datetime(2030, 6, 15, 23, 45), interval="daily", tz="Asia/Tokyo")
    assert next_run(schedule, utc(2024, 1, 1)) == utc(2030, 6, 15, 14, 45)
    assert missed_run(schedule, None, utc(2030, 6, 15, 14, 44)) is None


def test_run_strictly_after_after() -> None:
    schedule = Schedule(start_at=datetime(2024, 1, 1, 9), interval="daily", tz="Asia/Tokyo")
    assert next_run(schedule, utc(2024, 1, 5, 0)) == utc(2024, 1, 6, 0)
    assert next_run(schedule, utc(2024, 1, 5, 0) - timedelta(seconds=1)) == utc(2024, 1, 5, 0)


def test_aware_start_at_is_converted_to_the_zone() -> None:
    schedule = Schedule(start_at=utc(2024, 1, 1, 0), interval="daily", tz="Asia/Tokyo")
    assert next_runs(schedule, utc(2023, 12, 1), 2) == [utc(2024, 1, 1, 0), utc(2024, 1, 2, 0)]
    assert describe(schedule) == "every day at 09:00 (Asia/Tokyo)"


def test_server_local_zone_when_tz_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Europe/Berlin")
    schedule = Schedule(start_at=datetime(2024, 7, 1, 12), interval="daily")
    assert next_run(schedule, utc(2024, 7, 1)) == utc(2024, 7, 1, 10)  # CEST, +02:00
    assert describe(schedule) == "every day at 12:00 (server local time)"


# ---------------------------------------------------------------------------------------- weekly


def test_weekly_on_chosen_weekdays() -> None:
    # 2024-01-03 is a Wednesday; runs on Mon and Thu from then on
    schedule = Schedule(start_at=datetime(2024, 1, 3, 9), interval="weekly", weekdays=[0, 3],
                        tz="Asia/Tokyo")
    assert days(next_runs(schedule, utc(2024, 1, 1), 4), TOKYO) == [
        date(2024, 1, 4), date(2024, 1, 8), date(2024, 1, 11), date(2024, 1, 15)]


def test_weekly_without_weekdays_runs_on_start_at_weekday() -> None:
    schedule = Schedule(start_at=datetime(2024, 1, 3, 9), interval="weekly", tz="Asia/Tokyo")
    assert days(next_runs(schedule, utc(2024, 1, 1), 3), TOKYO) == [
        date(2024, 1, 3), date(2024, 1, 10), date(2024, 1, 17)]


def test_every_2_weeks_on_mon_and_thu() -> None:
    # weeks counted from start_at's week (Monday first): 1-7 Jan, 15-21 Jan, 29 Jan-4 Feb
    schedule = Schedule(start_at=datetime(2024, 1, 1, 9), interval="weekly", every=2,
                        weekdays=[0, 3], tz="Asia/Tokyo")
    assert days(next_runs(schedule, utc(2023, 12, 1), 6), TOKYO) == [
        date(2024, 1, 1), date(2024, 1, 4), date(2024, 1, 15), date(2024, 1, 18),
        date(2024, 1, 29), date(2024, 2, 1)]
    assert describe(schedule) == "every 2 weeks on Mon, Thu at 09:00 (Asia/Tokyo)"


def test_every_2_weeks_phase_kept_when_asking_from_later() -> None:
    schedule = Schedule(start_at=datetime(2024, 1, 1, 9), interval="weekly", every=2,
                        weekdays=[6], tz="Asia/Tokyo")
    # Sundays of start_at's week and every second week after: 7 Jan, 21 Jan, ... 26 May, 9 Jun
    assert days(next_runs(schedule, utc(2024, 6, 1), 2), TOKYO) == [date(2024, 6, 9),
                                                                     date(2024, 6, 23)]


# --------------------------------------------------------------------------------------- monthly


def test_monthly_on_31st_runs_on_last_day_of_shorter_months() -> None:
    schedule = Schedule(start_at=datetime(2024, 1, 31, 9), interval="monthly", tz="Asia/Tokyo")
    assert days(next_runs(schedule, utc(2024, 1, 1), 7), TOKYO) == [
        date(2024, 1, 31), date(2024, 2, 29), date(2024, 3, 31), date(2024, 4, 30),
        date(2024, 5, 31), date(2024, 6, 30), date(2024, 7, 31)]
    assert describe(schedule) == (
        "every month on day 31 (or the month's last day) at 09:00 (Asia/Tokyo)")


@pytest.mark.parametrize(("year", "month_day", "february"), [
    (2024, 29, 29), (2024, 30, 29), (2024, 31, 29),  # leap year
    (2023, 29, 28), (2023, 30, 28), (2023, 31, 28),  # common year
    (2100, 29, 28),  # divisible by 100, not by 400: no 29 February
    (2000, 31, 29),  # divisible by 400: leap
])
def test_monthly_in_february(year: int, month_day: int, february: int) -> None:
    schedule = Schedule(start_at=datetime(year, 1, 1, 9), interval="monthly", month_day=month_day,
                        tz="Asia/Tokyo")
    assert days(next_runs(schedule, utc(year, 1, 1), 3), TOKYO) == [
        date(year, 1, month_day), date(year, 2, february), date(year, 3, month_day)]


def test_monthly_on_29_february_start_in_leap_year() -> None:
    schedule = Schedule(start_at=datetime(2024, 2, 29, 9), interval="monthly", every=12,
                        tz="Asia/Tokyo")
    assert days(next_runs(schedule, utc(2024, 1, 1), 5), TOKYO) == [
        date(2024, 2, 29), date(2025, 2, 28), date(2026, 2, 28), date(2027, 2, 28),
        date(2028, 2, 29)]


def test_monthly_on_day_15_starts_in_the_next_month_when_started_after_it() -> None:
    schedule = Schedule(start_at=datetime(2024, 1, 20, 9), interval="monthly", month_day=15,
                        tz="Asia/Tokyo")
    assert days(next_runs(schedule, utc(2024, 1, 1), 2), TOKYO) == [date(2024, 2, 15),
                                                                     date(2024, 3, 15)]
    assert describe(schedule) == "every month on day 15 at 09:00 (Asia/Tokyo)"


def test_every_3_months_on_the_30th() -> None:
    schedule = Schedule(start_at=datetime(2023, 11, 30, 6, 15, 30), interval="monthly", every=3,
                        tz="Asia/Tokyo")
    assert days(next_runs(schedule, utc(2023, 11, 1), 4), TOKYO) == [
        date(2023, 11, 30), date(2024, 2, 29), date(2024, 5, 30), date(2024, 8, 30)]
    assert describe(schedule) == (
        "every 3 months on day 30 (or the month's last day) at 06:15:30 (Asia/Tokyo)")


# ------------------------------------------------------------------------------------------- DST


def test_new_york_spring_forward_0230_runs_once_at_0300() -> None:
    # 2024-03-10: 02:00 EST jumps to 03:00 EDT; 02:30 does not exist that day
    schedule = Schedule(start_at=datetime(2024, 3, 1, 2, 30), interval="daily",
                        tz="America/New_York")
    assert local(next_runs(schedule, utc(2024, 3, 9), 3), NEW_YORK) == [
        "2024-03-09 02:30-0500", "2024-03-10 03:00-0400", "2024-03-11 02:30-0400"]


def test_new_york_fall_back_0130_runs_once_at_first_occurrence() -> None:
    # 2024-11-03: 02:00 EDT falls back to 01:00 EST; 01:30 happens twice
    schedule = Schedule(start_at=datetime(2024, 10, 1, 1, 30), interval="daily",
                        tz="America/New_York")
    runs = next_runs(schedule, utc(2024, 11, 2), 3)
    assert local(runs, NEW_YORK) == [
        "2024-11-02 01:30-0400", "2024-11-03 01:30-0400", "2024-11-04 01:30-0500"]
    # asked from between the two 01:30s, the next run is the next day's: the second 01:30 is no run
    between = utc(2024, 11, 3, 5, 45)
    assert next_run(schedule, between) == runs[2]


def test_new_york_daily_0230_across_a_whole_year_no_run_doubled_or_skipped() -> None:
    schedule = Schedule(start_at=datetime(2024, 1, 1, 2, 30), interval="daily",
                        tz="America/New_York")
    runs = next_runs(schedule, utc(2024, 1, 1), 366)
    assert days(runs, NEW_YORK) == [date(2024, 1, 1) + timedelta(days=i) for i in range(366)]
    assert runs == sorted(set(runs))


def test_berlin_spring_forward_0230_runs_once_at_0300() -> None:
    # 2024-03-31: 02:00 CET jumps to 03:00 CEST
    schedule = Schedule(start_at=datetime(2024, 3, 1, 2, 30), interval="daily", tz="Europe/Berlin")
    assert local(next_runs(schedule, utc(2024, 3, 30), 3), BERLIN) == [
        "2024-03-30 02:30+0100", "2024-03-31 03:00+0200", "2024-04-01 02:30+0200"]


def test_berlin_fall_back_0230_runs_once_at_first_occurrence() -> None:
    # 2024-10-27: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice
    schedule = Schedule(start_at=datetime(2024, 10, 1, 2, 30), interval="daily", tz="Europe/Berlin")
    assert local(next_runs(schedule, utc(2024, 10, 26), 3), BERLIN) == [
        "2024-10-26 02:30+0200", "2024-10-27 02:30+0200", "2024-10-28 02:30+0100"]


def test_berlin_0130_is_untouched_by_both_transitions() -> None:
    schedule = Schedule(start_at=datetime(2024, 1, 1, 1, 30), interval="daily", tz="Europe/Berlin")
    assert local(next_runs(schedule, utc(2024, 3, 30), 3), BERLIN) == [
        "2024-03-30 01:30+0100", "2024-03-31 01:30+0100", "2024-04-01 01:30+0200"]
    assert local(next_runs(schedule, utc(2024, 10, 25, 12), 3), BERLIN) == [
        "2024-10-26 01:30+0200", "2024-10-27 01:30+0200", "2024-10-28 01:30+0100"]


def test_new_york_0130_on_spring_forward_day_exists() -> None:
    schedule = Schedule(start_at=datetime(2024, 1, 1, 1, 30), interval="daily",
                        tz="America/New_York")
    assert local(next_runs(schedule, utc(2024, 3, 9), 3), NEW_YORK) == [
        "2024-03-09 01:30-0500", "2024-03-10 01:30-0500", "2024-03-11 01:30-0400"]


def test_weekly_on_sunday_across_spring_forward() -> None:
    schedule = Schedule(start_at=datetime(2024, 3, 3, 2, 0), interval="weekly", tz="America/New_York")
    assert local(next_runs(schedule, utc(2024, 3, 1), 3), NEW_YORK) == [
        "2024-03-03 02:00-0500", "2024-03-10 03:00-0400", "2024-03-17 02:00-0400"]


def test_asking_from_inside_the_gap_finds_the_gap_run() -> None:
    schedule = Schedule(start_at=datetime(2024, 3, 1, 2, 30), interval="daily",
                        tz="America/New_York")
    # 06:59Z is 01:59 EST, just before the jump; the day's run is at 07:00Z (03:00 EDT)
    assert next_run(schedule, utc(2024, 3, 10, 6, 59)) == utc(2024, 3, 10, 7, 0)
    assert next_run(schedule, utc(2024, 3, 10, 7, 0)) == utc(2024, 3, 11, 6, 30)


# ------------------------------------------------------------------------------------- missed runs


def test_missed_run_after_long_downtime_returns_only_the_latest() -> None:
    schedule = Schedule(start_at=datetime(2024, 1, 1, 9), interval="daily", tz="Asia/Tokyo")
    last_run = utc(2024, 1, 5, 0)  # 09:00 JST on 5 January
    now = utc(2024, 4, 20, 3)  # 12:00 JST on 20 April, after 106 missed runs
    assert missed_run(schedule, last_run, now) == utc(2024, 4, 20, 0)


def test_missed_run_none_when_nothing_was_due() -> None:
    schedule = Schedule(start_at=datetime(2024, 1, 1, 9), interval="daily", tz="Asia/Tokyo")
    assert missed_run(schedule, utc(2024, 1, 5, 0), utc(2024, 1, 5, 23, 59)) is None


def test_missed_run_includes_a_run_exactly_at_now_and_excludes_last_run() -> None:
    schedule = Schedule(start_at=datetime(2024, 1, 1, 9), interval="daily", tz="Asia/Tokyo")
    assert missed_run(schedule, utc(2024, 1, 5, 0), utc(2024, 1, 6, 0)) == utc(2024, 1, 6, 0)
    assert missed_run(schedule, utc(2024, 1, 6, 0), utc(2024, 1, 6, 0)) is None


def test_missed_run_never_run_counts_runs_since_start() -> None:
    schedule = Schedule(start_at=datetime(2024, 1, 31, 9), interval="monthly", tz="Asia/Tokyo")
    assert missed_run(schedule, None, utc(2024, 3, 15)) == utc(2024, 2, 29, 0)


def test_missed_run_over_a_dst_gap() -> None:
    schedule = Schedule(start_at=datetime(2024, 3, 1, 2, 30), interval="daily",
                        tz="America/New_York")
    assert missed_run(schedule, utc(2024, 3, 9, 7, 30), utc(2024, 3, 10, 12)) == utc(2024, 3, 10, 7)


def test_hourly_runs_every_n_hours_of_wall_clock_time() -> None:
    schedule = Schedule(start_at=datetime(2026, 12, 1, 0, 30), interval="hourly", every=2, tz="Asia/Tokyo")
    runs = next_runs(schedule, datetime(2026, 12, 1, 0, 0, tzinfo=UTC), 3)   # 09:00 in Tokyo
    assert [r.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%H:%M") for r in runs] == ["10:30", "12:30", "14:30"]
    assert describe(schedule) == "every 2 hours from 00:30 (Asia/Tokyo)"
