"""``mdmtui linkage add|list|show|edit|remove|test``: the linkage settings on the command line.

Secrets are never taken from a plain argument (it would land in the shell history and in ``ps``):
they come from a prompt without echo on a terminal, from stdin (``--password-stdin``) or from an
environment variable named on the command line (``--password-env VAR``).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from typing import Any

from mdmtui.cli.common import add_json_flag, confirm_typed, context_from_args, print_json, print_table, to_local
from mdmtui.connectors.spec import spec_for, specs, system_options
from mdmtui.errors import UsageError
from mdmtui.formatting import printable
from mdmtui.services import linkages

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# (option stem, LinkageInput field, label in prompts): each system's secrets (from its spec), then the proxy's
SECRETS = tuple((o.cli_flag, o.name, o.prompt or o.label) for o, _systems in system_options() if o.secret) + (
    ("proxy-password", "proxy_password", "proxy password"),)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``linkage`` command group."""
    group = subparsers.add_parser("linkage", help="add, list, show, edit, remove or test MDM linkages",
                                  description="Manage the linkages to MDM servers (SDM, MobileIron, Intune).")
    commands = group.add_subparsers(dest="linkage_command", metavar="SUBCOMMAND", required=True)
    _add_parser(commands)
    _list_parser(commands)
    _show_parser(commands)
    _edit_parser(commands)
    _remove_parser(commands)
    _test_parser(commands)
    rotate = commands.add_parser(
        "rotate-key", help="replace the secret key and re-encrypt the stored secrets",
        description="Generate a new secret key, re-encrypt every stored MDM secret with it and drop the old "
                    "key. Back up the new key file afterwards.")
    rotate.set_defaults(handler=run_rotate_key)


# ------------------------------------------------------------------------------------------ parsers


def _add_parser(commands) -> None:
    parser = commands.add_parser(
        "add", help="add a linkage", description="Add a linkage. Secrets are prompted for without echo, "
        "or read with --password-stdin / --password-env VAR (likewise --client-secret-*, --proxy-password-*).",
        epilog="examples:\n"
               "  mdmtui linkage add 'SDM 01' --system sdm --server https://sdm01.example.jp --user admin@sdm01\n"
               "  printf '%s' \"$SECRET\" | mdmtui linkage add Intune --system intune --tenant-id contoso.onmicrosoft.com \\\n"
               "      --client-id 6731de76-14a6-49ae-97bc-6eba6914391e --client-secret-stdin",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="the MDM settings name (unique)")
    parser.add_argument("--system", required=True, choices=linkages.SYSTEMS, help="the MDM system")
    _setting_options(parser)
    parser.set_defaults(handler=run_add)


def _edit_parser(commands) -> None:
    parser = commands.add_parser(
        "edit", help="change settings of a linkage",
        description="Change some settings of a linkage; the others, and stored secrets, are kept. "
                    "Give an empty value ('') to clear an optional setting.")
    parser.add_argument("name", help="the linkage's MDM settings name")
    parser.add_argument("--rename", metavar="NEW_NAME", help="give the linkage a new MDM settings name")
    _setting_options(parser)
    parser.add_argument("--no-schedule", action="store_true", help="remove the collection schedule")
    parser.set_defaults(handler=run_edit)


def _setting_options(parser: argparse.ArgumentParser) -> None:
    """The options shared by add and edit; every default None means 'not given'."""
    conn = parser.add_argument_group("connection")
    conn.add_argument("--server", dest="server_url", metavar="URL", help=_server_help())
    conn.add_argument("--verify-tls", dest="verify_tls", action="store_const", const=True,
                      help="verify the server's TLS certificate (the default)")
    conn.add_argument("--no-verify-tls", dest="verify_tls", action="store_const", const=False,
                      help="do not verify the TLS certificate (labs only; prefer --ca-bundle)")
    conn.add_argument("--ca-bundle", metavar="PEM", help="CA certificates (PEM file) for a private CA")
    conn.add_argument("--proxy", dest="proxy_url", metavar="URL", help="proxy URL, e.g. http://proxy:3128")
    conn.add_argument("--proxy-user", metavar="USER", help="proxy user (the password is asked for)")
    conn.add_argument("--timeout", dest="timeout_s", type=float, metavar="SECONDS",
                      help="HTTP timeout (default 60; raise it for large fleets behind a proxy)")
    conn.add_argument("--page-size", type=int, metavar="N", help="devices per page ("
                      + ", ".join(f"{s.short} <= {s.page_limit}" for s in linkages.shown_systems()) + ")")
    conn.add_argument("--enabled", dest="enabled", action="store_const", const=True, help="collect it (default)")
    conn.add_argument("--disabled", dest="enabled", action="store_const", const=False,
                      help="keep the settings but do not collect")
    conn.add_argument("--auto-manage", dest="auto_manage", action="store_const", const=True,
                      help="make discovered devices management targets automatically (default)")
    conn.add_argument("--no-auto-manage", dest="auto_manage", action="store_const", const=False,
                      help="discovered devices are not management targets until the admin says so")
    mdm = parser.add_argument_group("MDM credentials")
    for option, systems in system_options():  # each system's own settings, from its spec
        if not option.secret:
            mdm.add_argument(f"--{option.cli_flag}", dest=option.name, metavar=option.metavar,
                             type=option.type, choices=option.choices,
                             help=f"{' / '.join(s.short for s in systems)}: {option.help}")
    for stem, _field, label in SECRETS:
        mdm.add_argument(f"--{stem}-stdin", action="store_true", help=f"read the {label} from stdin")
        mdm.add_argument(f"--{stem}-env", metavar="VAR", help=f"read the {label} from environment variable VAR")
        mdm.add_argument(f"--ask-{stem}", action="store_true", help=f"prompt for the {label} (no echo)")
    sched = parser.add_argument_group("schedule")
    sched.add_argument("--start-at", dest="schedule_start_at", metavar="DATETIME",
                       help="first scheduled collection, local time, e.g. 2026-12-01T09:00")
    sched.add_argument("--interval", dest="schedule_interval", choices=("daily", "weekly", "monthly"),
                       help="repeat interval")
    sched.add_argument("--every", dest="schedule_every", type=int, metavar="N",
                       help="repeat every N intervals (default 1)")
    sched.add_argument("--weekdays", dest="schedule_weekdays", type=_weekdays, metavar="DAYS",
                       help="weekly: days such as mon,thu")
    sched.add_argument("--month-day", dest="schedule_month_day", type=int, metavar="DAY",
                       help="monthly: day of the month 1-31")
    sched.add_argument("--tz", dest="schedule_tz", metavar="ZONE", help="IANA zone, e.g. Asia/Tokyo")


def _server_help() -> str:
    """--server's help: the URL's form and each system's defaults (from the specs)."""
    ports = ", ".join(f"{s.short} port default {s.default_port}" for s in specs() if s.default_port)
    clouds = "; ".join(f"{s.short}: the {s.server_what} (default {s.default_server_url})"
                       for s in specs() if s.default_server_url)
    return f"https://host[:port] ({ports}); {clouds}"


def _weekdays(text: str) -> list[int]:
    """``mon,thu`` or ``0,3`` as weekday numbers (0 = Monday)."""
    days = []
    for part in filter(None, (p.strip().lower() for p in text.split(","))):
        if part[:3] in WEEKDAYS:
            days.append(WEEKDAYS.index(part[:3]))
        elif part.isdigit():
            days.append(int(part))
        else:
            raise argparse.ArgumentTypeError(f"'{part}' is not a weekday (mon..sun or 0..6)")
    return days


def _list_parser(commands) -> None:
    parser = commands.add_parser("list", help="list the linkages", description="List the linkages.")
    add_json_flag(parser)
    parser.set_defaults(handler=run_list)


def _show_parser(commands) -> None:
    parser = commands.add_parser("show", help="show one linkage (secrets masked)",
                                 description="Show every setting of one linkage; secrets are masked.")
    parser.add_argument("name", help="the linkage's MDM settings name")
    add_json_flag(parser)
    parser.set_defaults(handler=run_show)


def _remove_parser(commands) -> None:
    parser = commands.add_parser(
        "remove", help="remove a linkage (say what becomes of its devices)",
        description="Remove a linkage. --devices keep leaves its devices in the inventory, marked orphaned; "
                    "--devices delete deletes them with their software and history.")
    parser.add_argument("name", help="the linkage's MDM settings name")
    parser.add_argument("--devices", required=True, choices=("keep", "delete"),
                        help="keep the devices (marked orphaned) or delete them")
    parser.add_argument("--yes", action="store_true", help="do not ask to confirm deleting devices")
    parser.add_argument("--properties-entry", choices=("remove", "keep"),
                        help="SDM: remove or keep the sdm_import.properties entry naming the linkage "
                             "(asked on a terminal; kept otherwise)")
    parser.set_defaults(handler=run_remove)


def _test_parser(commands) -> None:
    parser = commands.add_parser("test", help="connect to the MDM and check the credentials",
                                 description="Connect to the linkage's MDM and check the credentials.")
    parser.add_argument("name", help="the linkage's MDM settings name")
    parser.set_defaults(handler=run_test)


# ----------------------------------------------------------------------------------------- handlers


def run_add(args: argparse.Namespace) -> int:
    """Add a linkage."""
    data = _settings(args)
    data.update(name=args.name, system=args.system)
    data.update(_secrets(args, ask_for=spec_for(args.system).required_secret))
    if args.proxy_user and "proxy_password" not in data and sys.stdin.isatty():
        data["proxy_password"] = _prompt("proxy password")
    _require_secret(args.system, data)
    ctx = context_from_args(args)
    linkage = linkages.create(ctx, data)
    print(printable(f"linkage '{linkage.name}' added ({linkage.system}, {linkage.server_url})"))
    return 0


def run_edit(args: argparse.Namespace) -> int:
    """Change some settings of a linkage."""
    changes = _settings(args)
    if args.rename is not None:
        changes["name"] = args.rename
    if args.no_schedule:
        changes.update({k: None for k in ("schedule_start_at", "schedule_interval", "schedule_every",
                                          "schedule_weekdays", "schedule_month_day", "schedule_tz")})
    changes.update(_secrets(args, ask_for=None))
    if not changes:
        raise UsageError("nothing to change: give at least one setting (see mdmtui linkage edit --help)")
    ctx = context_from_args(args)
    linkage = linkages.update(ctx, args.name, **changes)
    print(f"linkage '{printable(linkage.name)}' updated: {', '.join(sorted(changes))}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    """List the linkages."""
    ctx = context_from_args(args)
    counts = linkages.device_counts(ctx)
    rows = []
    for linkage in linkages.list_linkages(ctx):
        shown = linkages.describe(linkage)
        shown["devices"] = counts.get(linkage.id, 0)
        rows.append(shown)
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print("no linkages yet: add one with `mdmtui linkage add NAME --system ...`")
        return 0
    print_table(["NAME", "SYSTEM", "SERVER", "ENABLED", "SCHEDULE", "DEVICES"],
                [[r["name"], r["system"], _server(r), "yes" if r["enabled"] else "no",
                  _schedule_text(r["schedule"]), r["devices"]] for r in rows], max_width=50)
    return 0


def run_show(args: argparse.Namespace) -> int:
    """Show one linkage, secrets masked."""
    ctx = context_from_args(args)
    linkage = linkages.get(ctx, args.name)
    shown = linkages.describe(linkage)
    shown["devices"] = linkages.device_counts(ctx).get(linkage.id, 0)
    if args.json:
        print_json(shown)
        return 0
    shown["schedule"] = _schedule_text(shown["schedule"])
    for key in ("created_at", "updated_at", "last_scheduled_run_at"):
        shown[key] = to_local(shown[key])
    print_table(["SETTING", "VALUE"], [[k, _plain(v)] for k, v in shown.items()], max_width=80)
    return 0


def run_remove(args: argparse.Namespace) -> int:
    """Remove a linkage; its devices kept (orphaned) or deleted."""
    ctx = context_from_args(args)
    linkage = linkages.get(ctx, args.name)
    count = linkages.device_counts(ctx).get(linkage.id, 0)
    if args.devices == "delete" and count and not args.yes:
        if not sys.stdin.isatty():
            raise UsageError(f"deleting {count} device(s) needs confirmation: add --yes")
        if not confirm_typed(f"Delete {count} device(s) of '{printable(linkage.name)}'? Type the linkage name:",
                             linkage.name):
            print("not removed: the name typed did not match")
            return 1
    entry = linkages.properties_entry(ctx, linkage.name) if spec_for(linkage.system).properties_file else None
    drop = entry is not None and _drop_properties_entry(args, ctx, entry)
    removed = linkages.remove(ctx, args.name, devices=args.devices, properties_entry=drop)
    verb = "kept, marked orphaned" if args.devices == "keep" else "deleted"
    print(f"linkage '{printable(args.name)}' removed; {removed} device(s) {verb}")
    if entry is not None:
        path = printable(ctx.settings.properties_path)
        print(f"sdm.{entry} removed from {path}" if drop else
              f"sdm.{entry} kept in {path}: it names no linkage now (remove it there, or add the linkage again)")
    return 0


def _drop_properties_entry(args: argparse.Namespace, ctx, entry: int) -> bool:
    """Whether to remove the linkage's sdm_import.properties entry: the option, else asked on a terminal."""
    if args.properties_entry is not None:
        return args.properties_entry == "remove"
    if not sys.stdin.isatty():
        return False
    try:
        answer = input(f"{printable(ctx.settings.properties_path)} names this linkage (sdm.{entry}); "
                       "remove that entry too? [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in {"y", "yes"}


def run_test(args: argparse.Namespace) -> int:
    """Test the connection and credentials of a linkage."""
    ctx = context_from_args(args)
    description = asyncio.run(linkages.test_connection(ctx, args.name))
    print(printable(f"ok: {args.name}: {description}"))
    return 0


def run_rotate_key(args: argparse.Namespace) -> int:
    """Replace the secret key; every stored secret is re-encrypted."""
    ctx = context_from_args(args)
    count = linkages.rotate_secret_key(ctx)
    print(f"secret key replaced in {ctx.secrets.source}; {count} stored secret(s) re-encrypted; "
          "back up the new key file")
    return 0


# ------------------------------------------------------------------------------------------ helpers


SETTING_DESTS = ("server_url", "verify_tls", "ca_bundle", "proxy_url", "proxy_user", "timeout_s", "page_size",
                 "enabled", "auto_manage", *(o.name for o, _systems in system_options() if not o.secret),
                 "schedule_start_at", "schedule_interval", "schedule_every", "schedule_weekdays",
                 "schedule_month_day", "schedule_tz")


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line (absent ones left out)."""
    return {dest: getattr(args, dest) for dest in SETTING_DESTS if getattr(args, dest) is not None}


def _secrets(args: argparse.Namespace, *, ask_for: str | None) -> dict[str, str]:
    """Secrets from stdin, an environment variable or a no-echo prompt, never from argv."""
    if sum(bool(getattr(args, f"{field}_stdin")) for _s, field, _l in SECRETS) > 1:
        raise UsageError("only one secret can be read from stdin; use --...-env VAR for the others")
    found = {}
    for _stem, field, label in SECRETS:
        value = _one_secret(args, field, label, ask=(field == ask_for))
        if value is not None:
            found[field] = value
    return found


def _one_secret(args: argparse.Namespace, field: str, label: str, *, ask: bool) -> str | None:
    env = getattr(args, f"{field}_env")
    if getattr(args, f"{field}_stdin"):
        value = sys.stdin.readline().rstrip("\r\n")
        if not value:
            raise UsageError(f"--{field.replace('_', '-')}-stdin: nothing was read from stdin")
        return value
    if env:
        value = os.environ.get(env)
        if value is None:
            raise UsageError(f"--{field.replace('_', '-')}-env: environment variable {env} is not set")
        return value
    if getattr(args, f"ask_{field}") or (ask and sys.stdin.isatty()):
        if not sys.stdin.isatty():
            raise UsageError(f"cannot prompt for the {label}: stdin is not a terminal "
                             f"(use --{field.replace('_', '-')}-stdin or --{field.replace('_', '-')}-env VAR)")
        return _prompt(label)
    return None


def _prompt(label: str) -> str:
    """Ask on the terminal without echo."""
    try:
        return getpass.getpass(f"{label}: ")
    except EOFError:
        raise UsageError(f"no {label} entered") from None


def _require_secret(system: str, data: dict[str, Any]) -> None:
    field = spec_for(system).required_secret
    if field is None or data.get(field):
        return
    stem = field.replace("_", "-")
    raise UsageError(f"{system} linkages need a {field.replace('_', ' ')}: give it with --{stem}-stdin, "
                     f"--{stem}-env VAR, or run on a terminal to be asked")


def _server(shown: dict[str, Any]) -> str:
    if spec_for(shown["system"]).keyed_by == "tenant":
        return f"tenant {shown['tenant_id']}"
    return shown["server_url"]


def _schedule_text(schedule: dict[str, Any] | None) -> str:
    if not schedule:
        return "none"
    every = schedule["every"] or 1
    unit = {"daily": "day", "weekly": "week", "monthly": "month"}[schedule["interval"]]
    text = f"every {unit}" if every == 1 else f"every {every} {unit}s"
    if schedule["weekdays"]:
        text += " on " + ",".join(WEEKDAYS[d] for d in schedule["weekdays"])
    if schedule["month_day"]:
        text += f" on day {schedule['month_day']}"
    return f"{text} from {schedule['start_at']}" + (f" ({schedule['tz']})" if schedule["tz"] else "")


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
