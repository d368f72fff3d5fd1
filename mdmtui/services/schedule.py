"""Scheduled collection: each linkage's schedule, its last and next runs, and the daemon's status.

The recurrence rules live in ``mdmtui.recurrence``; this service stores a ``Schedule`` in the
linkage's ``schedule_*`` columns, decides which linkages are due, and reads the run history.

A linkage's ``last_scheduled_run_at`` is the due time the daemon last handled (succeeded, failed or
skipped). Only runs due after it are owed, and ``recurrence.missed_run`` gives at most one of them, so
a daemon that was down for a week runs one collection per linkage, not seven. Setting a schedule moves
it to the moment of the change: a new schedule owes nothing from before it existed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from mdmtui import recurrence
from mdmtui.clock import utcnow
from mdmtui.errors import ActionRefused, ConfigurationError, UsageError
from mdmtui.recurrence import Schedule
from mdmtui.services import audit, linkages, roles
from mdmtui.services.context import Context
from mdmtui.storage import schedule as stored
from mdmtui.storage.records import RunInfo as RunInfo  # the schedule views read it from here
from mdmtui.storage.records import ScheduledLinkage
from mdmtui.storage.transactions import transaction

log = logging.getLogger(__name__)

# The daemon refreshes its heartbeat at least this often; three missed beats mean it is gone.
HEARTBEAT_EVERY = timedelta(seconds=30)
STALE_AFTER = 3 * HEARTBEAT_EVERY

WEEKDAY_WORDS = {
    "mon": 0, "monday": 0, "tue": 1, "tues": 1, "tuesday": 1, "wed": 2, "wednesday": 2,
    "thu": 3, "thur": 3, "thurs": 3, "thursday": 3, "fri": 4, "friday": 4,
    "sat": 5, "saturday": 5, "sun": 6, "sunday": 6,
}
START_AT_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")


LinkageSchedule = ScheduledLinkage  # what scheduling reads of a linkage (a LinkageRecord is one too)


@dataclass(frozen=True, slots=True)
class LastRuns:
    """A linkage's latest run of any trigger, and its latest scheduled run."""

    any: RunInfo | None
    scheduled: RunInfo | None


@dataclass(frozen=True, slots=True)
class DaemonStatus:
    """Whether a scheduler daemon is alive, judged by its heartbeat."""

    running: bool
    host: str | None = None
    pid: int | None = None
    heartbeat_at: datetime | None = None
    started_at: datetime | None = None


# --- parsing what an admin types -------------------------------------------------------------


def parse_start_at(text: str) -> datetime:
    """A Start At such as ``2026-12-01 09:00``: a wall-clock time in the schedule's zone."""
    value = text.strip()
    for fmt in START_AT_FORMATS:
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    raise UsageError(f"start at {text!r} is not a date and time like '2026-12-01 09:00'")


def parse_weekdays(text: str) -> list[int]:
    """Weekdays such as ``mon,thu`` (names or 0=Mon..6=Sun) as sorted numbers."""
    days = set()
    for word in filter(None, (w.strip().lower() for w in text.split(","))):
        if word.isdigit() and int(word) <= 6:
            days.add(int(word))
        elif word in WEEKDAY_WORDS:
            days.add(WEEKDAY_WORDS[word])
        else:
            raise UsageError(f"weekday {word!r} is not one of mon, tue, wed, thu, fri, sat, sun")
    if not days:
        raise UsageError("no weekday given: list them like 'mon,thu'")
    return sorted(days)


def build_schedule(*, start_at: datetime | str, interval: str, every: int = 1,
                   weekdays: list[int] | str | None = None, month_day: int | None = None,
                   tz: str | None = None, changed_only: bool = False) -> Schedule:
    """A validated ``Schedule`` from form or command-line values; bad input raises ``UsageError``.
    Hourly is for a changed-only schedule: a full run every hour would spend a big tenant's budget."""
    if interval == "hourly" and not changed_only:
        raise UsageError("invalid schedule: interval: hourly applies only to a changed-only schedule "
                         "(schedule set NAME --changed-only); a full schedule is daily, weekly or monthly")
    if isinstance(start_at, str):
        start_at = parse_start_at(start_at)
    if isinstance(weekdays, str):
        weekdays = parse_weekdays(weekdays)
    try:
        return Schedule.model_validate({"start_at": start_at, "interval": interval, "every": every,
                                        "weekdays": weekdays or [], "month_day": month_day, "tz": tz or None})
    except ValidationError as exc:
        raise UsageError("invalid schedule: " + _validation_text(exc)) from None


def changed_schedule_from_text(start_at: str, interval: str, every: str) -> Schedule | None:
    """A changed-only schedule from the linkage form's three fields; all blank: none (``UsageError`` otherwise,
    naming the field)."""
    start_at, interval, every = start_at.strip(), interval.strip().lower(), every.strip()
    if not (start_at or interval or every):
        return None
    if not interval:
        raise UsageError("changed-only repeat interval: give hourly, daily, weekly or monthly (or clear every "
                         "changed-only field)")
    if not start_at:
        raise UsageError("changed-only start at: give a local date and time such as 2026-12-01 09:00")
    if every and not (every.isdigit() and int(every) >= 1):
        raise UsageError(f"changed-only every N: {every!r} is not a whole number of at least 1")
    return build_schedule(start_at=start_at, interval=interval, every=int(every or 1), changed_only=True)


def set_changed_schedule(ctx: Context, name: str, schedule: Schedule | None) -> bool:
    """The linkage form's save: set or clear the changed-only schedule when it differs from the stored one."""
    if recurrence.describe(schedule) == _describe_stored(linkages.get(ctx, name), True):
        return False
    set_schedule(ctx, name, schedule, changed_only=True)
    return True


def _validation_text(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


# --- the schedule stored on a linkage ---------------------------------------------------------


def schedule_of(linkage: LinkageSchedule) -> Schedule | None:
    """The linkage's schedule, or None when it has none; a damaged one raises ``ConfigurationError``."""
    return _schedule_from(linkage, {column: getattr(linkage, column) for column in schedule_columns(None)})


def changed_schedule_of(linkage: LinkageSchedule) -> Schedule | None:
    """The linkage's changed-only schedule (stored as the same columns, in one JSON text), or None."""
    if not linkage.changed_schedule:
        return None
    try:
        values = json.loads(linkage.changed_schedule)
    except ValueError:
        values = None
    if not isinstance(values, dict):
        raise ConfigurationError(f"linkage {linkage.name!r}: its stored changed-only schedule is not readable")
    return _schedule_from(linkage, {column: values.get(column) for column in schedule_columns(None)})


def _schedule_from(linkage: LinkageSchedule, values: dict[str, Any]) -> Schedule | None:
    if not values["schedule_interval"]:
        return None
    try:
        start_at = datetime.fromisoformat(values["schedule_start_at"] or "")
        weekdays = [int(d) for d in (values["schedule_weekdays"] or "").split(",") if d.strip()]
        return Schedule(start_at=start_at, interval=values["schedule_interval"],
                        every=values["schedule_every"] or 1, weekdays=weekdays,
                        month_day=values["schedule_month_day"], tz=values["schedule_tz"] or None)
    except ValidationError as exc:
        raise ConfigurationError(f"linkage {linkage.name!r}: its stored schedule is invalid: "
                                 f"{_validation_text(exc)}") from None
    except ValueError as exc:
        raise ConfigurationError(f"linkage {linkage.name!r}: its stored schedule is invalid: {exc}") from None


def schedule_columns(schedule: Schedule | None) -> dict[str, Any]:
    """The linkage column values that store ``schedule`` (all None for no schedule)."""
    if schedule is None:
        return dict(schedule_start_at=None, schedule_interval=None, schedule_every=None,
                    schedule_weekdays=None, schedule_month_day=None, schedule_tz=None)
    return dict(
        schedule_start_at=_wall_text(schedule.start_wall()),
        schedule_interval=schedule.interval,
        schedule_every=schedule.every,
        schedule_weekdays=",".join(str(d) for d in schedule.weekdays) or None,
        schedule_month_day=schedule.month_day,
        schedule_tz=schedule.tz,
    )


def _wall_text(wall: datetime) -> str:
    """Start At as stored (the same text the linkage service writes): seconds only when set."""
    return wall.isoformat(timespec="seconds" if wall.second else "minutes")


def set_schedule(ctx: Context, name: str, schedule: Schedule | None, *,
                 now: datetime | None = None, changed_only: bool = False) -> Any:
    """Give linkage ``name`` a schedule (None clears it); audited as a settings change. Returns the linkage
    as ``linkages.get`` gives it, after the change.

    ``changed_only`` sets the second, frequent schedule whose runs list only what changed."""
    if ctx.read_only:
        raise ActionRefused("read-only mode: schedules cannot be changed")
    roles.require(ctx, roles.Permission.SCHEDULES, linkage_name=name, target=f"schedule of {name}")
    now = now or utcnow()
    with transaction(ctx.db):
        linkage = linkages.get(ctx, name)
        before = _describe_stored(linkage, changed_only)
        columns = _stored_columns(schedule, changed_only, now)
        changed = any(getattr(linkage, k) != v for k, v in columns.items() if k != _MARK[changed_only])
        if changed:
            # A new schedule owes no run from before it existed (see the module docstring).
            stored.update_linkage(linkage.id, columns, now)
        after = recurrence.describe(schedule)
        verb = "changed-only schedule" if changed_only else "schedule"
        audit.record(ctx, category="settings", action=f"{verb} set" if schedule else f"{verb} clear",
                     outcome="succeeded" if changed else "unchanged", linkage_name=linkage.name,
                     options={"before": before, "after": after},
                     message=f"{verb} of {linkage.name}: {after}")
    log.info("%s of %s: %s -> %s", verb, linkage.name, before, after)
    return linkages.get(ctx, linkage.name)


# the column holding the due time each schedule last handled (full: False, changed-only: True)
_MARK = stored.MARKS


def _stored_columns(schedule: Schedule | None, changed_only: bool, now: datetime | None = None) -> dict[str, Any]:
    columns = schedule_columns(schedule)
    if changed_only:
        columns = {"changed_schedule": json.dumps(columns) if schedule else None}
    return {**columns, _MARK[changed_only]: (now or utcnow()) if schedule else None}


def _describe_stored(linkage: LinkageSchedule, changed_only: bool = False) -> str:
    try:
        return recurrence.describe(changed_schedule_of(linkage) if changed_only else schedule_of(linkage))
    except ConfigurationError as exc:
        return str(exc)


# --- runs: next, due, last --------------------------------------------------------------------


def preview_runs(schedule: Schedule | None, count: int = 3, *, now: datetime | None = None) -> list[datetime]:
    """The next ``count`` runs of a schedule not saved yet (the linkage form's preview)."""
    return recurrence.next_runs(schedule, now or utcnow(), count)


def due_at(linkage: LinkageSchedule, now: datetime, *, changed_only: bool = False) -> datetime | None:
    """The run owed at ``now`` (at most one, however long the daemon was away), or None."""
    if not linkage.enabled:
        return None
    if changed_only:
        return recurrence.missed_run(changed_schedule_of(linkage), linkage.last_changed_run_at, now)
    return recurrence.missed_run(schedule_of(linkage), linkage.last_scheduled_run_at, now)


def next_runs_for(linkage: LinkageSchedule, count: int = 3, *, now: datetime | None = None) -> list[datetime]:
    """The linkage's next runs (UTC); the first is at or before ``now`` when a run is overdue."""
    now = now or utcnow()
    schedule = schedule_of(linkage)
    if schedule is None or not linkage.enabled or count < 1:
        return []
    owed = due_at(linkage, now)
    upcoming = recurrence.next_runs(schedule, now, count - (1 if owed else 0))
    return ([owed] if owed else []) + upcoming


def next_changed_runs_for(linkage: LinkageSchedule, count: int = 3, *, now: datetime | None = None) -> list[datetime]:
    """The next runs of the linkage's changed-only schedule (UTC), an owed one first."""
    now = now or utcnow()
    schedule = changed_schedule_of(linkage)
    if schedule is None or not linkage.enabled or count < 1:
        return []
    owed = due_at(linkage, now, changed_only=True)
    return ([owed] if owed else []) + recurrence.next_runs(schedule, now, count - (1 if owed else 0))


def linkage_schedules(ctx: Context) -> list[ScheduledLinkage]:
    """Every linkage's schedules and marks, by name (``mdmtui schedule list``)."""
    return stored.every_linkage()


def due_linkages(ctx: Context, now: datetime) -> list[tuple[ScheduledLinkage, datetime]]:
    """Enabled linkages with a run owed at ``now``, oldest due first; a damaged schedule is logged."""
    due = []
    for linkage in stored.scheduled(changed_only=False):
        try:
            when = due_at(linkage, now)
        except ConfigurationError as exc:
            log.error("%s; not scheduled until it is fixed", exc)
            continue
        if when is not None:
            due.append((linkage, when))
    return sorted(due, key=lambda pair: pair[1])


def due_runs(ctx: Context, now: datetime) -> list[tuple[ScheduledLinkage, datetime, bool]]:
    """(linkage, due, changed_only) for every run owed at ``now``, oldest due first. A linkage whose
    full run is owed gets only that one: a full run sees everything a changed-only one would."""
    runs = [(linkage, when, False) for linkage, when in due_linkages(ctx, now)]
    full = {linkage.id for linkage, _, _ in runs}
    for linkage in stored.scheduled(changed_only=True):
        try:
            when = due_at(linkage, now, changed_only=True)
        except ConfigurationError as exc:
            log.error("%s; no changed-only run until it is fixed", exc)
            continue
        if when is not None and linkage.id not in full:
            runs.append((linkage, when, True))
    return sorted(runs, key=lambda run: run[1])


def mark_handled(linkage_id: int, due: datetime, *, changed_only: bool = False) -> bool:
    """Record that the run due at ``due`` was handled; never moves the mark backwards. A full run
    also settles the changed-only runs due up to it (they would list nothing it did not)."""
    if not changed_only:
        _move_mark(linkage_id, due, True)
    return _move_mark(linkage_id, due, changed_only)


def _move_mark(linkage_id: int, due: datetime, changed_only: bool) -> bool:
    return stored.move_mark(linkage_id, due, changed_only=changed_only)


def last_run(linkage: LinkageSchedule) -> LastRuns:
    """The linkage's latest collection run of any trigger, and its latest scheduled one."""
    newest, scheduled = stored.last_runs(linkage.id)
    return LastRuns(any=newest, scheduled=scheduled)


# --- the daemon's heartbeat -------------------------------------------------------------------


def daemon_status(ctx: Context, *, now: datetime | None = None) -> DaemonStatus:
    """Whether a daemon beat its heart within ``STALE_AFTER``; the freshest one is described."""
    now = now or utcnow()
    state = stored.latest_heartbeat()
    if state is None:
        return DaemonStatus(running=False)
    return DaemonStatus(running=now - state.heartbeat_at <= STALE_AFTER, host=state.host, pid=state.pid,
                        heartbeat_at=state.heartbeat_at, started_at=state.started_at)
