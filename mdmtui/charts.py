"""Pictures made of text: horizontal bars in eighth blocks, and durations in words (console and CLI)."""

from __future__ import annotations

EIGHTHS = " ▏▎▍▌▋▊▉"
FULL = "█"


def bar(value: int | float, maximum: int | float, width: int) -> str:
    """``value`` of ``maximum`` as a bar ``width`` cells long at most, to an eighth of a cell; any value
    above zero shows at least a sliver (a count of 1 among 100,000 must not look like none)."""
    if width <= 0 or maximum <= 0 or value <= 0:
        return ""
    eighths = max(round(min(value / maximum, 1.0) * width * 8), 1)
    full, rest = divmod(eighths, 8)
    return FULL * full + (EIGHTHS[rest] if rest else "")


def duration(seconds: float | None) -> str:
    """``0.4 s``, ``12 s``, ``3 min 5 s``, ``2 h 10 min``; "" when unknown (a run not finished)."""
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
