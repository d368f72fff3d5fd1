"""Scheduling in storage: a linkage's schedule columns and marks, its runs, and the daemon's heartbeat."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mdmtui.storage.models import CollectionRun, Linkage, SchedulerState
from mdmtui.storage.records import DaemonHeartbeat, RunInfo, ScheduledLinkage, from_row

MARKS = {False: "last_scheduled_run_at", True: "last_changed_run_at"}  # the due time a schedule last handled


def scheduled(*, changed_only: bool) -> list[ScheduledLinkage]:
    """Enabled linkages with a full (or changed-only) schedule, by name."""
    column = Linkage.changed_schedule if changed_only else Linkage.schedule_interval
    query = Linkage.select().where(column.is_null(False), Linkage.enabled == True)  # noqa: E712
    return [from_row(ScheduledLinkage, row) for row in query.order_by(Linkage.name)]


def every_linkage() -> list[ScheduledLinkage]:
    """Every linkage's scheduling columns, by name (enabled or not, scheduled or not)."""
    return [from_row(ScheduledLinkage, row) for row in Linkage.select().order_by(Linkage.name)]


def update_linkage(linkage_id: int, columns: dict[str, Any], now: datetime) -> None:
    """Store a linkage's schedule columns (and marks)."""
    Linkage.update(**columns, updated_at=now).where(Linkage.id == linkage_id).execute()


def move_mark(linkage_id: int, due: datetime, *, changed_only: bool) -> bool:
    """Set the schedule's mark to ``due`` unless it is there or later already; whether it moved."""
    column = getattr(Linkage, MARKS[changed_only])
    query = Linkage.update({column: due}).where((Linkage.id == linkage_id) & (column.is_null() | (column < due)))
    return int(query.execute()) > 0


def last_runs(linkage_id: int) -> tuple[RunInfo | None, RunInfo | None]:
    """(the linkage's latest run of any trigger, its latest scheduled run)."""
    runs = CollectionRun.select().where(CollectionRun.linkage == linkage_id)
    newest = runs.order_by(CollectionRun.started_at.desc(), CollectionRun.id.desc())
    scheduled_run = newest.where(CollectionRun.trigger == "scheduled")
    return _run_info(newest.first()), _run_info(scheduled_run.first())


def _run_info(run: CollectionRun | None) -> RunInfo | None:
    if run is None:
        return None
    return RunInfo(started_at=run.started_at, finished_at=run.finished_at, status=run.status,
                   trigger=run.trigger, reason=run.reason, kind=run.kind)


def latest_heartbeat() -> DaemonHeartbeat | None:
    """The freshest heartbeat of any scheduler daemon, or None when none ever ran."""
    state = SchedulerState.select().order_by(SchedulerState.heartbeat_at.desc()).first()
    return None if state is None else from_row(DaemonHeartbeat, state)
