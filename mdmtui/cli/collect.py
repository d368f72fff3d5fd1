"""``mdmtui collect``, ``mdmtui devices list|show|export|delete`` and ``mdmtui licenses``.

Exit status: 0 ok; 1 a collection failed (or was skipped or cancelled), a device was not found or a
confirmation was refused; 2 bad usage; 128 + the signal's number when SIGINT, SIGTERM or SIGHUP
cancelled a collection (130, 143, 129).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from datetime import datetime
from typing import Any, TextIO

from mdmtui import filterlang
from mdmtui.cli.common import (SHOWN_CANDIDATES, add_json_flag, confirm_typed, context_from_args, print_ambiguous,
                               print_json, print_table, to_local)
from mdmtui.errors import AmbiguousError, UsageError
from mdmtui.formatting import clip, printable, shown
from mdmtui.storage.models import Device
from mdmtui.records import CollectionSummary, Progress
from mdmtui.services import collection, export, inventory, lookup
from mdmtui.services.context import Context
from mdmtui.services.inventory import DeviceFilter
from mdmtui.signals import exit_status, on_stop_signals
from mdmtui.textwidth import fit, width

SUMMARY_CHARS = 2_000  # of a summary line: a run's warnings may name thousands of devices (the run keeps all)
LIST_HEADERS = ("ID", "Name", "OS", "Serial", "IMEI", "Phone", "Status", "Last alive", "Linkage", "MDM")
SORTS = ("name", "os", "serial", "imei", "phone", "status", "last-alive", "linkage", "id")
SORT_COLUMNS = {"name": "computer_name", "os": "os_name", "serial": "serial_number", "imei": "imei",
                "phone": "phone_number", "status": "device_status", "last-alive": "last_alive_at",
                "linkage": "linkage_name", "id": "id"}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``collect``, ``devices`` and ``licenses`` to the command line."""
    _register_collect(subparsers)
    _register_devices(subparsers)
    lic = subparsers.add_parser("licenses", help="licenses used: one per managed smart device, none for Intune")
    add_json_flag(lic)
    lic.set_defaults(handler=cmd_licenses)


def _register_collect(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("collect", help="collect devices from linkages now (immediate collection)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--linkage", action="append", metavar="NAME",
                       help="collect this linkage (repeatable; also disabled ones)")
    which.add_argument("--all", action="store_true", help="collect every enabled linkage (the default)")
    parser.add_argument("--changed-only", action="store_true",
                        help="only devices that contacted the MDM since the last run began (never marks any "
                             "device missing)")
    add_json_flag(parser)
    parser.set_defaults(handler=cmd_collect)


def _register_devices(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("devices", help="list, show, export or delete collected devices")
    commands = parser.add_subparsers(dest="devices_command", metavar="ACTION", required=True)
    listing = commands.add_parser("list", help="devices as a table (filters below)")
    _add_filters(listing)
    listing.add_argument("--limit", type=int, default=500, metavar="N", help="at most N devices (default 500; 0 = all)")
    listing.add_argument("--offset", type=int, default=0, metavar="N", help="skip the first N devices")
    add_json_flag(listing)
    listing.set_defaults(handler=cmd_list)
    show = commands.add_parser("show", help="everything about one device (id, name, serial or IMEI)")
    show.add_argument("device", metavar="DEVICE", help="device id, name, serial number or IMEI")
    show.add_argument("--software", type=int, default=20, metavar="N", help="software items shown (default 20)")
    add_json_flag(show)
    show.set_defaults(handler=cmd_show)
    export = commands.add_parser("export", help="every item of the matching devices as CSV or JSON")
    _add_filters(export)
    export.add_argument("--format", choices=("csv", "json"), default="csv", help="csv (default) or json")
    export.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of standard output")
    export.add_argument("--bom", action="store_true", help="start the CSV with a UTF-8 BOM (for Excel)")
    export.set_defaults(handler=cmd_export)
    delete = commands.add_parser("delete", help="delete device information (explicit, audited)")
    delete.add_argument("devices", nargs="*", metavar="DEVICE", help="device ids, names, serials or IMEIs")
    _add_filters(delete)
    delete.add_argument("--yes", action="store_true", help="do not ask for the typed confirmation")
    delete.set_defaults(handler=cmd_delete)


def _add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--linkage", metavar="NAME", help="devices of this linkage")
    parser.add_argument("--os-class", metavar="CLASS", help="Si, SA, M, IS or IP")
    parser.add_argument("--status", metavar="STATUS", help="Device Status: Unknown or Warning")
    missing = parser.add_mutually_exclusive_group()
    missing.add_argument("--missing", action="store_true", default=None, help="only devices missing from their MDM")
    missing.add_argument("--present", action="store_true", help="only devices their MDM still lists")
    parser.add_argument("--security", metavar="PROBLEM",
                        help="unmanaged (profile removed, retired...), passcode, jailbroken, unencrypted, stale or any")
    parser.add_argument("--search", metavar="TEXT", help="part of a name, serial, IMEI, UDID, phone number or user")
    parser.add_argument("--filter", metavar="EXPR", dest="filter_expr",
                        help="the console's filter language, e.g. 'os:iOS stale:>30d !carrier:docomo' (README)")
    parser.add_argument("--sort", choices=SORTS, default="name", help="order (default name)")
    parser.add_argument("--desc", action="store_true", help="descending order")


def filter_from_args(ctx: Context, args: argparse.Namespace) -> DeviceFilter:
    """The DeviceFilter the options describe."""
    security = getattr(args, "security", None)
    if security is not None and security.lower() == "any":
        security = True
    missing = True if args.missing else (False if args.present else None)
    return DeviceFilter(text=args.search, terms=filterlang.parse(args.filter_expr), linkage=args.linkage,
                        os_class=args.os_class, device_status=args.status, missing=missing, security_problem=security, sort=SORT_COLUMNS[args.sort],
                        descending=args.desc, stale_days=ctx.settings.stale_days)


# ------------------------------------------------------------------------------------------- collect


def cmd_collect(args: argparse.Namespace) -> int:
    """Collect now; a progress line on a terminal, then one summary line per linkage."""
    ctx = context_from_args(args)
    display = _ProgressLine(sys.stderr) if sys.stderr.isatty() and not args.json else None
    stopped: list[signal.Signals] = []
    try:
        summaries = asyncio.run(_collect(ctx, args.linkage, display, stopped, args.changed_only))
    except KeyboardInterrupt:
        print("\nmdmtui: interrupted; the inventory was left as it was", file=sys.stderr)
        return 130
    finally:
        if display is not None:
            display.close()
    try:
        _print_summaries(summaries, args.json)
    except OSError:  # SIGHUP: the terminal is gone; the runs are recorded all the same
        if not stopped:
            raise
    if all(s.status == "succeeded" for s in summaries):
        return 0
    return exit_status(stopped[0]) if stopped else 1


def _print_summaries(summaries: list[CollectionSummary], as_json: bool) -> None:
    if as_json:
        print_json([_summary_json(s) for s in summaries])
    elif not summaries:
        print("no enabled linkage to collect (mdmtui linkage add, or --linkage NAME)")
    else:
        for s in summaries:
            print(f"{printable(s.linkage)}: {printable(clip(collection.describe(s), SUMMARY_CHARS))}")


async def _collect(ctx: Context, names: list[str] | None, display: _ProgressLine | None,
                   stopped: list[signal.Signals], changed_only: bool = False) -> list[CollectionSummary]:
    cancel = asyncio.Event()

    def on_signal(sig: signal.Signals) -> None:
        if not stopped:
            what = "interrupted" if sig == signal.SIGINT else f"{sig.name} received"
            _notice(f"\nmdmtui: {what}: cancelling; nothing of this run is written")
        stopped.append(sig)
        cancel.set()

    with on_stop_signals(on_signal):
        return await collection.collect_many(ctx, names, trigger="immediate", changed_only=changed_only,
                                             progress=display.update if display else None, cancel=cancel)


def _notice(text: str) -> None:
    try:
        print(text, file=sys.stderr, flush=True)
    except OSError:  # the terminal hung up
        pass


class _ProgressLine:
    """One line rewritten in place: pages, devices and rate per linkage."""

    def __init__(self, out: TextIO) -> None:
        self.out, self.shown = out, 0
        self.ticks: dict[str, Progress] = {}

    def update(self, p: Progress) -> None:
        self.ticks[p.linkage] = p
        parts = [f"{printable(t.linkage)}: {t.pages} pages, {t.devices:,} devices, {t.rate or 0:,.0f}/s"
                 for t in self.ticks.values()]
        line = fit(" | ".join(parts), max(20, _columns() - 1)).rstrip()
        self._write("\r" + line + " " * max(0, self.shown - width(line)))
        self.shown = width(line)

    def close(self) -> None:
        if self.shown:
            self._write("\n")

    def _write(self, text: str) -> None:
        try:
            self.out.write(text)
            self.out.flush()
        except OSError:  # the terminal hung up (SIGHUP): the line is cosmetic, the run goes on to its end
            pass


def _columns() -> int:
    import shutil

    return shutil.get_terminal_size((100, 20)).columns


def _summary_json(s: CollectionSummary) -> dict[str, Any]:
    return {"linkage": s.linkage, "run_id": s.run_id, "kind": s.kind, "status": s.status, "reason": s.reason,
            "new": s.new,
            "changed": s.changed, "unchanged": s.unchanged, "missing": s.missing, "returned": s.returned,
            "software_items": s.software_items, "pages": s.pages, "devices_seen": s.devices_seen,
            "started_at": s.started_at, "finished_at": s.finished_at, "duration_s": s.duration_s}


# ------------------------------------------------------------------------------------------- devices


def cmd_list(args: argparse.Namespace) -> int:
    """The matching devices as a table (or JSON)."""
    ctx = context_from_args(args)
    f = filter_from_args(ctx, args)
    if args.limit < 0 or args.offset < 0:
        raise UsageError("--limit and --offset must be 0 or more")
    total = inventory.count(f)
    rows = inventory.page(f, args.offset, args.limit or total)
    if args.json:
        print_json({"total": total, "devices": [_row_json(r, ctx) for r in rows]})
        return 0
    if not rows:
        empty = not total and not args.offset and not inventory.count(DeviceFilter())
        print("no devices yet (mdmtui collect)" if empty else "no device matches")
        return 0
    print_table(LIST_HEADERS, [_row_cells(r) for r in rows])
    if len(rows) < total:
        print(f"({len(rows):,} of {total:,} devices shown; --limit 0 shows all)")
    return 0


def _row_cells(r: Device) -> list[Any]:
    os_text = " ".join(x for x in (r.os_name, r.os_version) if x)
    mdm = f"missing since {to_local(r.missing_since)}" if r.missing_since else ""
    return [r.id, r.computer_name, os_text, r.serial_number, r.imei, r.phone_number, r.device_status,
            to_local(r.last_alive_at), r.linkage_name, mdm]


def _row_json(r: Device, ctx: Context) -> dict[str, Any]:
    data = {c: getattr(r, c) for c in inventory.LIST_COLUMNS}
    data["security"] = inventory.security_flags(r, ctx.settings.stale_days)
    return {k: _local(v) for k, v in data.items()}


def cmd_show(args: argparse.Namespace) -> int:
    """Everything about one device, grouped as the spec groups it."""
    ctx = context_from_args(args)
    device = _one_device(ctx, args.device)
    if device is None:
        return 1
    detail = inventory.device_detail(device.id)
    total, items = inventory.software_of(device.id, None, 0, max(args.software, 0))
    history = inventory.history_of(device.id, limit=50)
    if args.json:
        data = detail.as_dict()
        data["groups"] = {g: {k: _local(v) for k, v in items_.items()} for g, items_ in data["groups"].items()}
        data["security"] = inventory.security_flags(device, ctx.settings.stale_days)
        data["software"] = {"total": total, "items": [{"name": s.name, "version": s.version, "vendor": s.vendor}
                                                      for s in items]}
        data["history"] = [{"at": h.at, "field": h.field, "old": h.old_value, "new": h.new_value} for h in history]
        print_json(data)
        return 0
    _print_detail(detail, inventory.security_flags(device, ctx.settings.stale_days))
    _print_software(total, items)
    _print_history(history)
    return 0


def _one_device(ctx: Context, term: str) -> Device | None:
    try:
        return lookup.resolve(ctx, term)
    except AmbiguousError as exc:
        print_ambiguous(exc)
        return None


def _print_detail(detail: inventory.DeviceDetail, flags: list[str]) -> None:
    print(f"{printable(clip(detail.title))}  (id {detail.device.id})")
    if flags:
        print(f"security: {printable(', '.join(flags))}")
    labels = [label for items in detail.groups.values() for label, _ in items]
    column = min(max(width(label) for label in labels), 44)
    for group, items in detail.groups.items():
        print(f"\n{group}")
        for label, value in items:
            print(f"  {fit(label, column)}  {printable(clip(_shown(value, group)))}")


def _print_software(total: int, items: list) -> None:
    print(f"\nSoftware ({total:,} items)")
    if items:
        print_table(("Name", "Version", "Vendor"), [(s.name, s.version, s.vendor) for s in items])
    if total > len(items):
        print(f"  ... {total - len(items):,} more (--software N)")


def _print_history(history: list) -> None:
    if not history:
        return
    print("\nHistory")
    print_table(("When", "Item", "Old", "New"),
                [(to_local(h.at), h.field, h.old_value or "not collected", h.new_value or "not collected")
                 for h in history])


def _shown(value: Any, group: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"  # exact figures (bytes) on the command line
    return shown(value, group)


def _local(value: Any) -> Any:
    """Datetimes in the server's local time zone (ISO 8601 with the offset) for JSON and CSV."""
    if isinstance(value, datetime):
        return value.astimezone().isoformat(timespec="seconds")
    return value


def cmd_export(args: argparse.Namespace) -> int:
    """Stream every item of the matching devices (with asset information) as CSV or JSON."""
    ctx = context_from_args(args)
    f = filter_from_args(ctx, args)
    if args.bom and args.format != "csv":
        raise UsageError("--bom applies to --format csv only")
    out, close = _open_output(args.output, args.bom)
    try:
        count = export.write_devices(out, f, args.format)
    finally:
        if close:
            out.close()
    if args.output:
        print(f"{count:,} devices written to {args.output}", file=sys.stderr)
    return 0


def _open_output(path: str | None, bom: bool) -> tuple[TextIO, bool]:
    encoding = "utf-8-sig" if bom else "utf-8"
    if path is None:
        if bom:
            sys.stdout.write("\ufeff")
        return sys.stdout, False
    try:
        return open(path, "w", encoding=encoding, newline=""), True
    except OSError as exc:
        raise UsageError(f"--output {path}: {exc.strerror}") from None


def cmd_delete(args: argparse.Namespace) -> int:
    """Delete device information, after the typed count (or --yes)."""
    ctx = context_from_args(args)
    devices = _deletion_targets(ctx, args)
    if devices is None:
        return 1
    if not devices:
        print("no device matches; nothing deleted")
        return 0
    for device in devices[:SHOWN_CANDIDATES]:
        print(f"  {printable(lookup.describe(device))}", file=sys.stderr)
    if len(devices) > SHOWN_CANDIDATES:
        print(f"  ... and {len(devices) - SHOWN_CANDIDATES} more", file=sys.stderr)
    if not args.yes and not confirm_typed(
            f"Type the number of devices ({len(devices)}) to delete their information:", str(len(devices))):
        print("mdmtui: not confirmed; nothing deleted (type the count on a terminal, or give --yes)",
              file=sys.stderr)
        return 1
    deleted = inventory.delete_devices(ctx, [d.id for d in devices])
    noun = "device's" if deleted == 1 else "devices'"
    print(f"{deleted:,} {noun} information deleted (recorded in the audit log)")
    return 0


def _deletion_targets(ctx: Context, args: argparse.Namespace) -> list[Device] | None:
    has_filter = any(getattr(args, k) for k in ("linkage", "os_class", "status", "missing", "present", "security",
                                                "search", "filter_expr"))
    if args.devices and has_filter:
        raise UsageError("name devices or give filters, not both")
    if not args.devices and not has_filter:
        raise UsageError("name the devices to delete, or select them with filters (e.g. --missing --linkage NAME)")
    if args.devices:
        try:
            return lookup.resolve_many(ctx, args.devices)
        except AmbiguousError as exc:
            print_ambiguous(exc)
            return None
    wanted = inventory.ids(filter_from_args(ctx, args))
    found: list[Device] = []
    for start in range(0, len(wanted), 500):
        found += list(Device.select().where(Device.id.in_(wanted[start:start + 500])).order_by(Device.id))
    return found


# ------------------------------------------------------------------------------------------ licenses


def cmd_licenses(args: argparse.Namespace) -> int:
    """License use per linkage and in total."""
    ctx = context_from_args(args)
    usage = inventory.licenses(ctx)
    if args.json:
        print_json(usage.as_dict())
        return 0
    rows = [(r.linkage, r.system, f"{r.managed:,}", f"{r.licenses:,}", f"{r.missing:,}") for r in usage.rows]
    rows.append(("Total", "", f"{usage.managed:,}", f"{usage.licenses:,}", f"{sum(r.missing for r in usage.rows):,}"))
    print_table(("Linkage", "System", "Managed devices", "Licenses used", "of which missing"), rows)
    print("One license per managed smart device; devices managed through Intune use none. A device missing "
          "from its MDM keeps its license until its information is deleted.")
    return 0
