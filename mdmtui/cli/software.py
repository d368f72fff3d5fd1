"""``mdmtui software list|show``: the fleet's software, counted per title and version.

Exit status: 0 ok; 1 no device has the title (or that version); 2 bad usage.
"""

from __future__ import annotations

import argparse
from typing import Any

from mdmtui.cli.collect import LIST_HEADERS, _row_cells, _row_json
from mdmtui.cli.common import add_json_flag, context_from_args, print_json, print_table
from mdmtui.errors import NotFoundError, UsageError
from mdmtui.formatting import printable
from mdmtui.services import inventory, software
from mdmtui.services.inventory import DeviceFilter

TITLE_HEADERS = ("Title", "Vendor", "Devices", "Versions", "Most common", "Linkages")
VERSION_HEADERS = ("Version", "Devices", "Vendor", "Linkages")
NOT_COLLECTED = "(not collected)"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``software list`` and ``software show`` to the command line."""
    parser = subparsers.add_parser("software", help="software across the fleet: titles, versions, devices")
    commands = parser.add_subparsers(dest="software_command", metavar="ACTION", required=True)
    listing = commands.add_parser("list", help="every title with its vendor, devices, versions and linkages")
    listing.add_argument("--filter", metavar="TEXT", help="part of a title or vendor (any case)")
    listing.add_argument("--sort", choices=tuple(software.TITLE_SORTS), default="name", help="order (default name)")
    listing.add_argument("--desc", action="store_true", help="descending order")
    listing.add_argument("--limit", type=int, default=500, metavar="N", help="at most N titles (default 500; 0 = all)")
    add_json_flag(listing)
    listing.set_defaults(handler=cmd_list)
    show = commands.add_parser("show", help="one title: its versions and the devices that have it")
    show.add_argument("title", metavar="TITLE", help="the title exactly as listed")
    show.add_argument("--version", metavar="V", dest="software_version",
                      help="only the devices with this version ('' = the version not collected)")
    show.add_argument("--without", action="store_true",
                      help="the devices WITHOUT the title (or version) instead, e.g. missing a required app")
    show.add_argument("--limit", type=int, default=500, metavar="N", help="at most N devices (default 500; 0 = all)")
    add_json_flag(show)
    show.set_defaults(handler=cmd_show)


def cmd_list(args: argparse.Namespace) -> int:
    """The titles as a table (or JSON)."""
    context_from_args(args)
    if args.limit < 0:
        raise UsageError("--limit must be 0 or more")
    f = software.TitleFilter(text=args.filter, sort=args.sort, descending=args.desc)
    total = software.count_titles(f)
    rows = software.titles(f, 0, args.limit or total)
    if args.json:
        print_json({"total": total, "titles": [_title_json(t) for t in rows]})
        return 0
    if not rows:
        print("no software collected yet (mdmtui collect)" if not software.count_titles(software.TitleFilter())
              else "no title matches")
        return 0
    print_table(TITLE_HEADERS, [[t.name, t.vendor, f"{t.devices:,}", t.versions, t.top_version or NOT_COLLECTED,
                                 ", ".join(t.linkages)] for t in rows])
    if len(rows) < total:
        print(f"({len(rows):,} of {total:,} titles shown; --limit 0 shows all)")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """One title: its versions, then the devices that have (or lack) it."""
    ctx = context_from_args(args)
    if args.limit < 0:
        raise UsageError("--limit must be 0 or more")
    title = software.title(args.title)
    versions = software.versions(title.name)
    wanted = args.software_version
    if wanted is not None and not any((v.version or "") == wanted for v in versions):
        raise NotFoundError(f"no device has '{title.name}' in version '{wanted}' (its versions: "
                            f"{', '.join(v.version or NOT_COLLECTED for v in versions)})")
    f = DeviceFilter(software_title=title.name, software_version=wanted, without_software=args.without,
                     stale_days=ctx.settings.stale_days)
    total = inventory.count(f)
    devices = inventory.page(f, 0, args.limit or total)
    if args.json:
        print_json({**_title_json(title), "versions": [_version_json(v) for v in versions],
                    "devices_total": total, "without": args.without, "devices": [_row_json(d, ctx) for d in devices]})
        return 0
    print(printable(f"{title.name} — {title.vendor or 'vendor not collected'}; {title.devices:,} devices, "
                    f"{title.versions:,} versions; linkages: {', '.join(title.linkages) or 'none'}"))
    print()
    print_table(VERSION_HEADERS, [[v.version or NOT_COLLECTED, f"{v.devices:,}", v.vendor, ", ".join(v.linkages)]
                                  for v in versions])
    print()
    which = "without it" if args.without else "with it"
    if wanted is not None:
        which = f"{'without' if args.without else 'with'} version {wanted or NOT_COLLECTED}"
    print(f"devices {which}: {total:,}")
    if devices:
        print_table(LIST_HEADERS, [_row_cells(d) for d in devices])
    if len(devices) < total:
        print(f"({len(devices):,} of {total:,} devices shown; --limit 0 shows all)")
    return 0


def _title_json(t: software.Title) -> dict[str, Any]:
    return {"title": t.name, "vendor": t.vendor, "devices": t.devices, "versions": t.versions,
            "top_version": t.top_version, "linkages": t.linkages}


def _version_json(v: software.Version) -> dict[str, Any]:
    return {"version": v.version, "devices": v.devices, "vendor": v.vendor, "linkages": v.linkages}
