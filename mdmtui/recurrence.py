"""Recurrence of scheduled collection: Start At, Repeat Interval (daily, weekly, monthly) and Repeat.

Runs are wall-clock times in the schedule's zone, computed by ``dateutil.rrule`` and then placed on the
time line with ``zoneinfo``:
- a wall time that does not exist (spring forward) runs at the first instant after the gap, once;
- a wall time that happens twice (fall back) runs at its first occurrence, once;
- a monthly day beyond the month's end runs on the month's last day.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta, tzinfo, UTC
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import rrule
from dateutil.tz import tzlocal
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

UTC = UTC
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# dateutil's frequency constants (its stubs type rrule's freq as their literal values)
_FREQUENCIES: dict[str, Literal[0, 1, 2, 3, 4, 5, 6]] = {"hourly": rrule.HOURLY, "daily": rrule.DAILY, "weekly": rrule.WEEKLY, "monthly": rrule.MONTHLY}
_UNITS = {"hourly": "hour", "daily": "day", "weekly": "week", "monthly": "month"}
# Wall clock and UTC order differ by at most an offset change; start the search this much earlier.
_MARGIN = timedelta(days=2)


class Schedule(BaseModel):
    """When a linkage is collected: from ``start_at``, every N days, weeks or months."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start_at: datetime  # naive: wall-clock time in the zone; aware: converted to the zone
    interval: Literal["hourly", "daily", "weekly", "monthly"]  # hourly: for changed-only runs
    every: int = Field(default=1, ge=1)
    weekdays: list[int] = Field(default_factory=list)  # 0=Mon..6=Sun; weekly; empty: start_at's
    month_day: int | None = Field(default=None, ge=1, le=31)  # monthly; None: start_at's day
    tz: str | None = None  # IANA name; None: the server's local zone

    @field_validator("start_at")
    @classmethod
    def _whole_seconds(cls, value: datetime) -> datetime:
        return value.replace(microsecond=0)  # rrule drops microseconds; keep start_at its first run

    @field_validator("weekdays")
    @classmethod
    def _known_weekdays(cls, value: list[int]) -> list[int]:
        for day in value:
            if not 0 <= day <= 6:
                raise ValueError(f"weekdays are 0 (Mon) to 6 (Sun), got {day}")
        return sorted(set(value))

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone '{value}' (use an IANA name such as "
                                 "Asia/Tokyo)") from None
        return value

    @model_validator(mode="after")
    def _fields_fit_interval(self) -> Schedule:
        if self.weekdays and self.interval != "weekly":
            raise ValueError("weekdays apply only to a weekly schedule")
        if self.month_day is not None and self.interval != "monthly":
            raise ValueError("month_day applies only to a monthly schedule")
        return self

    @property
    def zone(self) -> tzinfo:
        """The zone whose wall clock the schedule follows."""
        return ZoneInfo(self.tz) if self.tz else local_zone()

    def start_wall(self) -> datetime:
        """``start_at`` as a naive wall-clock time in the schedule's zone."""
        if self.start_at.tzinfo is None:
            return self.start_at
        return self.start_at.astimezone(self.zone).replace(tzinfo=None)

    def run_weekdays(self) -> list[int]:
        """The weekdays of a weekly schedule (start_at's when none are chosen)."""
        return self.weekdays or [self.start_wall().weekday()]

    def run_month_day(self) -> int:
        """The day of the month of a monthly schedule (start_at's when none is chosen)."""
        return self.month_day or self.start_wall().day


def local_zone() -> tzinfo:
    """The server's local time zone, with its DST rules (not just today's offset)."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass  # a POSIX TZ string such as 'EST5EDT,M3.2.0,M11.1.0': the C library knows it
    elif Path("/etc/localtime").exists():
        try:
            with open("/etc/localtime", "rb") as handle:
                return ZoneInfo.from_file(handle)
        except (OSError, ValueError):
            pass
    return tzlocal()


def next_runs(schedule: Schedule | None, after: datetime, count: int = 1) -> list[datetime]:
    """The next ``count`` runs strictly after ``after`` (aware), as aware UTC datetimes."""
    _require_aware(after, "after")
    if schedule is None or count < 1:
        return []
    runs = []
    for run in _runs(schedule, after):
        runs.append(run)
        if len(runs) == count:
            break
    return runs


def next_run(schedule: Schedule | None, after: datetime) -> datetime | None:
    """The first run strictly after ``after``, or None when there is no schedule."""
    runs = next_runs(schedule, after, 1)
    return runs[0] if runs else None


def missed_run(schedule: Schedule | None, last_run: datetime | None,
               now: datetime) -> datetime | None:
    """The latest run due in (last_run, now], or None; only one, however long the downtime.

    ``last_run`` None means the schedule never ran: any run since ``start_at`` counts.
    """
    _require_aware(now, "now")
    if last_run is not None:
        _require_aware(last_run, "last_run")
    if schedule is None:
        return None
    latest = None
    for run in _runs(schedule, last_run):
        if run > now:
            break
        latest = run
    return latest


def describe(schedule: Schedule | None) -> str:
    """Human text such as ``every 2 weeks on Mon, Thu at 09:00 (Asia/Tokyo)``."""
    if schedule is None:
        return "no schedule"
    unit = _UNITS[schedule.interval]
    text = f"every {unit}" if schedule.every == 1 else f"every {schedule.every} {unit}s"
    if schedule.interval == "weekly":
        text += " on " + ", ".join(WEEKDAY_NAMES[d] for d in schedule.run_weekdays())
    elif schedule.interval == "monthly":
        day = schedule.run_month_day()
        text += f" on day {day}" + (" (or the month's last day)" if day > 28 else "")
    start = schedule.start_wall()
    clock = start.strftime("%H:%M:%S" if start.second else "%H:%M")
    at = "from" if schedule.interval == "hourly" else "at"  # hourly: the runs counted from start_at's time
    return f"{text} {at} {clock} ({schedule.tz or 'server local time'})"


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


def _rule(schedule: Schedule) -> rrule.rrule:
    """The recurrence in wall-clock time; dateutil does the calendar arithmetic."""
    options: dict = {"dtstart": schedule.start_wall(), "interval": schedule.every,
                     "wkst": rrule.MO}
    if schedule.interval == "weekly":
        options["byweekday"] = schedule.run_weekdays()
    elif schedule.interval == "monthly":
        day = schedule.run_month_day()
        options["bymonthday"] = day
        if day > 28:
            # The day, or the month's last day when the month is shorter; bysetpos keeps the first.
            options.update(bymonthday=(day, -1), bysetpos=1)
    return rrule.rrule(_FREQUENCIES[schedule.interval], **options)


def _runs(schedule: Schedule, after: datetime | None) -> Iterator[datetime]:
    """Runs as UTC instants in order, strictly after ``after`` (from the start when None)."""
    zone = schedule.zone
    start = _instant(schedule.start_wall(), zone)
    if schedule.start_at.tzinfo is not None:
        start = schedule.start_at.astimezone(UTC)
    rule = _rule(schedule)
    walls = iter(rule) if after is None else rule.xafter(
        after.astimezone(zone).replace(tzinfo=None) - _MARGIN, inc=True)
    for wall in walls:
        instant = _instant(wall, zone)
        if instant >= start and (after is None or instant > after):
            yield instant


def _instant(wall: datetime, zone: tzinfo) -> datetime:
    """The UTC instant of a wall-clock time: its first occurrence, or the end of its DST gap."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    return _gap_end(wall, zone)


def _gap_end(wall: datetime, zone: tzinfo) -> datetime:
    """The first instant after the gap holding ``wall``.

    dateutil's ``resolve_imaginary`` would shift by the gap's length (02:30 -> 03:30); the spec wants
    the first valid instant (03:00), so find the transition between the two readings of ``wall``.
    """
    before = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)  # read with the later offset: earlier
    after = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)  # read with the earlier offset: later
    low, high = min(before, after), max(before, after)
    offset_after = high.astimezone(zone).utcoffset()
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if middle.astimezone(zone).utcoffset() == offset_after:
            high = middle
        else:
            low = middle
    return high
