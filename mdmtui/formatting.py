"""How values read on screen: local times, sizes, "not collected", summaries and outcomes."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

NOT_COLLECTED = "not collected"
NOT_SET = "(not set)"

# Groups whose values the admin maintains or mdmtui sets: empty there is "not set", not "not collected".
NOT_COLLECTED_DOES_NOT_APPLY = {"Asset information", "Collection"}


def local_time(value: datetime | None, *, seconds: bool = False) -> str | None:
    """A timestamp in the server's local time zone (None stays None: not collected)."""
    if value is None:
        return None
    v = value.astimezone()  # formatted by hand: strftime is twice the rest, in every table row
    if seconds:
        return "%04d-%02d-%02d %02d:%02d:%02d" % (v.year, v.month, v.day, v.hour, v.minute, v.second)
    return "%04d-%02d-%02d %02d:%02d" % (v.year, v.month, v.day, v.hour, v.minute)


def size(value: int | None) -> str | None:
    """Bytes in GB/MB, one decimal."""
    if value is None:
        return None
    for unit, factor in (("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if value >= factor:
            return f"{value / factor:.1f} {unit}"
    return f"{value} B"


def free_of(free: int | None, total: int | None) -> str | None:
    """``12.0 GB free of 64.0 GB``; "not collected" parts stay explicit."""
    if free is None and total is None:
        return None
    return f"{size(free) or NOT_COLLECTED} free of {size(total) or NOT_COLLECTED}"


def plural(count: int, noun: str) -> str:
    """``1 device``, ``2 devices`` (counts shown with thousands separators)."""
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def yes_no(value: bool | None) -> str | None:
    """Yes / No, None when not collected."""
    if value is None:
        return None
    return "Yes" if value else "No"


def shown(value: Any, group: str | None = None) -> str:
    """Any value as the detail pane and ``devices show`` print it (``group``: the spec group it is in)."""
    if value is None or value == "":
        return NOT_SET if group in NOT_COLLECTED_DOES_NOT_APPLY else NOT_COLLECTED
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, datetime):
        return local_time(value, seconds=True) or NOT_COLLECTED
    return str(value)


def summary_line(summary: Any) -> str:
    """One collection summary as a line for the notification."""
    if summary.status in {"failed", "skipped", "cancelled"}:
        return f"{summary.linkage}: {summary.status}" + (f" — {summary.reason}" if summary.reason else "")
    took = f" in {summary.duration_s:.1f} s" if summary.duration_s is not None else ""
    if getattr(summary, "kind", "full") == "changed":  # lists only what moved: absence proves nothing
        return (f"{summary.linkage}: changed-only, {summary.devices_seen:,} devices had news{took} — "
                f"{summary.new} new, {summary.changed} changed")
    return (f"{summary.linkage}: {summary.devices_seen:,} devices{took} — {summary.new} new, "
            f"{summary.changed} changed, {summary.missing} missing")


def outcome_line(name: str, outcome: Any) -> str:
    """One device's outcome of an action; a new passcode is shown here, once, and nowhere else."""
    result = outcome.result
    line = f"{name}: {result.outcome.value}" + (f" — {result.message}" if result.message else "")
    if result.new_passcode:
        line += f"\n    new passcode (shown once, write it down): {result.new_passcode}"
    return line


# What a terminal may act on instead of showing: C0 (newline, tab and CR too: a value must stay on its
# line), DEL, C1 (U+009B is a CSI on many terminals), the bidi embeddings, overrides and isolates (they
# reorder the text around them) and the Unicode line and paragraph separators.
_BEYOND_C0 = "\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_UNPRINTABLE = re.compile(f"[\x00-\x1f{_BEYOND_C0}]")
_BEYOND_JSON = re.compile(f"[{_BEYOND_C0}]")  # what json.dumps leaves raw
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(value: Any) -> str:
    """``value`` as text a terminal shows as it is: control characters become visible escapes (``\\x1b``)."""
    text = "" if value is None else str(value)
    return _UNPRINTABLE.sub(_escape_char, text)


def terminal_safe_json(text: str) -> str:
    """JSON text with C1, DEL and bidi controls as ``\\uXXXX`` too (json.dumps escapes only C0).

    They can only occur inside strings (JSON's own syntax is ASCII), where the escape means the same.
    """
    return _BEYOND_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED_ESCAPES.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def clip(text: str, limit: int = 1_000) -> str:
    """``text`` cut to ``limit`` characters, saying how many more there were (messages that quote input)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…({len(text) - limit:,} more characters)"
