"""The collection lock: one holder per linkage across threads and processes, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from collect_helpers import plain_linkage

from mdmtui.errors import Busy
from mdmtui.storage.models import CollectionLock, utcnow
from mdmtui.services import locks

RACE_SCRIPT = """
import sys, time
from mdmtui.config import Settings
from mdmtui.errors import Busy
from mdmtui.storage.models import Linkage
from mdmtui.services import locks
from mdmtui.services.context import open_context
url, data = sys.argv[1], sys.argv[2]
ctx = open_context(Settings(data_dir=data, config_dir=data, database_url=url))
linkage = Linkage.get(Linkage.name == "MI")
print("ready", flush=True)
start = float(sys.stdin.readline())
while time.time() < start:
    time.sleep(0.001)
try:
    with locks.collection_lock(ctx, linkage):
        print("got", flush=True)
        time.sleep(1.5)
except Busy as exc:
    print("busy:", exc, flush=True)
"""


def test_a_second_holder_is_refused_until_the_first_releases(ctx):
    linkage = plain_linkage()
    with locks.collection_lock(ctx, linkage) as held:
        assert locks.holder_of(linkage).owner == held.owner
        with pytest.raises(Busy, match="collection of 'MI' is already running"):
            locks.acquire(ctx, linkage)
    assert locks.holder_of(linkage) is None
    with locks.collection_lock(ctx, linkage):
        pass


def test_threads_racing_get_exactly_one_lock(ctx):
    linkage = plain_linkage()
    barrier = threading.Barrier(6)
    results: list[str] = []

    def contender() -> None:
        barrier.wait()
        try:
            held = locks.acquire(ctx, linkage)
            results.append("got")
            time.sleep(0.3)
            locks.release(held)
        except Busy:
            results.append("busy")
        finally:
            ctx.db.close()

    threads = [threading.Thread(target=contender) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["busy"] * 5 + ["got"]


def test_processes_racing_get_exactly_one_lock(ctx, tmp_path):
    plain_linkage()
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    procs = [subprocess.Popen([sys.executable, "-c", RACE_SCRIPT, ctx.settings.database, str(tmp_path / "data")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(3)]
    # one start time, sent once every interpreter is up (however long its imports took on a loaded machine)
    assert [p.stdout.readline() for p in procs] == ["ready\n"] * 3
    start = time.time() + 0.2
    for p in procs:
        p.stdin.write(f"{start}\n")
        p.stdin.flush()
    outs = [p.communicate(timeout=60) for p in procs]
    lines = sorted(out.strip().split(":")[0] for out, _ in outs)
    assert lines == ["busy", "busy", "got"], outs
    busy = next(out for out, _ in outs if out.startswith("busy"))
    assert "pid" in busy


def test_a_waiting_holder_gets_the_lock_when_released(ctx):
    linkage = plain_linkage()
    held = locks.acquire(ctx, linkage)
    threading.Timer(0.3, lambda: (locks.release(held), ctx.db.close())).start()
    started = time.monotonic()
    with locks.collection_lock(ctx, linkage, wait=5):
        assert time.monotonic() - started >= 0.25


def test_a_stale_lock_of_a_dead_process_is_taken_over_once(ctx):
    linkage = plain_linkage()
    old = utcnow() - timedelta(minutes=30)
    CollectionLock.create(linkage=linkage, owner="gone:1:dead", acquired_at=old, heartbeat_at=old)
    barrier = threading.Barrier(4)
    results: list[str] = []

    def contender() -> None:
        barrier.wait()
        try:
            locks.acquire(ctx, linkage)
            results.append("got")
        except Busy:
            results.append("busy")
        finally:
            ctx.db.close()

    threads = [threading.Thread(target=contender) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["busy"] * 3 + ["got"]
    assert locks.holder_of(linkage).owner != "gone:1:dead"


@pytest.mark.timing
def test_the_heartbeat_keeps_a_long_run_from_looking_stale(ctx):
    linkage = plain_linkage()
    with locks.collection_lock(ctx, linkage, heartbeat_s=0.05) as held:
        first = locks.holder_of(linkage).heartbeat_at
        time.sleep(0.3)
        assert locks.holder_of(linkage).heartbeat_at > first
        with pytest.raises(Busy):
            locks.acquire(ctx, linkage, stale_after=timedelta(seconds=0.2))
        assert not held.lost


@pytest.mark.parametrize("applying", [True, False])
def test_a_heartbeat_held_up_by_the_runs_own_apply_is_no_warning(sqlite_ctx, monkeypatch, caplog, applying):
    """SQLite: a long apply (minutes at 100,000 devices) holds the one write lock, so the run's own heartbeat
    cannot write meanwhile. No other process can take the lock over then either, so that is no fault and
    must not print a warning every 15 s; held up by anything else, the heartbeat still warns."""
    from peewee import OperationalError

    linkage = plain_linkage()
    held = locks.acquire(sqlite_ctx, linkage)
    held.applying = applying

    def locked(*_args):
        raise OperationalError("database is locked")

    monkeypatch.setattr(locks.stored, "beat", locked)
    with caplog.at_level("DEBUG", logger="mdmtui.services.locks"):
        locks.Heartbeat(sqlite_ctx, held, 15)._beat(utcnow())
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert bool(warnings) is not applying
    assert not held.lost
    locks.release(held)


def dead_pid() -> int:
    """The PID of a process that ran and was reaped: nothing runs under it now."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(proc.stdout)
    assert not locks.process_alive(pid)
    return pid


@pytest.mark.timing
def test_a_fresh_lock_of_a_dead_pid_on_this_host_is_taken_at_once(ctx, caplog):
    """Issue 11 #8: a killed collector held the linkage for 3 minutes although it was plainly gone."""
    linkage = plain_linkage()
    pid, now = dead_pid(), utcnow()
    CollectionLock.create(linkage=linkage, owner=f"{ctx.host}:{pid}:killed", host=ctx.host, pid=pid,
                          acquired_at=now, heartbeat_at=now)
    started = time.monotonic()
    with caplog.at_level("WARNING", logger="mdmtui.services.locks"):
        held = locks.acquire(ctx, linkage)
    assert time.monotonic() - started < 1
    row = locks.holder_of(linkage)
    assert (row.owner, row.host, row.pid) == (held.owner, ctx.host, os.getpid())
    assert f"pid {pid} no longer runs on {ctx.host}" in caplog.text


def test_a_fresh_lock_of_a_live_pid_or_of_another_host_is_respected(ctx):
    linkage = plain_linkage()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        now = utcnow()
        row = CollectionLock.create(linkage=linkage, owner=f"{ctx.host}:{sleeper.pid}:x", host=ctx.host,
                                    pid=sleeper.pid, acquired_at=now, heartbeat_at=now)
        with pytest.raises(Busy, match=f"pid {sleeper.pid}"):
            locks.acquire(ctx, linkage)
        # a dead PID means nothing on another host: that holder may well be alive there
        CollectionLock.update(owner="elsewhere:1:x", host="elsewhere", pid=dead_pid()).where(
            CollectionLock.id == row.id).execute()
        with pytest.raises(Busy, match="on elsewhere"):
            locks.acquire(ctx, linkage)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_process_alive_never_addresses_a_process_group():
    assert locks.process_alive(0) and locks.process_alive(-1) and locks.process_alive(os.getpid())
