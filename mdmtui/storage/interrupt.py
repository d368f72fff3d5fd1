"""Stopping a statement that became stale (a count after a new keystroke), from another thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from peewee import Database, OperationalError


class Interrupter:
    """Stops, from any thread, the statement a watched connection runs (a stale count on a keystroke).

    SQLite: a progress handler that aborts once ``interrupt()`` was called (race-free: a statement that
    starts after the call stops too), and ``sqlite3.Connection.interrupt()``; PostgreSQL: psycopg2's
    ``connection.cancel()``. The stopped call raises ``OperationalError`` in its own thread, whose caller
    has stopped waiting for it.
    """

    _CHECK_EVERY = 10_000  # SQLite virtual-machine steps between looks at the flag (well under 1 ms)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watched: set[Any] = set()  # DB-API connections (sqlite3 or psycopg2): no common type
        self._stopped = False
        self.interrupted = 0  # statements interrupted while running (for tests)

    @contextmanager
    def watching(self, database: Database) -> Iterator[None]:
        """Register this thread's connection to ``database`` while the block runs."""
        conn = database.connection()
        sqlite = hasattr(conn, "set_progress_handler")
        with self._lock:
            if self._stopped:
                raise OperationalError("interrupted")
            self._watched.add(conn)
        if sqlite:
            conn.set_progress_handler(lambda: 1 if self._stopped else 0, self._CHECK_EVERY)
        try:
            yield
        finally:
            with self._lock:
                self._watched.discard(conn)
            if sqlite:
                conn.set_progress_handler(None, 0)

    def interrupt(self) -> None:
        """Stop whatever the watched connections run now, and anything they start under this watch."""
        with self._lock:
            self._stopped = True
            for conn in self._watched:
                stop = getattr(conn, "interrupt", None) or getattr(conn, "cancel", None)
                if stop is not None:
                    stop()
                    self.interrupted += 1
