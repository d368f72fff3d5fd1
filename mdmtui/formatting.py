"""How values read on screen: local times, sizes, "not collected", summaries and outcomes."""

from __future__ import annotations

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
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


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
    return (f"{summary.linkage}: {summary.devices_seen:,} devices{took} — {summary.new} new, "
            f"{summary.changed} changed, {summary.missing} missing")


def outcome_line(name: str, outcome: Any) -> str:
    """One device's outcome of an action; a new passcode is shown here, once, and nowhere else."""
    result = outcome.result
    line = f"{name}: {result.outcome.value}" + (f" — {result.message}" if result.message else "")
    if result.new_passcode:
        line += f"\n    new passcode (shown once, write it down): {result.new_passcode}"
    return line
