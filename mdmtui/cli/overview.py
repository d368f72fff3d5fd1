"""``mdmtui overview``: the fleet at a glance, the figures of the console's Overview screen.

Exit status: 0 ok; 1 the database could not be read; 2 bad usage.
"""

from __future__ import annotations

import argparse

from mdmtui.charts import bar, duration
from mdmtui.cli.common import add_json_flag, context_from_args, print_json, print_table, to_local
from mdmtui.services import overview

BAR_WIDTH = 30


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``overview``."""
    parser = subparsers.add_parser("overview", help="the fleet at a glance: security, OS versions, last seen, "
                                                    "licenses, collections, actions")
    add_json_flag(parser)
    parser.set_defaults(handler=cmd_overview)


def cmd_overview(args: argparse.Namespace) -> int:
    """Print every figure of the overview (``--json``: the same as data, stable keys)."""
    ctx = context_from_args(args)
    figures = overview.overview(ctx)
    if args.json:
        print_json(figures.as_dict())
    else:
        print_overview(figures)
    return 0


def _counts(title: str, figures: list[overview.Figure], total: int) -> None:
    print(f"\n{title}")
    top = max([f.count for f in figures] + [1])
    rows = [(f.label, f"{f.count:,}", _share(f.count, total), bar(f.count, top, BAR_WIDTH)) for f in figures]
    print_table(("", "Devices", "Share", ""), rows, max_width=48)


def _share(count: int, total: int) -> str:
    return f"{100 * count / total:.1f}%" if total else ""


def print_overview(o: overview.Overview) -> None:
    """The figures as aligned tables with bars."""
    print(f"Fleet overview as of {to_local(o.as_of)}: {o.devices.count:,} devices")
    _counts("Security and state", o.security, o.devices.count)
    _counts("OS mix", o.os_classes, o.devices.count)
    print("\nOS versions (oldest first)")
    top = max([v.count for p in o.platforms for v in p.versions] + [1])
    print_table(("Platform", "Version", "Devices", ""), [
        (p.name, v.label, f"{v.count:,}", bar(v.count, top, BAR_WIDTH)) for p in o.platforms for v in p.versions],
        max_width=48)
    _counts("Last seen (last alive confirmation)", o.last_seen, o.devices.count)
    print("\nLinkages (the last collection of each)")
    print_table(("Linkage", "System", "Devices", "Licenses", "Last collection", "Outcome", "Duration",
                 "Inventory total"), [_linkage_row(lk) for lk in o.linkages])
    print("\nActions")
    print_table(("", "Devices", "Actions"), [(f.label, f"{f.count:,}", f.detail or "") for f in o.actions],
                max_width=48)


def _linkage_row(lk: overview.LinkageFigures) -> tuple[str, ...]:
    last = lk.last
    if last is None:
        return (lk.name, lk.system, f"{lk.devices.count:,}", f"{lk.licenses.count:,}", "never", "", "", "")
    total = "" if last.inventory_total is None else f"{last.inventory_total:,}"
    return (lk.name, lk.system, f"{lk.devices.count:,}", f"{lk.licenses.count:,}", to_local(last.started_at),
            last.status, duration(last.duration_s), total)
