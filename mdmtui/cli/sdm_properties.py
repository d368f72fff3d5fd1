"""``mdmtui sdm-properties check|show [PATH]``: the command line for ``sdm_import.properties``.

The main CLI registers the parser with ``add_sdm_properties_parser(subparsers, default_path=...)`` and
calls ``run(args, sdm_linkage_names)``; ``args.sdm_properties_handler`` names the handler to call when
dispatching differently. Exit codes: 0 ok, 1 problems or failure, 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from wcwidth import wcswidth

from mdmtui.cli.common import json_text
from mdmtui.errors import MdmtuiError
from mdmtui.formatting import printable
from mdmtui.sdm_properties import PropertiesReport, SdmDbEntry, load

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2
SHOWN_PROBLEMS = 50  # a broken 10 MB file must not print 10 MB

LinkageNames = Callable[[], list[str]]
_PATH_HELP = "the file (default: the configured one)"


def add_sdm_properties_parser(subparsers: argparse._SubParsersAction,
                              *, default_path: str | Path | None = None) -> argparse.ArgumentParser:
    """Add ``sdm-properties check|show [PATH]``; PATH falls back to ``args.default_path``."""
    parser = subparsers.add_parser(
        "sdm-properties", help="check or show sdm_import.properties",
        description="Check or show sdm_import.properties, the SDM database servers for software "
                    "collection.")
    if default_path is not None:  # otherwise leave a default_path set by the main parser alone
        parser.set_defaults(default_path=Path(default_path))
    commands = parser.add_subparsers(dest="sdm_properties_command", metavar="check|show",
                                     required=True)
    check = commands.add_parser("check", help="report every problem, one per line")
    check.add_argument("path", nargs="?", metavar="PATH", help=_PATH_HELP)
    check.set_defaults(sdm_properties_handler=run_check)
    show = commands.add_parser("show", help="print the entries as a table")
    show.add_argument("path", nargs="?", metavar="PATH", help=_PATH_HELP)
    show.add_argument("--json", action="store_true", help="print JSON instead of a table")
    show.set_defaults(sdm_properties_handler=run_show)
    return parser


def run(args: argparse.Namespace, sdm_linkage_names: LinkageNames | None = None) -> int:
    """Dispatch to the handler of the chosen subcommand; returns the exit status."""
    handler = getattr(args, "sdm_properties_handler", None)
    if handler is None:
        print("mdmtui sdm-properties: choose check or show", file=sys.stderr)
        return EXIT_USAGE
    return handler(args, sdm_linkage_names)


def run_check(args: argparse.Namespace, sdm_linkage_names: LinkageNames | None) -> int:
    """Print each problem as ``PATH:LINE: message``; 1 when there is any, else ``ok: N entries``."""
    loaded = _load(args, sdm_linkage_names)
    if isinstance(loaded, int):
        return loaded
    path, report = loaded
    _print_problems(path, report, sys.stdout)
    if report.problems:
        return EXIT_PROBLEMS
    print(f"ok: {_count(len(report.entries))}")
    return EXIT_OK


def run_show(args: argparse.Namespace, sdm_linkage_names: LinkageNames | None = None) -> int:
    """Print the entries as a table (or JSON with ``--json``); problems go to stderr and give 1."""
    loaded = _load(args, sdm_linkage_names)
    if isinstance(loaded, int):
        return loaded
    path, report = loaded
    if getattr(args, "json", False):
        print(json_text(_as_json(path, report)))
    else:
        print(_table(report.entries) if report.entries else "no entries")
    _print_problems(path, report, sys.stderr)
    return EXIT_PROBLEMS if report.problems else EXIT_OK


def _load(args: argparse.Namespace,
          sdm_linkage_names: LinkageNames | None) -> tuple[Path, PropertiesReport] | int:
    """The path and its report, or an exit status after saying what went wrong."""
    raw = getattr(args, "path", None) or getattr(args, "default_path", None)
    if raw is None:
        print("mdmtui sdm-properties: give PATH (no default sdm_import.properties is configured)",
              file=sys.stderr)
        return EXIT_USAGE
    path = Path(raw)
    try:
        names = sdm_linkage_names() if sdm_linkage_names is not None else None
        return path, load(path, sdm_linkage_names=names)
    except MdmtuiError as exc:
        print(f"mdmtui sdm-properties: {printable(exc)}", file=sys.stderr)
        return EXIT_PROBLEMS


def _print_problems(path: Path, report: PropertiesReport, out: TextIO) -> None:
    """``PATH:LINE: message`` for the first SHOWN_PROBLEMS problems, then how many more there are."""
    for problem in report.problems[:SHOWN_PROBLEMS]:
        print(printable(f"{path}:{problem.line}: {problem.message}"), file=out)
    if len(report.problems) > SHOWN_PROBLEMS:
        print(f"... and {len(report.problems) - SHOWN_PROBLEMS:,} more problems", file=out)


def _count(n: int) -> str:
    return f"{n} entry" if n == 1 else f"{n} entries"


def _as_json(path: Path, report: PropertiesReport) -> dict:
    return {
        "path": str(path),
        "entries": [{"n": e.n, "name": e.name, "dbhost": e.dbhost, "dbport": e.dbport,
                     "lines": dict(e.lines)} for e in report.entries],
        "problems": [{"line": p.line, "message": p.message} for p in report.problems],
    }


def _table(entries: list[SdmDbEntry]) -> str:
    """A plain table, padded by display width so Japanese names line up."""
    rows = [["N", "NAME", "DBHOST", "DBPORT"]]
    rows += [[str(e.n), printable(e.name), printable(e.dbhost), str(e.dbport)] for e in entries]
    widths = [max(_width(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ("  ".join(cell + " " * (w - _width(cell)) for cell, w in zip(row, widths))
             for row in rows)
    return "\n".join(line.rstrip() for line in lines)


def _width(text: str) -> int:
    width = wcswidth(text)
    return width if width >= 0 else len(text)  # control characters: fall back to the length


def register(subparsers: argparse._SubParsersAction) -> None:
    """Hook for ``mdmtui.cli``: the default path and linkage names come from the settings and database."""
    parser = add_sdm_properties_parser(subparsers)
    parser.set_defaults(handler=_run_with_context)


def _run_with_context(args: argparse.Namespace) -> int:
    from mdmtui.cli.common import context_from_args
    from mdmtui.services import linkages

    ctx = context_from_args(args)
    if getattr(args, "default_path", None) is None:
        args.default_path = ctx.settings.properties_path
    return run(args, lambda: linkages.properties_linkage_names(ctx))
