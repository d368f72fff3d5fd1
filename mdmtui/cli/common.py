"""Helpers shared by the command modules: the context, JSON/table output, confirmations."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from mdmtui.config import load_settings
from mdmtui.services.context import Context, open_context
from mdmtui.formatting import clip, local_time, printable, terminal_safe_json
from mdmtui.logs import redact
from mdmtui.textwidth import fit, width


def context_from_args(args: argparse.Namespace) -> Context:
    """Open the service context with the global options applied."""
    settings = load_settings(database_url=getattr(args, "database", None),
                             read_only=True if getattr(args, "read_only", None) else None)
    return open_context(settings)


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    """Every listing takes --json."""
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def to_local(value: datetime | None) -> str:
    """A timestamp shown in the server's local time zone."""
    return local_time(value, seconds=True) or ""


def print_json(data: Any) -> None:
    """JSON on stdout (UTF-8, datetimes as ISO 8601); C1, DEL and bidi controls as \\u escapes."""
    sys.stdout.write(json_text(data) + "\n")


def json_text(data: Any) -> str:
    """Indented JSON that is safe on a terminal: json escapes C0 controls, this also the rest of them."""
    return terminal_safe_json(json.dumps(data, ensure_ascii=False, indent=2, default=_json_default))



def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def print_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, max_width: int = 40) -> None:
    """An aligned text table; wide (Japanese) characters count as two columns, control characters escaped."""
    headers = [printable(h) for h in headers]
    cells = [[printable(v) for v in row] for row in rows]
    widths = [min(max([width(h)] + [width(r[i]) for r in cells]), max_width) for i, h in enumerate(headers)]
    out = sys.stdout
    out.write("  ".join(fit(h, w) for h, w in zip(headers, widths)).rstrip() + "\n")
    for row in cells:
        out.write("  ".join(fit(v, w) for v, w in zip(row, widths)).rstrip() + "\n")


def confirm_typed(prompt: str, expected: str) -> bool:
    """Ask the admin to type ``expected`` on a terminal; False when it does not match or no TTY."""
    if not sys.stdin.isatty():
        return False
    try:
        answer = input(f"{prompt} ")
    except EOFError:
        return False
    return answer.strip() == expected


SHOWN_CANDIDATES = 20
LINE_CHARS = 2_000  # of an error line: one quoting a 10 MB input keeps its head and says how much more


def one_line(text: Any) -> str:
    """A message squeezed onto one line of at most LINE_CHARS, control characters escaped, passwords redacted."""
    return printable(clip(redact(" ".join(str(text).split())), LINE_CHARS))  # redacted before a cut hides the @


def print_ambiguous(exc) -> None:
    """An AmbiguousError on stderr: the message, then at most SHOWN_CANDIDATES candidates."""
    print(f"mdmtui: {one_line(exc)}", file=sys.stderr)
    for line in exc.candidates[:SHOWN_CANDIDATES]:
        print(f"  {printable(line)}", file=sys.stderr)
    if len(exc.candidates) > SHOWN_CANDIDATES:
        print(f"  ... and {len(exc.candidates) - SHOWN_CANDIDATES} more", file=sys.stderr)
