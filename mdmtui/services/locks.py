"""At most one collection per linkage at a time, across processes, on SQLite and PostgreSQL.

A lock row (``collection_lock``, unique per linkage) is the lock. Its holder refreshes ``heartbeat_at`` from
a background thread; a row whose heartbeat is older than ``STALE_AFTER`` belongs to a process that
died (or hangs) and is taken over with a compare-and-swap update, so a crash never blocks a linkage
for good. A row whose holder is a process of this host that no longer runs is taken over at once
(a PID reused by another process only delays that to ``STALE_AFTER``). The same code works on both
dialects because it relies only on a unique constraint and on an UPDATE's row count.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from mdmtui.clock import utcnow
from mdmtui.errors import Busy
from mdmtui.services.context import Context
from mdmtui.storage import locks as stored
from mdmtui.storage.records import LockRecord
from mdmtui.storage.transactions import close_connection

log = logging.getLogger(__name__)

HEARTBEAT_S = 15.0
STALE_AFTER = timedelta(minutes=3)  # twelve missed heartbeats: the holder is gone
POLL_S = 0.2


class LinkageLike(Protocol):
    """What the lock needs of a linkage."""

    @property
    def id(self) -> int: ...

    @property
    def name(self) -> str: ...


@dataclass
class HeldLock:
    """A lock this process holds; ``lost`` turns true when another process took it over."""

    linkage_id: int
    linkage_name: str
    owner: str
    lost: bool = False
    applying: bool = False  # this process's run writes its apply now (SQLite: it holds the write lock itself)

    def still_held(self) -> bool:
        """True when the row still names this holder (call inside the transaction that relies on it)."""
        row = stored.holder(self.linkage_id)
        return row is not None and row.owner == self.owner


def owner_id(ctx: Context) -> str:
    """host:pid:token, unique per acquisition."""
    return f"{ctx.host}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@contextmanager
def collection_lock(ctx: Context, linkage: LinkageLike, wait: float = 0.0, *,
                    stale_after: timedelta = STALE_AFTER, heartbeat_s: float = HEARTBEAT_S) -> Iterator[HeldLock]:
    """Hold ``linkage``'s collection lock for the ``with`` block; ``Busy`` when another holds it.

    ``wait`` seconds are spent polling before giving up. The calling thread's connection is used to
    acquire and release; the heartbeat runs in its own thread (and connection).
    """
    held = acquire(ctx, linkage, wait, stale_after=stale_after)
    beat = Heartbeat(ctx, held, heartbeat_s)
    beat.start()
    try:
        yield held
    finally:
        beat.stop()
        release(held)


def acquire(ctx: Context, linkage: LinkageLike, wait: float = 0.0, *, stale_after: timedelta = STALE_AFTER) -> HeldLock:
    """Take the lock or raise ``Busy`` (after ``wait`` seconds of polling)."""
    owner = owner_id(ctx)
    deadline = time.monotonic() + wait
    while True:
        holder = _try_take(linkage.id, owner, stale_after, ctx.host)
        if holder is None:
            return HeldLock(linkage.id, linkage.name, owner)
        if time.monotonic() >= deadline:
            raise Busy(_busy_message(linkage.name, holder))
        time.sleep(min(POLL_S, max(deadline - time.monotonic(), 0.01)))


def release(held: HeldLock) -> None:
    """Give the lock back (only if this holder still has it)."""
    stored.delete(held.linkage_id, held.owner)


def holder_of(linkage: LinkageLike) -> LockRecord | None:
    """The current lock of ``linkage`` (None when nobody collects it)."""
    return stored.holder(linkage.id)


def _try_take(linkage_id: int, owner: str, stale_after: timedelta, host: str) -> LockRecord | None:
    """None when taken; else the lock of the live holder."""
    now = utcnow()
    if stored.insert(linkage_id, owner, host, os.getpid(), now):
        return None
    row = stored.holder(linkage_id)
    if row is None:  # released between our insert and our read: try again at once
        return _try_take(linkage_id, owner, stale_after, host)
    dead = row.host == host and row.pid is not None and not process_alive(row.pid)
    if not dead and row.heartbeat_at >= now - stale_after:
        return row
    # Compare-and-swap on (owner, heartbeat): of two processes taking over, exactly one wins.
    if stored.take_over(row, owner, host, os.getpid(), now):
        why = (f"pid {row.pid} no longer runs on {host}" if dead
               else f"no heartbeat since {row.heartbeat_at.isoformat()}")
        log.warning("collection lock of linkage %s taken over from %s (%s)", linkage_id, row.owner, why)
        return None
    return stored.holder(linkage_id) or row


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (a zombie does not; unknown counts as alive)."""
    if pid <= 0:
        return True  # kill(0 or -n) would address a process group, not a process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it runs, as another user
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rpartition(")")[2].split()[0] not in ("Z", "X")
    except (OSError, IndexError):  # no /proc (not Linux): kill(pid, 0) has the last word
        return True


def _busy_message(name: str, holder: LockRecord) -> str:
    host, _, rest = holder.owner.partition(":")
    pid = rest.partition(":")[0]
    since = holder.acquired_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    return f"a collection of '{name}' is already running (on {host}, pid {pid}, since {since})"


class Heartbeat:
    """Refreshes the lock row every few seconds from its own thread until stopped."""

    def __init__(self, ctx: Context, held: HeldLock, every_s: float) -> None:
        self.ctx, self.held, self.every_s = ctx, held, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lock-heartbeat-{held.linkage_id}", daemon=True)

    def start(self) -> None:
        """Start beating."""
        self._thread.start()

    def stop(self) -> None:
        """Stop beating and wait for the thread."""
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.every_s):
                self._beat(utcnow())
        finally:
            close_connection(self.ctx.db)  # this thread's own connection

    def _beat(self, now: datetime) -> None:
        try:
            updated = stored.beat(self.held.linkage_id, self.held.owner, now)
        except Exception as exc:  # noqa: BLE001 - a busy database must not kill the run; the next beat retries
            if self.held.applying and "locked" in str(exc):
                # SQLite: the run's own apply holds the one write lock, which keeps every other process
                # from taking the lock over meanwhile; nothing is wrong, so no warning on the admin's screen
                log.debug("collection lock heartbeat of %s waits for the run's own apply", self.held.linkage_name)
                return
            log.warning("collection lock heartbeat of %s failed: %s", self.held.linkage_name, exc)
            return
        if not updated and not self.held.lost:
            self.held.lost = True
            log.error("collection lock of %s was taken over by another process", self.held.linkage_name)
