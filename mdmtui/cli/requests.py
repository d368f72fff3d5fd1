"""``mdmtui requests list|show|create|approve|reject``: the two-person rule on the command line.

Exit status: 0 done, 1 refused (own request, expired, device changed, role) or the send failed,
2 bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING, Any, cast

from mdmtui.cli import control as cli_control
from mdmtui.cli.common import add_json_flag, confirm_typed, context_from_args, print_json, print_table, to_local
from mdmtui.records import Action
from mdmtui.services import approvals, audit, control, lookup
from mdmtui.services.approvals import ApprovalRecord
from mdmtui.services.context import Context

if TYPE_CHECKING:
    from mdmtui.storage.models import Device

_ACTIONS = {"wipe": Action.WIPE, "lock": Action.LOCK, "reset-passcode": Action.RESET_PASSCODE}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``requests`` and its subcommands."""
    parser = subparsers.add_parser("requests", help="two-person rule: ask for, approve or reject a wipe")
    sub = parser.add_subparsers(dest="requests_command", metavar="SUBCOMMAND", parser_class=type(parser))
    listing = sub.add_parser("list", help="requests waiting for a decision (--all: every request)")
    listing.add_argument("--all", action="store_true", help="also approved, rejected, expired and void requests")
    add_json_flag(listing)
    listing.set_defaults(handler=cmd_list)
    show = sub.add_parser("show", help="one request and its chain: asked, decided, the MDM's answers")
    show.add_argument("id", type=int, metavar="ID")
    add_json_flag(show)
    show.set_defaults(handler=cmd_show)
    _register_create(sub)
    approve = sub.add_parser("approve", help="approve another admin's request and send it (once)")
    approve.add_argument("id", type=int, metavar="ID")
    approve.add_argument("--confirm", metavar="NAME", help="the device's name, to confirm without a terminal")
    approve.add_argument("--no-follow", action="store_true", help="do not wait for the MDM to finish")
    add_json_flag(approve)
    approve.set_defaults(handler=cmd_approve, dry_run=False)
    reject = sub.add_parser("reject", help="reject a request (or withdraw your own); nothing is sent")
    reject.add_argument("id", type=int, metavar="ID")
    reject.add_argument("--reason", metavar="TEXT", help="why (kept in the audit log)")
    reject.set_defaults(handler=cmd_reject)


def _register_create(sub: argparse._SubParsersAction) -> None:
    create = sub.add_parser("create", help="ask another admin to approve an action on devices")
    create.add_argument("action", choices=sorted(_ACTIONS), help="the action")
    create.add_argument("devices", nargs="+", metavar="DEVICE", help="name, serial, IMEI, MDM id or id")
    create.add_argument("--justification", required=True, metavar="TEXT",
                        help=f"why (required, at most {approvals.MAX_JUSTIFICATION} characters)")
    cli_control._add_wipe_options(create)  # --confirm/--yes-count and the wipe options, as for mdmtui wipe
    add_json_flag(create)
    create.set_defaults(handler=cmd_create, dry_run=False)


# --- handlers ---------------------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    """List requests, newest first."""
    ctx = context_from_args(args)
    rows = approvals.list_requests(ctx, pending_only=not args.all)
    if args.json:
        print_json([_request_json(r) for r in rows])
        return 0
    if not rows:
        print("no requests waiting" if not args.all else "no requests")
        return 0
    print_table(["#", "State", "Action", "Device", "Linkage", "Asked by", "Asked", "Expires", "Decided by",
                 "Sent", "Justification"],
                ([r.id, r.state, r.action, r.device_name, r.linkage_name, f"{r.requested_by}@{r.requested_host}",
                  to_local(r.requested_at), to_local(r.expires_at), r.decided_by, approvals.send_outcome(r),
                  r.justification] for r in rows), max_width=50)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """One request, what changed on its device, and its audit chain."""
    ctx = context_from_args(args)
    row = approvals.get(ctx, args.id)
    entries = approvals.chain(ctx, row.id)
    if args.json:
        print_json({**_request_json(row), "device_changes": approvals.device_changes(row),
                    "chain": [audit.as_dict(e) for e in entries]})
        return 0
    _print_request(row)
    print_table(["At", "By", "Action", "Outcome", "Message"],
                ([to_local(e.at), f"{e.os_user}@{e.host}", e.action, e.outcome, e.message] for e in entries),
                max_width=70)
    return 0


def cmd_create(args: argparse.Namespace) -> int:
    """Create one pending request per device (the devices confirmed as for a wipe)."""
    action = _ACTIONS[args.action]
    options = cli_control._wipe_options(args) if action is Action.WIPE else None
    approvals.check_justification(args.justification)  # bad input: nothing asked, nothing recorded
    ctx = context_from_args(args)
    devices = cli_control._resolve(ctx, args.devices)
    if devices is None:
        return 2
    if action is Action.WIPE:
        refused = cli_control._confirm_wipe(ctx, args, devices, options)
        if refused is not None:
            return refused
    rows = approvals.create(ctx, [d.id for d in devices], action, args.justification, options)
    if args.json:
        print_json([_request_json(r) for r in rows])
        return 0
    for row in rows:
        print(f"request #{row.id}: {approvals.describe(row)}, waiting for another admin until "
              f"{to_local(row.expires_at)} (mdmtui requests approve {row.id})")
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    """Show the request, re-check the device, have the approver confirm, then send once."""
    ctx = context_from_args(args)
    row = approvals.get(ctx, args.id)
    if not args.json:
        _print_request(row)
    problem = _confirm_approval(ctx, row, args)
    if problem:
        print(f"mdmtui: not approved: {problem}; nothing was sent", file=sys.stderr)
        return 2 if "give --confirm" in problem else 1
    done = asyncio.run(approvals.approve(ctx, row.id, follow=not args.no_follow))
    cli_control._report(args, Action(done.request.action), done.outcomes)
    return 0 if control.all_fine(done.outcomes) else 1


def cmd_reject(args: argparse.Namespace) -> int:
    """Reject (or withdraw) a pending request."""
    ctx = context_from_args(args)
    row = approvals.reject(ctx, args.id, args.reason)
    print(f"request #{row.id} {row.state}: {approvals.describe(row)}; nothing was sent")
    return 0


# --- helpers ----------------------------------------------------------------------------------------


def _confirm_approval(ctx: Context, row: ApprovalRecord, args: argparse.Namespace) -> str | None:
    """None when the approver confirmed by typing the device's name (a wipe's tier)."""
    device = approvals.request_device(row)
    if device is None or row.state != "pending" or approvals.device_changes(row):
        return None  # the service refuses it, saying why (and voids a request whose device changed)
    # confirm_label reads the name, serial and MDM id, which an ActionDevice has too (it is typed for a Device)
    expected = lookup.confirm_label(cast("Device", device))
    if args.confirm is not None:
        return None if args.confirm == expected else f"'{args.confirm}' does not match the device name '{expected}'"
    if not sys.stdin.isatty():
        return f"no confirmation: give --confirm '{expected}'"
    if confirm_typed(f"Type the device name ({expected}) to approve and send:", expected):
        return None
    return "the typed confirmation does not match the device name"


def _print_request(row: ApprovalRecord) -> None:
    out = sys.stdout
    out.write(f"request #{row.id} ({row.state}): {approvals.describe(row)}\n")
    out.write(f"  asked by {row.requested_by}@{row.requested_host} at {to_local(row.requested_at)}, "
              f"expires {to_local(row.expires_at)}\n")
    out.write(f"  justification: {row.justification}\n")
    out.write(f"  device then: MDM id {row.mdm_device_id}, serial {row.serial_number or '(none)'}, "
              f"IMEI {row.imei or '(none)'}\n")
    changes = approvals.device_changes(row)
    out.write("  the device is unchanged since the request\n" if not changes
              else "  CHANGED since the request: " + "; ".join(changes) + "\n")
    if row.decided_by:
        out.write(f"  decided by {row.decided_by} at {to_local(row.decided_at)}"
                  + (f": {row.decision_note}" if row.decision_note else "") + "\n")


def _request_json(row: ApprovalRecord) -> dict[str, Any]:
    return {"id": row.id, "state": row.state, "action": row.action, "device_id": row.device_id,
            "device_name": row.device_name, "linkage": row.linkage_name, "mdm_device_id": row.mdm_device_id,
            "serial_number": row.serial_number, "imei": row.imei, "justification": row.justification,
            "requested_by": row.requested_by, "requested_host": row.requested_host,
            "requested_at": row.requested_at, "expires_at": row.expires_at, "decided_by": row.decided_by,
            "decided_at": row.decided_at, "decision_note": row.decision_note, "action_id": row.action_id,
            "sent": approvals.send_outcome(row)}
