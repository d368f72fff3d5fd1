"""``mdmtui lock|wipe|reset-passcode DEVICE…``, ``mdmtui actions`` and ``mdmtui audit``.

Exit status: 0 when every device succeeded or is pending, 1 when any failed, was refused, ended
unknown or was cancelled, 2 on bad usage (including devices that could not be named unambiguously).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from typing import Any

from mdmtui.cli.common import (add_json_flag, confirm_typed, context_from_args, one_line, print_ambiguous,
                               print_json, print_table, to_local)
from mdmtui.errors import AmbiguousError, NotFoundError, UsageError
from mdmtui.formatting import printable
from mdmtui.records import Action, Outcome, WipeOptions
from mdmtui.services import audit, control, lookup
from mdmtui.services.control import ActionRecord
from mdmtui.services.context import Context

LIST_SHOWN = 30  # devices listed before a bulk wipe's typed count


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``lock``, ``wipe``, ``reset-passcode``, ``actions`` and ``audit`` to the command line."""
    lock = _action_parser(subparsers, "lock", "lock devices")
    lock.set_defaults(handler=cmd_act, action=Action.LOCK)
    wipe = _action_parser(subparsers, "wipe", "wipe (initialise) devices: needs a confirmation")
    _add_wipe_options(wipe)
    wipe.set_defaults(handler=cmd_act, action=Action.WIPE)
    reset = _action_parser(subparsers, "reset-passcode",
                           "reset devices' passcodes (a new passcode is shown once, never stored)")
    reset.set_defaults(handler=cmd_act, action=Action.RESET_PASSCODE)
    _register_actions(subparsers)
    _register_audit(subparsers)


def _action_parser(subparsers: argparse._SubParsersAction, name: str, text: str) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(name, help=text, description=text + ". DEVICE is a name, serial number, "
                                   "IMEI, MDM id or inventory id; prefix it (id:, name:, serial:, imei:, mdm:) "
                                   "to say which.")
    parser.add_argument("devices", nargs="*", metavar="DEVICE", help="the devices")
    parser.add_argument("--from", dest="from_file", metavar="FILE",
                        help="also read devices from FILE, one per line ('-' for standard input)")
    parser.add_argument("--dry-run", action="store_true", help="show what would be sent; send and record nothing")
    parser.add_argument("--no-follow", action="store_true",
                        help="do not wait for accepted actions to finish (follow up later: mdmtui actions --follow-up)")
    parser.add_argument("--follow-timeout", type=float, default=control.FOLLOW_TIMEOUT_S, metavar="SECONDS",
                        help=f"how long to follow accepted actions (default {control.FOLLOW_TIMEOUT_S:.0f})")
    add_json_flag(parser)
    return parser


def _add_wipe_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--confirm", metavar="NAME", help="the device's name, to confirm wiping one device")
    parser.add_argument("--yes-count", type=int, metavar="N", help="the number of devices, to confirm a bulk wipe")
    parser.add_argument("--keep-enrollment-data", action="store_true", help="Intune: keep enrollment data")
    parser.add_argument("--keep-user-data", action="store_true", help="Intune: keep user data")
    parser.add_argument("--keep-esim-plan", action="store_true", help="Intune: keep the eSIM data plan")
    parser.add_argument("--note", metavar="TEXT", help="a note sent with the wipe where the MDM takes one")


def _register_actions(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("actions", help="recorded lock/wipe/passcode-reset actions; follow up pending ones")
    parser.add_argument("--pending", action="store_true", help="only actions still pending or with unknown outcome")
    parser.add_argument("--follow-up", action="store_true",
                        help="ask the MDMs now about pending and unknown actions and record their answers")
    parser.add_argument("--device", metavar="DEVICE", help="only this device (name, serial, IMEI or id)")
    parser.add_argument("--action", choices=("lock", "wipe", "reset-passcode"), help="only this action")
    parser.add_argument("--limit", type=int, default=100, metavar="N", help="at most N actions (default 100)")
    add_json_flag(parser)
    parser.set_defaults(handler=cmd_actions)


def _register_audit(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("audit", help="the audit log (read only: entries cannot be edited or deleted)")
    parser.add_argument("--device", metavar="DEVICE", help="name, serial, MDM id or inventory id at the time")
    parser.add_argument("--action", metavar="ACTION", help="e.g. lock, wipe, reset-passcode, linkage.update")
    parser.add_argument("--since", metavar="WHEN", help="7d, 12h, 30m, 2024-05-01 or 2024-05-01T09:00 (local)")
    parser.add_argument("--category", choices=sorted(audit.CATEGORIES), help="only this category")
    parser.add_argument("--outcome", metavar="OUTCOME", help="e.g. succeeded, failed, refused, unknown")
    parser.add_argument("--limit", type=int, default=500, metavar="N", help="at most N entries (default 500)")
    add_json_flag(parser)
    parser.set_defaults(handler=cmd_audit)


# --- lock / wipe / reset-passcode --------------------------------------------------------------------


def cmd_act(args: argparse.Namespace) -> int:
    """Lock, wipe or reset the passcode of the named devices."""
    action: Action = args.action
    if not 0 <= args.follow_timeout <= 3600:
        raise UsageError("--follow-timeout must be between 0 and 3600 seconds")
    options = _wipe_options(args) if action is Action.WIPE else None
    terms = _terms(args)
    ctx = context_from_args(args)
    devices = _resolve(ctx, terms)
    if devices is None:
        return 2
    ids = [d.id for d in devices]
    if action is Action.WIPE and not args.dry_run and not ctx.read_only:
        refused = _confirm_wipe(ctx, args, devices, options)
        if refused is not None:
            return refused
    outcomes = _run(ctx, ids, action, options, args)
    if outcomes is None:
        return 130
    _report(args, action, outcomes)
    if args.dry_run:
        return 0 if all(o.outcome is not Outcome.REFUSED for o in outcomes) else 1
    return 0 if control.all_fine(outcomes) else 1


def _wipe_options(args: argparse.Namespace) -> WipeOptions:
    return WipeOptions(keep_enrollment_data=args.keep_enrollment_data, keep_user_data=args.keep_user_data,
                       persist_esim_data_plan=args.keep_esim_plan, note=args.note)


def _terms(args: argparse.Namespace) -> list[str]:
    terms = list(args.devices)
    if args.from_file:
        terms += _read_terms(args.from_file)
    if not terms:
        raise UsageError("name at least one device (name, serial, IMEI or id), or --from FILE")
    return terms


def _read_terms(path: str) -> list[str]:
    try:
        text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
    except OSError as exc:
        raise UsageError(f"--from {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"--from {path}: not UTF-8 text") from None
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _resolve(ctx: Context, terms: list[str]) -> list[Any] | None:
    """The devices, or None after saying which terms were not found or ambiguous."""
    try:
        return lookup.resolve_many(ctx, terms)
    except AmbiguousError as exc:
        print_ambiguous(exc)
    except NotFoundError as exc:
        print(f"mdmtui: {one_line(exc)}; nothing was sent", file=sys.stderr)
    return None


def _confirm_wipe(ctx: Context, args: argparse.Namespace, devices: list[Any],
                  options: WipeOptions | None) -> int | None:
    """None when the wipe is confirmed; else the exit status, with the refusal recorded."""
    if len(devices) == 1:
        problem = _confirm_one(args, devices[0])
    else:
        problem = _confirm_bulk(args, devices)
    if problem is None:
        return None
    reason, status = problem
    control.record_refusal(ctx, [d.id for d in devices], Action.WIPE, options, reason)
    print(f"mdmtui: wipe refused: {printable(reason)}; nothing was sent", file=sys.stderr)
    return status


def _confirm_one(args: argparse.Namespace, device: Any) -> tuple[str, int] | None:
    expected = lookup.confirm_label(device)
    if args.yes_count is not None:
        raise UsageError("--yes-count confirms a bulk wipe; for one device give --confirm NAME")
    if args.confirm is not None:
        if args.confirm == expected:
            return None
        return f"the confirmation '{args.confirm}' does not match the device name '{expected}'", 1
    if not sys.stdin.isatty():
        return f"no confirmation: give --confirm '{expected}' to wipe {lookup.describe(device)}", 2
    print(f"About to WIPE {printable(lookup.describe(device))}. This erases the device.", file=sys.stderr)
    if confirm_typed(f"Type the device name ({printable(expected)}) to wipe it:", expected):
        return None
    return "the typed confirmation does not match the device name", 1


def _confirm_bulk(args: argparse.Namespace, devices: list[Any]) -> tuple[str, int] | None:
    count = len(devices)
    if args.confirm is not None:
        raise UsageError(f"--confirm NAME confirms one device; for {count} devices give --yes-count {count}")
    if args.yes_count is not None:
        if args.yes_count == count:
            return None
        return f"--yes-count {args.yes_count} does not match the {count} devices named", 1
    if not sys.stdin.isatty():
        return f"no confirmation: give --yes-count {count} to wipe these {count} devices", 2
    print(f"About to WIPE {count} devices:", file=sys.stderr)
    for device in devices[:LIST_SHOWN]:
        print(f"  {printable(lookup.describe(device))}", file=sys.stderr)
    if count > LIST_SHOWN:
        print(f"  ... and {count - LIST_SHOWN} more", file=sys.stderr)
    if confirm_typed(f"Type the number of devices ({count}) to wipe them all:", str(count)):
        return None
    return "the typed count does not match the number of devices", 1


def _run(ctx: Context, ids: list[int], action: Action, options: WipeOptions | None,
         args: argparse.Namespace) -> list[control.DeviceOutcome] | None:
    """Run the action; the first Ctrl-C stops sending new commands, a second one abandons waiting."""
    try:
        return asyncio.run(_act(ctx, ids, action, options, args))
    except (asyncio.CancelledError, KeyboardInterrupt):
        print("\nmdmtui: interrupted; commands in flight are recorded as outcome unknown "
              "(see mdmtui actions --pending)", file=sys.stderr)
        return None


async def _act(ctx: Context, ids: list[int], action: Action, options: WipeOptions | None,
               args: argparse.Namespace) -> list[control.DeviceOutcome]:
    cancel = asyncio.Event()
    loop, task = asyncio.get_running_loop(), asyncio.current_task()

    def on_interrupt() -> None:
        if cancel.is_set():
            if task is not None:
                task.cancel()
            return
        cancel.set()
        print("\nmdmtui: cancelling: no new commands are sent; waiting for those already sent "
              "(Ctrl-C again to stop waiting)", file=sys.stderr)

    try:
        loop.add_signal_handler(signal.SIGINT, on_interrupt)
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals here
        pass
    try:
        return await control.act(ctx, ids, action, options, progress=_progress_printer(len(ids)), cancel=cancel,
                                 dry_run=args.dry_run, follow=not args.no_follow,
                                 follow_timeout=args.follow_timeout)
    finally:
        try:
            loop.remove_signal_handler(signal.SIGINT)
        except (NotImplementedError, RuntimeError, ValueError):
            pass


def _progress_printer(total: int):
    if total < 2 or not sys.stderr.isatty():
        return None

    def show(tick: control.ActProgress) -> None:
        end = "\n" if tick.done == tick.total else ""
        sys.stderr.write(f"\r{tick.done}/{tick.total} devices settled, {tick.sent} sent{end}")
        sys.stderr.flush()

    return show


def _report(args: argparse.Namespace, action: Action, outcomes: list[control.DeviceOutcome]) -> None:
    if args.json:
        print_json({"action": action.value, "dry_run": bool(args.dry_run),
                    "results": [_outcome_json(o) for o in outcomes], "summary": control.summarize(outcomes)})
        return
    if args.dry_run:
        _report_dry_run(outcomes)
        return
    headers = ["ID", "Device", "Linkage", "Outcome", "MDM code", "Message", "Request id"]
    print_table(headers, ([o.device_id, o.device_name, o.linkage_name, _outcome_text(o), o.result.mdm_code,
                           o.result.message, o.result.request_id] for o in outcomes), max_width=80)
    for o in outcomes:
        if o.result.new_passcode:
            print(f"New passcode for {printable(o.device_name or o.device_id)}: {o.result.new_passcode} "
                  "(shown once; not stored anywhere)")
    print(control.summary_line(outcomes))


def _report_dry_run(outcomes: list[control.DeviceOutcome]) -> None:
    for o in outcomes:  # whole lines: the point of a dry run is the detail
        verdict = "REFUSED: " if o.outcome is Outcome.REFUSED else ""
        print(printable(f"id {o.device_id} '{o.device_name or ''}' [{o.linkage_name}]: {verdict}{o.result.message}"))
    refused = sum(o.outcome is Outcome.REFUSED for o in outcomes)
    print(f"dry run, nothing sent: {len(outcomes) - refused} would be sent, {refused} refused")


def _outcome_text(o: control.DeviceOutcome) -> str:
    if o.dry_run:
        return "refused" if o.outcome is Outcome.REFUSED else "send"
    return o.outcome.value


def _outcome_json(o: control.DeviceOutcome) -> dict[str, Any]:
    r = o.result
    data = {"device_id": o.device_id, "device_name": o.device_name, "linkage": o.linkage_name,
            "mdm_device_id": r.mdm_device_id, "outcome": _outcome_text(o), "message": r.message,
            "mdm_code": r.mdm_code, "http_status": r.http_status, "request_id": r.request_id,
            "action_id": o.action_id}
    if r.new_passcode:
        data["new_passcode"] = r.new_passcode  # shown once, here; never stored
    return data


# --- actions ----------------------------------------------------------------------------------------


def cmd_actions(args: argparse.Namespace) -> int:
    """List recorded actions; with --follow-up, ask the MDMs about the pending ones first."""
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    ctx = context_from_args(args)
    device_ids = None
    if args.device:
        devices = _resolve(ctx, [args.device])
        if devices is None:
            return 2
        device_ids = [d.id for d in devices]
    if args.follow_up:
        followed = asyncio.run(control.follow_up_pending(ctx, device_ids))
        print(f"followed up {len(followed)} action(s): {control.summary_line(followed)}", file=sys.stderr)
        for o in followed:  # an SDM passcode reset reports its new passcode when the command ends
            if o.result.new_passcode:
                print(f"New passcode for {printable(o.device_name or o.device_id)}: {o.result.new_passcode} "
                      "(shown once; not stored anywhere)")
    outcomes = ["pending", "unknown"] if args.pending else None
    action = args.action.replace("-", "_") if args.action else None
    rows = control.list_actions(ctx, device_ids=device_ids, outcomes=outcomes, action=action, limit=args.limit)
    _print_actions(args, rows)
    return 0


def _print_actions(args: argparse.Namespace, rows: Sequence[ActionRecord]) -> None:
    if args.json:
        print_json([_action_json(r) for r in rows])
        return
    if not rows:
        print("no recorded actions match")
        return
    print_table(["#", "Requested", "Device", "Linkage", "Action", "Outcome", "MDM code", "Message", "By"],
                ([r.id, to_local(r.requested_at), r.device_name, r.linkage_name, r.action, r.outcome, r.mdm_code,
                  r.message, f"{r.os_user}@{r.host}"] for r in rows), max_width=60)


def _action_json(row: ActionRecord) -> dict[str, Any]:
    return {"id": row.id, "device_id": row.device_id, "device_name": row.device_name, "linkage": row.linkage_name,
            "mdm_device_id": row.mdm_device_id, "action": row.action, "options": row.options,
            "outcome": row.outcome, "message": row.message, "mdm_code": row.mdm_code,
            "http_status": row.http_status, "request_id": row.request_id, "requested_at": row.requested_at,
            "updated_at": row.updated_at, "os_user": row.os_user, "host": row.host}


# --- audit ------------------------------------------------------------------------------------------


def cmd_audit(args: argparse.Namespace) -> int:
    """Print the audit log, newest first."""
    since = audit.parse_since(args.since) if args.since else None
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    ctx = context_from_args(args)
    events = audit.query(ctx, device=args.device, action=args.action, since=since, category=args.category,
                         outcome=args.outcome, limit=args.limit)
    if args.json:
        print_json([audit.as_dict(e) for e in events])
        return 0
    if not events:
        print("no audit entries match")
        return 0
    print_table(["At", "By", "Category", "Action", "Linkage", "Device", "Outcome", "Message", "Request id"],
                ([to_local(e.at), f"{e.os_user}@{e.host}", e.category, e.action, e.linkage_name,
                  e.device_name or e.device_serial or e.device_id, e.outcome, e.message, e.request_id]
                 for e in events), max_width=60)
    return 0
