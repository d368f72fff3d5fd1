"""The scheduler daemon: runs each linkage's scheduled collection when it is due.

Every tick it beats its heart in ``SchedulerState``, re-reads the schedules from the database (so an
edit in the console applies without a restart) and starts the collections that are due, different
linkages concurrently. A run blocked by a manual collection waits, then is skipped and recorded. On
stop it starts nothing new, asks the running collections to cancel (the collection service rolls a
cancelled run back) and waits for them within a grace period.

Database work runs on one dedicated thread, so a busy SQLite writer never freezes the event loop that
the collections' HTTP traffic runs on.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mdmtui.clock import utcnow
from mdmtui.errors import Busy, Cancelled, ConfigurationError, MdmtuiError, UsageError
from mdmtui.records import CollectionSummary
from mdmtui.services import audit, events
from mdmtui.services import schedule as schedule_service
from mdmtui.services.context import Context
from mdmtui.storage import runs

log = logging.getLogger(__name__)

Collect = Callable[..., Awaitable[CollectionSummary]]
Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What became of one scheduled run."""

    linkage: str
    due_at: datetime
    status: str  # succeeded | failed | cancelled | skipped
    reason: str | None = None


async def collect_with_service(ctx: Context, name: str, **kwargs: Any) -> CollectionSummary:
    """The collection service's ``collect``, imported on first use (tests inject their own)."""
    try:
        from mdmtui.services.collection import collect
    except ModuleNotFoundError as exc:
        raise ConfigurationError(f"the collection service is not available in this build: {exc}") from None
    return await collect(ctx, name, **kwargs)


class Daemon:
    """Runs due scheduled collections; ``run`` until stopped, or ``run_once`` for one tick."""

    def __init__(self, ctx: Context, *, clock: Clock = utcnow, collect: Collect | None = None,
                 tick_s: float = 30.0, busy_wait_s: float = 300.0, busy_poll_s: float = 5.0,
                 grace_s: float = 30.0) -> None:
        if not 0 < tick_s <= schedule_service.HEARTBEAT_EVERY.total_seconds():
            raise UsageError(f"the tick must be between 0 and "
                             f"{schedule_service.HEARTBEAT_EVERY.total_seconds():g} seconds")
        if min(busy_wait_s, grace_s) < 0 or busy_poll_s <= 0:
            raise UsageError("the busy wait and the grace period must not be negative")
        self.ctx = ctx
        self.clock = clock
        self.collect = collect or collect_with_service
        self.tick_s = tick_s
        self.busy_wait_s = busy_wait_s
        self.busy_poll_s = busy_poll_s
        self.grace_s = grace_s
        self.host, self.pid = ctx.host, os.getpid()
        self.cancel = asyncio.Event()  # handed to every collection: set on stop
        self._stopping = asyncio.Event()
        self._in_flight: dict[int, asyncio.Task[RunOutcome]] = {}
        self._kinds: dict[int, str] = {}  # linkage id -> the kind of its run in flight (full | changed)
        self._slots = asyncio.Semaphore(ctx.settings.collect_concurrency)
        self._storage = ctx.storage.serial()  # the daemon's database work, in order, off its event loop
        self._registered = False
        self._closed = False

    # --- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Daemon:
        await self.register()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.shutdown()

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until ``stop`` is set, then shut down cleanly."""
        async with self:
            log.info("daemon started on %s (pid %s), tick %ss", self.host, self.pid, self.tick_s)
            while not stop.is_set():
                await self._tick(self.clock())
                await _wait(stop, self.tick_s)
        log.info("daemon stopped")

    async def run_once(self, now: datetime) -> list[RunOutcome]:
        """One tick at ``now``: start the due runs and wait for them to end."""
        tasks = await self._tick(now)
        return list(await asyncio.gather(*tasks))

    async def register(self) -> None:
        """Claim the scheduler role; ``Busy`` if another daemon's heartbeat is fresh."""
        try:
            await self._db(self._register, self.clock())
        except BaseException:
            await self.shutdown()  # stop cleanly before giving up
            raise
        self._registered = True

    def request_stop(self) -> None:
        """Start no new run and ask the running collections to cancel (safe from a signal handler)."""
        self._stopping.set()
        self.cancel.set()

    async def shutdown(self) -> None:
        """Stop starting runs, cancel the running ones within the grace period, leave the role."""
        self.request_stop()
        await self._drain()
        if self._closed:
            return
        self._closed = True
        if self._registered:
            await self._db(self._unregister)

    async def _drain(self) -> None:
        tasks = list(self._in_flight.values())
        if not tasks:
            return
        log.info("waiting up to %ss for %d running collection(s) to stop", self.grace_s, len(tasks))
        _, pending = await asyncio.wait(tasks, timeout=self.grace_s)
        for task in pending:  # past the grace period: abandon; the run's transaction rolls back
            log.warning("abandoning a collection still running after %ss", self.grace_s)
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5)

    # --- one tick --------------------------------------------------------------------------

    async def _tick(self, now: datetime) -> list[asyncio.Task[RunOutcome]]:
        """Heartbeat, re-read the schedules, start each due run not already running."""
        try:
            await self._db(self._heartbeat, now)
            due = await self._db(schedule_service.due_runs, self.ctx, now)
        except Exception:  # a database hiccup must not kill the daemon; the next tick retries
            log.exception("tick at %s failed", now.isoformat())
            await self._reconnect()
            return []
        started = []
        for linkage, due_at, changed_only in due:
            if linkage.id in self._in_flight or self._stopping.is_set():
                continue   # one run per linkage at a time; an owed one starts at a later tick
            task = asyncio.create_task(self._handle(linkage.id, linkage.name, due_at, changed_only),
                                       name=f"scheduled collection of {linkage.name}")
            self._in_flight[linkage.id] = task
            task.add_done_callback(functools.partial(self._forget, linkage.id))
            started.append(task)
        return started

    def _forget(self, linkage_id: int, _task: object) -> None:
        self._in_flight.pop(linkage_id, None)

    async def _handle(self, linkage_id: int, name: str, due_at: datetime, changed_only: bool = False) -> RunOutcome:
        """Run one due collection to its end and record what became of it."""
        kind = "changed-only " if changed_only else ""
        log.info("scheduled %scollection of %s due at %s: starting", kind, name, due_at.isoformat())
        outcome = await self._attempt(linkage_id, name, due_at, changed_only)
        log.log(logging.WARNING if outcome.status in {"failed", "skipped"} else logging.INFO,
                "scheduled collection of %s due at %s: %s%s", name, due_at.isoformat(), outcome.status,
                f" ({outcome.reason})" if outcome.reason else "")
        # A run cancelled by shutdown stays owed: the next start runs it (at most once).
        if outcome.status != "cancelled" or not self._stopping.is_set():
            await self._db(functools.partial(schedule_service.mark_handled, changed_only=changed_only),
                           linkage_id, due_at)
        return outcome

    async def _attempt(self, linkage_id: int, name: str, due_at: datetime, changed_only: bool) -> RunOutcome:
        """Collect, waiting while a manual collection holds the linkage's lock."""
        deadline = time.monotonic() + self.busy_wait_s
        self._kinds[linkage_id] = "changed" if changed_only else "full"  # one run per linkage at a time
        while True:
            before = await self._db(_last_run_id, linkage_id)
            try:
                async with self._slots:
                    if self._stopping.is_set():
                        return RunOutcome(name, due_at, "cancelled", "the daemon is stopping")
                    extra = {"changed_only": True} if changed_only else {}
                    summary = await self.collect(self.ctx, name, trigger="scheduled", cancel=self.cancel, **extra)
                return RunOutcome(name, due_at, summary.status, summary.reason)
            except Busy as exc:
                if time.monotonic() >= deadline or self._stopping.is_set():
                    reason = f"skipped: {exc} (waited {self.busy_wait_s:g}s)"
                    await self._db(self._ensure_recorded, linkage_id, name, before, "skipped", reason)
                    return RunOutcome(name, due_at, "skipped", reason)
                log.info("%s: %s; retrying in %ss", name, exc, self.busy_poll_s)
                await _wait(self._stopping, self.busy_poll_s)
            except (Cancelled, asyncio.CancelledError) as exc:
                return await self._cancelled(linkage_id, name, due_at, before, exc)
            except Exception as exc:  # noqa: BLE001 - one failed run must not stop the schedule
                return await self._failed(linkage_id, name, due_at, before, exc)

    async def _cancelled(self, linkage_id: int, name: str, due_at: datetime, before: int,
                         exc: BaseException) -> RunOutcome:
        reason = f"cancelled: {exc or 'the daemon is stopping'}"
        await self._db(self._ensure_recorded, linkage_id, name, before, "cancelled", reason)
        if isinstance(exc, asyncio.CancelledError) and not self._stopping.is_set():
            raise exc  # cancelled from outside the daemon: let it propagate
        return RunOutcome(name, due_at, "cancelled", reason)

    async def _failed(self, linkage_id: int, name: str, due_at: datetime, before: int,
                      exc: Exception) -> RunOutcome:
        if not isinstance(exc, MdmtuiError):
            log.exception("scheduled collection of %s crashed", name)
        reason = str(exc) or exc.__class__.__name__
        await self._db(self._ensure_recorded, linkage_id, name, before, "failed", reason)
        return RunOutcome(name, due_at, "failed", reason)

    # --- database work (on the daemon's DB thread) -----------------------------------------

    async def _db(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await self._storage.run(fn, *args)

    def _register(self, now: datetime) -> None:
        with self.ctx.db.atomic():
            other = runs.other_scheduler(self.host, self.pid, now, schedule_service.STALE_AFTER)
            if other is not None:
                raise Busy(f"another mdmtui daemon is running on {other.host} (pid {other.pid}, "
                           f"last heartbeat {other.heartbeat_at.isoformat(timespec='seconds')})")
            runs.claim_scheduler(self.host, self.pid, now)

    def _heartbeat(self, now: datetime) -> None:
        if self._registered:
            runs.beat_scheduler(self.host, self.pid, now)

    def _unregister(self) -> None:
        runs.leave_scheduler(self.host, self.pid)

    async def _reconnect(self) -> None:
        """Drop the storage's connections (e.g. after a database restart): the next tick opens new ones."""
        try:
            self.ctx.storage.reconnect()
        except Exception as exc:  # noqa: BLE001 - a broken connection may fail to close; it is dropped anyway
            log.warning("closing the daemon's database connection failed: %s", exc)

    def _ensure_recorded(self, linkage_id: int, name: str, before: int, status: str, reason: str) -> None:
        """Record the run unless the collection service already did (it records most outcomes)."""
        now = self.clock()
        end = runs.RunEnd(status, reason, now)
        added = runs.runs_after(linkage_id, before, "scheduled")
        if added:
            # collect() has returned, so a row it left "running" (abandoned mid-run) is over.
            runs.record_end(added, end, only_running=True)
            return
        with self.ctx.db.atomic():
            run_id = runs.start(linkage_id=linkage_id if runs.linkage_exists(linkage_id) else None,
                                linkage_name=name, trigger="scheduled", kind=self._kinds.get(linkage_id, "full"),
                                started_at=now, host=self.host, pid=self.pid, status=status)
            runs.record_end([run_id], end)
            audit.record(self.ctx, category="collection", action="scheduled collection", outcome=status,
                         linkage_name=name, message=reason)
            if status == "failed":
                events.emit("collection_failed", f"scheduled collection of {name} failed: {reason}",
                            linkage_name=name)


def _last_run_id(linkage_id: int) -> int:
    """The newest run id of the linkage (0 when none), to spot the rows a collection adds."""
    return runs.newest_run_id(linkage_id)


async def _wait(event: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds`` or until ``event`` is set, whichever comes first."""
    try:
        await asyncio.wait_for(event.wait(), timeout=seconds)
    except TimeoutError:
        pass
