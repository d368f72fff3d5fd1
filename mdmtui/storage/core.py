"""The one way to the database: a ``Storage`` per context owns the connection and the worker threads.

``Storage`` opens the database (``db.py``'s factory), binds the models to it, and runs database work in
a small pool of its own worker threads, each with its own connection (Peewee connections are per
thread), opened on first use and closed when the thread ends::

    rows = await ctx.storage.run(load_devices, ids)  # async code: the event loop never waits on SQL
    rows = ctx.storage.call(load_devices, ids)        # a thread that may block (a console worker)

    async with ctx.storage.serial() as db:            # one service call whose steps must stay in order
        row = await db.run(write_ahead, device)
        await db.run(settle, row, result)

Several workers, not one: two service calls running at once (two admins approving the same request)
each get a thread, so one waiting on a lock never holds up the other; ``serial()`` keeps the order of
one call's steps. A write that waits on SQLite's lock (a collection applying) waits in a worker, and the
console keeps answering keys; ``refusing_sql_here()`` lets a test prove that.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

from peewee import Database, Model

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

WORKERS = 4  # concurrent service calls (a bulk action, an approval, the console's reads) before queueing
IDLE_EXIT_S = 10.0  # a worker idle this long ends and closes its connection; the next call starts one
CLOSE_WAIT_S = 30.0  # how long close() waits for the work already handed over


Work = Callable[[Callable[[], None]], None]  # what a worker runs; it calls its argument once, just before
# its caller can hear back (so the worker counts as idle before the caller hands over its next step)


class WrongThread(RuntimeError):
    """Database work on a thread where it must not run (the event loop's, under ``refusing_sql_here``)."""


class _Job:
    __slots__ = ("call", "future")

    def __init__(self, call: Callable[[], Any]) -> None:
        self.call = call
        self.future: Future[Any] = Future()

    def run(self, done: Callable[[], None]) -> None:
        """Run the call; ``done()`` just before its caller hears of it (so the worker counts as idle
        before the caller can hand over its next step)."""
        if not self.future.set_running_or_notify_cancel():
            done()
            return  # the awaiting task was cancelled before the work started: skip it
        try:
            result = self.call()
        except BaseException as exc:  # handed to the caller, raised there
            done()
            self.future.set_exception(exc)
        else:
            done()
            self.future.set_result(result)


class Storage:
    """The database of one context, and the worker threads that do its work off the event loop."""

    def __init__(self, database: Database, models: Sequence[type[Model]] | None = None, *,
                 workers: int = WORKERS, idle_exit_s: float = IDLE_EXIT_S, name: str = "mdmtui-db") -> None:
        if workers < 1:
            raise ValueError("a storage needs at least one worker thread")
        if models is None:
            from mdmtui.storage.models import ALL_MODELS

            models = ALL_MODELS
        database.bind(list(models))
        self.database = database
        self._workers = workers
        self._idle_exit_s = idle_exit_s
        self._name = name
        self._jobs: queue.SimpleQueue[Work | None] = queue.SimpleQueue()
        self._lock = threading.Lock()  # guards the thread set, the closed flag and the idle tokens
        self._idle = threading.Semaphore(0)  # one token per worker waiting for a job
        self._threads: set[threading.Thread] = set()
        self._count = 0  # workers ever started, for their names
        self._generation = 0  # bumped by reconnect(): workers drop their connection before the next job
        self._closed = False
        self._local = threading.local()  # .worker: set in this storage's worker threads

    @classmethod
    def open(cls, url: str, *, migrate_schema: bool = True, workers: int = WORKERS) -> Storage:
        """Open the database at ``url``, bind the models to it and bring its schema up to date."""
        from mdmtui.storage.db import open_database, prepare_database

        storage = cls(open_database(url), workers=workers)
        prepare_database(url, storage.database, migrate_schema=migrate_schema)
        return storage

    # --- handing work over ---------------------------------------------------------------------

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` in a worker thread, awaited; its result (or exception) here."""
        future: Future[T] = self.submit(fn, *args, **kwargs)
        return await asyncio.wrap_future(future)

    def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` in a worker thread, waited for: for a thread that may block.

        Runs at once in a worker already (nested storage work); refused on a running event loop, whose
        thread must never wait on the database (``await storage.run`` instead).
        """
        if self.in_worker():
            return fn(*args, **kwargs)
        if _on_event_loop():
            raise WrongThread(f"storage.call({_name(fn)}) on the event loop's thread: await storage.run()")
        return self.submit(fn, *args, **kwargs).result()

    def submit(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """``fn(*args, **kwargs)`` handed to a worker thread; its future."""
        job = _Job(functools.partial(fn, *args, **kwargs))
        self._hand_over(job.run)
        return job.future

    def _hand_over(self, work: Work) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("storage is closed")
            self._jobs.put(work)
            if not self._idle.acquire(blocking=False) and len(self._threads) < self._workers:
                self._start_worker()

    def serial(self) -> Serial:
        """A lane whose calls run one at a time, in the order made: one service call's reads and writes."""
        return Serial(self)

    def dedicated(self, name: str) -> Dedicated:
        """A lane with a thread, hence a connection, of its own for its whole life: for work whose state
        lives in the connection (a collection's temporary tables). ``await lane.close()`` ends it."""
        return Dedicated(self, name)

    # --- threads -------------------------------------------------------------------------------

    def in_worker(self) -> bool:
        """Whether the calling thread is one of this storage's workers."""
        return bool(getattr(self._local, "worker", False))

    def assert_worker(self) -> None:
        """Raise ``WrongThread`` unless called in one of this storage's workers."""
        if not self.in_worker():
            raise WrongThread(f"database work on {threading.current_thread().name}, not a storage worker")

    @contextmanager
    def refusing_sql_here(self) -> Iterator[list[str]]:
        """While the block runs, SQL issued on the calling thread (an event loop's) raises ``WrongThread``.

        Yields the list of the offending statements, so a caught exception cannot hide one. The check
        is a Peewee query hook: it runs right after the statement.
        """
        thread = threading.get_ident()
        offending: list[str] = []

        def hook(event: Any) -> None:
            if threading.get_ident() == thread:
                offending.append(str(event.sql))
                raise WrongThread(f"SQL on a thread that must not wait on the database: {event.sql[:80]}")

        self.database.query_hooks.append(hook)
        try:
            yield offending
        finally:
            self.database.query_hooks.remove(hook)

    def reconnect(self) -> None:
        """Drop every connection (a database restart broke them): each worker opens a new one next time."""
        with self._lock:
            self._generation += 1
        self._close_this_threads_connection()

    def close(self) -> None:
        """Finish the work handed over, end the workers (closing their connections), then this thread's."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            threads = list(self._threads)
            for _ in threads:
                self._jobs.put(None)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(CLOSE_WAIT_S)
        self._close_this_threads_connection()

    def _start_worker(self) -> None:
        self._count += 1
        thread = threading.Thread(target=self._work, name=f"{self._name}-{self._count}", daemon=True)
        self._threads.add(thread)
        thread.start()

    def _enter_worker(self) -> None:
        self._local.worker = True

    def _work(self) -> None:
        self._enter_worker()
        generation = self._generation
        try:
            while True:
                try:
                    work = self._jobs.get(timeout=self._idle_exit_s)
                except queue.Empty:
                    with self._lock:  # leave, unless a job was promised to an idle worker meanwhile
                        if not self._closed and self._idle.acquire(blocking=False):
                            self._threads.discard(threading.current_thread())
                            return
                    continue
                if work is None:
                    return
                if generation != self._generation:
                    generation = self._generation
                    self._close_this_threads_connection()
                work(self._idle.release)
        finally:
            self._close_this_threads_connection()

    def _close_this_threads_connection(self) -> None:
        try:
            if not self.database.is_closed():
                self.database.close()
        except Exception as exc:  # noqa: BLE001 - a broken connection may fail to close; it is dropped anyway
            log.warning("closing a database connection failed: %s", exc)
            self.database.dispose()


class Serial:
    """One service call's database work, one step at a time in the order asked, on the storage's workers::

        async with ctx.storage.serial() as db:
            row = await db.run(write_ahead, device)

    The steps queue in the lane and one worker runs them back to back (no trip through the event loop
    between two of them), so a bulk action's many small writes keep pace with its sends.
    """

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._lock = threading.Lock()
        self._steps: deque[_Job] = deque()
        self._draining = False  # a worker is running this lane's steps

    async def __aenter__(self) -> Serial:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        return None

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` in a worker once this lane's earlier steps are done, awaited."""
        future: Future[T] = self.submit(fn, *args, **kwargs)
        return await asyncio.wrap_future(future)

    def run_blocking(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn`` after this lane's earlier steps, waited for without awaiting: for the one write a
        cancelled task must still make (a second cancellation cannot interrupt it halfway)."""
        return self.submit(fn, *args, **kwargs).result()

    def submit(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Queue ``fn(*args, **kwargs)`` as this lane's next step; its future."""
        job = _Job(functools.partial(fn, *args, **kwargs))
        with self._lock:
            self._steps.append(job)
            if self._draining:
                return job.future
            self._draining = True
        try:
            self.storage._hand_over(self._drain)
        except BaseException:
            with self._lock:
                self._steps.remove(job)
                self._draining = False
            raise
        return job.future

    def _drain(self, idle: Callable[[], None]) -> None:
        """Run the lane's steps back to back; after the last, the worker is idle before its caller hears."""
        last = False

        def step_done() -> None:
            nonlocal last
            with self._lock:
                if not self._steps:
                    last = True
                    self._draining = False
            if last:
                idle()

        while not last:
            with self._lock:
                job = self._steps.popleft()
            job.run(step_done)


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _name(fn: Callable[..., Any]) -> str:
    return str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or fn)


class Dedicated:
    """A lane on one thread of its own (``Storage.dedicated``), counted as a storage worker: each call
    runs there, in the order made, on the same connection from the first call to ``close``."""

    def __init__(self, storage: Storage, name: str) -> None:
        self._storage = storage
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name, initializer=storage._enter_worker)

    def submit(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> asyncio.Future[T]:
        """Queue ``fn(*args, **kwargs)`` on the lane's thread; its future on the running loop."""
        return asyncio.wrap_future(self._pool.submit(fn, *args, **kwargs))

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` on the lane's thread, awaited."""
        return await self.submit(fn, *args, **kwargs)

    async def close(self) -> None:
        """Close the lane's connection on its thread, then end the thread (even when cancelled)."""
        try:
            await asyncio.shield(self.run(self._storage._close_this_threads_connection))
        finally:
            self._pool.shutdown(wait=False)
