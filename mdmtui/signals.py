"""The signals that stop a command as Ctrl-C does: SIGINT, SIGTERM (kill, systemd) and SIGHUP (the terminal went away).

Without a handler SIGTERM and SIGHUP end the process at once: a collection stays "running" for good,
with no audit entry and its lock held. With one, the command cancels cleanly and records why.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


@contextmanager
def on_stop_signals(callback: Callable[[signal.Signals], None]) -> Iterator[None]:
    """Call ``callback(signal)`` on the running loop for each stop signal while the block runs."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig in STOP_SIGNALS:
        try:
            loop.add_signal_handler(sig, callback, sig)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no such signal here
            pass
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def exit_status(sig: signal.Signals) -> int:
    """The shell's status for a command a signal ended: 128 + its number (130 for Ctrl-C, 143 for SIGTERM)."""
    return 128 + int(sig)
