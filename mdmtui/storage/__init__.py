"""The storage room (issue 13, under construction): database work that async code hands off the event loop.

So far it holds the one piece async services need: ``DbThread``, a single thread that owns its own
connection for the length of one service call (a bulk action, a follow-up) and runs every piece of
database work of that call, in order. The console's event loop, the CLI's ``asyncio.run`` and the
daemon all await it the same way, so a write that waits on SQLite's lock (a collection applying) waits
in that thread and the console keeps answering keys.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from peewee import Database

T = TypeVar("T")

_local = threading.local()  # .db_thread: the DbThread whose worker this thread is


class DbThread:
    """One worker thread with its own connection, for one async service call::

        async with DbThread(ctx.db) as db:
            devices = await db.run(load_devices, ids)
    """

    def __init__(self, database: Database, name: str = "mdmtui-db") -> None:
        self.database = database
        self._name = name
        self._executor: ThreadPoolExecutor | None = None

    async def __aenter__(self) -> DbThread:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self._name,
                                            initializer=self._enter_thread)
        return self

    async def __aexit__(self, *exc: object) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(executor, self._leave_thread)
        finally:
            executor.shutdown(wait=False)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` in this call's database thread; its result (or exception) here."""
        if self._executor is None:
            raise RuntimeError("DbThread.run outside 'async with'")
        call = functools.partial(fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def run_blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in the database thread, waited for without awaiting: for the one write a cancelled
        task must still make (a second cancellation cannot interrupt it halfway)."""
        if self._executor is None:
            raise RuntimeError("DbThread.run_blocking outside 'async with'")
        return self._executor.submit(fn, *args).result()

    def _enter_thread(self) -> None:
        _local.db_thread = self

    def _leave_thread(self) -> None:
        if not self.database.is_closed():
            self.database.close()  # this thread's connection (Peewee keeps one per thread)


def in_db_thread() -> bool:
    """Whether the calling thread is a ``DbThread`` worker (for assertions in tests)."""
    return getattr(_local, "db_thread", None) is not None
