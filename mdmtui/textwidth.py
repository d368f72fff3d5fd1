"""Display width of text in a terminal: wide (CJK) characters take two columns."""

from __future__ import annotations

from wcwidth import wcswidth, wcwidth


def width(text: str) -> int:
    """Columns ``text`` occupies on a terminal."""
    if text.isascii() and text.isprintable():
        return len(text)  # most cells (serials, numbers, models): wcswidth would look up every character
    w = wcswidth(text)
    if w >= 0:
        return w
    return sum(max(wcwidth(ch), 0) for ch in text)  # control characters count as zero


def fit(text: str, columns: int) -> str:
    """``text`` cut (with an ellipsis) or padded to exactly ``columns`` display columns."""
    if columns >= 1 and text.isascii() and text.isprintable():  # a column per character (most cells)
        used = len(text)
        return text + " " * (columns - used) if used <= columns else text[:columns - 1] + "…"
    used = width(text)
    if used <= columns:
        return text + " " * (columns - used)
    out, used = [], 0
    for ch in text:
        w = max(wcwidth(ch), 0)
        if used + w > columns - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…" + " " * (columns - 1 - used)
