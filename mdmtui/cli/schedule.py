"""``mdmtui schedule list|set|clear`` and ``mdmtui daemon``: scheduled collection from the command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

from mdmtui import recurrence
from mdmtui.cli.common import add_json_flag, context_from_args, print_json, print_table, to_local
from mdmtui.errors import ActionRefused, ConfigurationError, UsageError
from mdmtui.formatting import printable
from mdmtui.logs import setup_logging
from mdmtui.services import schedule as schedule_service
from mdmtui.services.context import Context
from mdmtui.services.schedule import LinkageSchedule, RunInfo
from mdmtui.signals import on_stop_signals

PREVIEW_COUNT = 3
CHANGED_HELP = ("the second, frequent schedule: its runs collect only the devices that contacted the MDM "
                "since the last run began and never mark any device missing (the full schedule stays)")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``schedule`` and ``daemon`` to the command line."""
    _register_schedule(subparsers)
    _register_daemon(subparsers)


def _register_schedule(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("schedule", help="show and set each linkage's collection schedule")
    commands = parser.add_subparsers(dest="schedule_command", metavar="ACTION", required=True)
    listing = commands.add_parser("list", help="each linkage's schedule, last run and next run")
    add_json_flag(listing)
    listing.set_defaults(handler=cmd_list)
    setter = commands.add_parser("set", help="give a linkage a schedule (replaces its current one)")
    setter.add_argument("name", metavar="NAME", help="the linkage's MDM settings name")
    setter.add_argument("--start-at", required=True, metavar="'YYYY-MM-DD HH:MM'",
                        help="first run, a wall-clock time in the schedule's time zone")
    setter.add_argument("--interval", required=True, choices=("hourly", "daily", "weekly", "monthly"),
                        help="repeat interval (hourly suits a --changed-only schedule)")
    setter.add_argument("--every", type=int, default=1, metavar="N", help="every N hours, days, weeks or months (1)")
    setter.add_argument("--weekdays", metavar="DAYS", help="weekly: the days, e.g. mon,thu (default: Start At's)")
    setter.add_argument("--month-day", type=int, metavar="DAY",
                        help="monthly: the day of the month, 1-31; past a month's end it runs on the last day")
    setter.add_argument("--tz", metavar="ZONE", help="IANA time zone (default: the server's local time zone)")
    setter.add_argument("--changed-only", action="store_true", help=CHANGED_HELP)
    setter.set_defaults(handler=cmd_set)
    clearer = commands.add_parser("clear", help="remove a linkage's schedule (no scheduled collection)")
    clearer.add_argument("name", metavar="NAME", help="the linkage's MDM settings name")
    clearer.add_argument("--changed-only", action="store_true", help="remove the changed-only schedule instead")
    clearer.set_defaults(handler=cmd_clear)


def _register_daemon(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("daemon", help="run the scheduled collections (for systemd)")
    parser.add_argument("--once", action="store_true", help="run what is due now, then exit")
    parser.add_argument("--tick", type=float, default=30.0, metavar="SECONDS",
                        help="how often to look for due collections (default 30, at most 30)")
    parser.add_argument("--busy-wait", type=float, default=300.0, metavar="SECONDS",
                        help="how long a scheduled run waits for a manual collection of the same "
                             "linkage before it is skipped (default 300)")
    parser.add_argument("--grace", type=float, default=30.0, metavar="SECONDS",
                        help="on SIGTERM (or SIGINT, SIGHUP), how long running collections get to stop (default 30)")
    parser.set_defaults(handler=cmd_daemon)


# --- schedule list ----------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    """Print each linkage's schedule, last run and next run."""
    ctx = context_from_args(args)
    now = datetime.now(UTC)
    rows = [_linkage_view(linkage, now) for linkage in schedule_service.linkage_schedules(ctx)]
    status = schedule_service.daemon_status(ctx, now=now)
    if args.json:
        print_json({"daemon": _daemon_json(status), "linkages": rows})
        return 0
    if not rows:
        print("no linkages yet (mdmtui linkage add)")
    else:
        print_table(["LINKAGE", "SCHEDULE", "CHANGED-ONLY", "LAST RUN", "LAST SCHEDULED RUN", "NEXT RUN"],
                    [_table_row(row) for row in rows], max_width=60)
    print(_daemon_line(status))
    return 0


def _linkage_view(linkage: LinkageSchedule, now: datetime) -> dict[str, Any]:
    """One linkage's schedule facts, times in the server's local time zone."""
    view: dict[str, Any] = {"name": linkage.name, "enabled": linkage.enabled, "schedule": None,
                            "description": "no schedule", "error": None, "next_runs": []}
    try:
        schedule = schedule_service.schedule_of(linkage)
        view["next_runs"] = [_local_iso(t) for t in schedule_service.next_runs_for(linkage, PREVIEW_COUNT, now=now)]
    except ConfigurationError as exc:
        schedule, view["error"] = None, str(exc)
    if schedule is not None:
        view["schedule"] = schedule.model_dump(mode="json")
        view["description"] = recurrence.describe(schedule)
    last = schedule_service.last_run(linkage)
    view["last_run"] = _run_json(last.any)
    view["last_scheduled_run"] = _run_json(last.scheduled)
    view["overdue"] = bool(view["next_runs"]) and schedule_service.due_at(linkage, now) is not None
    _changed_view(view, linkage, now)
    return view


def _changed_view(view: dict[str, Any], linkage: LinkageSchedule, now: datetime) -> None:
    """The changed-only schedule beside the full one."""
    view["changed_schedule"], view["changed_description"], view["changed_next_runs"] = None, "none", []
    try:
        schedule = schedule_service.changed_schedule_of(linkage)
        view["changed_next_runs"] = [_local_iso(t) for t in
                                     schedule_service.next_changed_runs_for(linkage, PREVIEW_COUNT, now=now)]
    except ConfigurationError as exc:
        view["changed_description"] = str(exc)
        return
    if schedule is not None:
        view["changed_schedule"] = schedule.model_dump(mode="json")
        view["changed_description"] = recurrence.describe(schedule)


def _run_json(run: RunInfo | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {"started_at": _local_iso(run.started_at), "finished_at": _local_iso(run.finished_at),
            "status": run.status, "trigger": run.trigger, "kind": run.kind, "reason": run.reason}


def _local_iso(value: datetime | None) -> str | None:
    return value.astimezone().isoformat(timespec="seconds") if value else None


def _table_row(view: dict[str, Any]) -> list[str]:
    schedule = view["error"] or view["description"]
    nxt = _when(view["next_runs"][0]) if view["next_runs"] else ""
    if not view["enabled"] and view["schedule"]:
        nxt = "none: linkage disabled"
    if view["overdue"]:
        nxt += " (overdue: runs when the daemon does)"
    changed = view["changed_description"]
    if view["changed_next_runs"]:
        changed += f", next {_when(view['changed_next_runs'][0])}"
    return [view["name"], schedule, changed, _run_cell(view["last_run"]), _run_cell(view["last_scheduled_run"]), nxt]


def _run_cell(run: dict[str, Any] | None) -> str:
    if run is None:
        return "never"
    kind = " (changed-only)" if run.get("kind") == "changed" else ""
    return f"{_when(run['started_at'])} {run['status']}{kind}"


def _when(iso: str) -> str:
    return to_local(datetime.fromisoformat(iso))


def _daemon_json(status: schedule_service.DaemonStatus) -> dict[str, Any]:
    return {"running": status.running, "host": status.host, "pid": status.pid,
            "heartbeat_at": _local_iso(status.heartbeat_at), "started_at": _local_iso(status.started_at)}


def _daemon_line(status: schedule_service.DaemonStatus) -> str:
    if status.running:
        return f"daemon: running on {status.host} (pid {status.pid}), last heartbeat {to_local(status.heartbeat_at)}"
    if status.heartbeat_at:
        return (f"daemon: NOT running (last seen on {status.host}, pid {status.pid}, "
                f"at {to_local(status.heartbeat_at)}); scheduled collections wait for it")
    return "daemon: NOT running; scheduled collections need `mdmtui daemon` (see the README, 'Scheduled collection')"


# --- schedule set / clear ---------------------------------------------------------------------


def cmd_set(args: argparse.Namespace) -> int:
    """Give a linkage a schedule and preview its next runs."""
    if args.weekdays and args.interval != "weekly":
        raise UsageError("--weekdays applies only to --interval weekly")
    if args.month_day is not None and args.interval != "monthly":
        raise UsageError("--month-day applies only to --interval monthly")
    schedule = schedule_service.build_schedule(start_at=args.start_at, interval=args.interval, every=args.every,
                                               weekdays=args.weekdays, month_day=args.month_day, tz=args.tz,
                                               changed_only=args.changed_only)
    ctx = context_from_args(args)
    linkage = schedule_service.set_schedule(ctx, args.name, schedule, changed_only=args.changed_only)
    kind = "changed-only " if args.changed_only else ""
    print(f"{printable(linkage.name)}: {kind}{recurrence.describe(schedule)}")
    upcoming = schedule_service.next_changed_runs_for if args.changed_only else schedule_service.next_runs_for
    for when in upcoming(linkage, PREVIEW_COUNT):
        print(f"  next: {to_local(when)}")
    _warn_if_no_daemon(ctx, linkage)
    return 0


def cmd_clear(args: argparse.Namespace) -> int:
    """Remove a linkage's schedule."""
    ctx = context_from_args(args)
    linkage = schedule_service.set_schedule(ctx, args.name, None, changed_only=args.changed_only)
    print(f"{printable(linkage.name)}: no {'changed-only ' if args.changed_only else ''}schedule")
    return 0


def _warn_if_no_daemon(ctx: Context, linkage: LinkageSchedule) -> None:
    if not linkage.enabled:
        print(f"note: {printable(linkage.name)} is disabled; it is not collected until it is enabled", file=sys.stderr)
    if not schedule_service.daemon_status(ctx).running:
        print("note: no daemon is running; start `mdmtui daemon` (see the README, 'Scheduled collection')", file=sys.stderr)


# --- daemon -----------------------------------------------------------------------------------


def cmd_daemon(args: argparse.Namespace) -> int:
    """Run scheduled collections until SIGTERM, SIGINT or SIGHUP (or once, with --once)."""
    from mdmtui.daemon import Daemon

    ctx = context_from_args(args)
    if ctx.read_only:
        raise ActionRefused("read-only mode: the daemon would collect, which changes the inventory")
    log_path = setup_logging(verbose=bool(getattr(args, "verbose", False)), path=ctx.settings.log_file)
    daemon = Daemon(ctx, tick_s=args.tick, busy_wait_s=args.busy_wait, grace_s=args.grace)
    if args.once:
        return asyncio.run(_once(daemon))
    print(f"mdmtui daemon: running (pid {daemon.pid}); log: {log_path}", file=sys.stderr, flush=True)
    asyncio.run(_serve(daemon))
    print("mdmtui daemon: stopped", file=sys.stderr, flush=True)
    return 0


async def _serve(daemon) -> None:
    stop = asyncio.Event()
    with on_stop_signals(lambda _sig: stop.set()):  # SIGTERM, SIGINT and SIGHUP alike
        await daemon.run(stop)


async def _once(daemon) -> int:
    with on_stop_signals(lambda _sig: daemon.request_stop()):
        return await _run_once(daemon)


async def _run_once(daemon) -> int:
    async with daemon:
        outcomes = await daemon.run_once(daemon.clock())
    if not outcomes:
        print("nothing due")
    for outcome in outcomes:
        reason = f" ({outcome.reason})" if outcome.reason else ""
        print(printable(f"{outcome.linkage}: due {to_local(outcome.due_at)}: {outcome.status}{reason}"))
    return 1 if any(o.status == "failed" for o in outcomes) else 0
