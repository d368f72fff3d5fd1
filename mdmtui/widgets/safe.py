"""Text from an MDM, a file or a user, made safe to put on the console's screen.

Two dangers: Rich/Textual markup (``[/]`` ends a style that was never opened and raises, ``[link=…]``
plants a hyperlink) and control characters (ESC, CSI, OSC, NUL, CR, backspace) that a terminal would
obey. Every such string reaches the screen through ``plain``/``visible``: markup is never parsed, and
control characters are shown as visible escapes (``\\x1b``), so the admin sees exactly what was sent.
"""

from __future__ import annotations

import re
from typing import Any

from rich.text import Text

# C0 (but newline, kept where lines are allowed), DEL, C1, and the line/paragraph separators
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_OR_NEWLINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(value: Any, *, lines: bool = False) -> str:
    """``value`` as text with every control character shown as an escape (newlines kept if ``lines``)."""
    text = "" if value is None else str(value)
    if text.isascii() and text.isprintable():
        return text  # nothing to escape (the common case: one check instead of a regex pass per cell)
    return (_CONTROL if lines else _CONTROL_OR_NEWLINE).sub(_escape, text)


def plain(value: Any, style: str = "", *, lines: bool = False) -> Text:
    """``value`` as a Rich ``Text`` that is never parsed as markup, control characters escaped."""
    return Text(visible(value, lines=lines), style=style)


def one_line(error: BaseException | None) -> str:
    """An error's reason on one line (the first line of its text; its type when it has none)."""
    text = str(error or "").strip().splitlines()
    return text[0] if text else type(error).__name__


def report_worker_failure(node: Any, event: Any) -> None:
    """A worker of ``node`` failed: tell the admin. ``Worker.StateChanged`` does not bubble, so a screen's
    or widget's failed worker would otherwise vanish without a word."""
    from textual.worker import WorkerState

    if event.worker.node is not node or event.state != WorkerState.ERROR:
        return
    report_failure(node, event.worker.error, what=event.worker.name or "task")


def report_failure(node: Any, error: BaseException | None, *, what: str) -> None:
    """``what`` failed with ``error``: the app's own error report (a notification with the one-line
    reason), or a plain notification in an app without one."""
    report = getattr(node.app, "report_error", None)
    if report is not None:
        report(error, what=what)
    else:
        node.app.notify(visible(one_line(error)), title=f"{what} failed", severity="error", markup=False)
