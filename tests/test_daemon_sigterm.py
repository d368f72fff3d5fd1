"""``mdmtui daemon`` as a real process: SIGTERM (or SIGHUP) mid-run exits cleanly, the inventory consistent."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "services"))
from schedule_helpers import intune_linkage, inventory  # noqa: E402

from mdmtui.storage.models import AuditEvent, CollectionLock, CollectionRun, Linkage, SchedulerState, utcnow  # noqa: E402
from mdmtui.recurrence import Schedule  # noqa: E402
from mdmtui.services import schedule as svc  # noqa: E402
from mdmtui.services.collection import collect  # noqa: E402
from mdmtui.sim import Simulator  # noqa: E402
from mdmtui.sim.faults import Faults  # noqa: E402

GRACE_S = 10


@pytest.fixture
def sim():
    with Simulator(seed=9, intune=40, mobileiron=1, sdm=1) as s:
        yield s


def start_daemon(ctx) -> subprocess.Popen:
    """``mdmtui daemon`` on the test's database, data and config directories."""
    env = dict(os.environ, MDMTUI_DATA_DIR=str(ctx.settings.data_dir),
               MDMTUI_CONFIG_DIR=str(ctx.settings.config_dir))
    if ctx.settings.database_url:
        env["MDMTUI_DATABASE_URL"] = ctx.settings.database_url
    return subprocess.Popen([sys.executable, "-m", "mdmtui", "daemon", "--tick", "0.2", "--grace", str(GRACE_S)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(predicate, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"the daemon exited early ({proc.returncode}): {proc.stderr.read()}")
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def stop(proc: subprocess.Popen, sig: signal.Signals = signal.SIGTERM) -> tuple[int, str]:
    """``sig``, then the exit status and stderr; the process must end within the grace period."""
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=GRACE_S + 5)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("the daemon did not stop within its grace period") from None
    return proc.returncode, err


def running_scheduled_run() -> bool:
    return CollectionRun.select().where(CollectionRun.trigger == "scheduled",
                                        CollectionRun.status == "running").exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_a_stop_signal_mid_run_leaves_the_inventory_as_it_was(ctx, sim, sig):
    """SIGHUP killed the daemon and left its run "running" for good (issue 11 #8)."""
    linkage = intune_linkage(ctx, sim, "Intune", page_size=5)
    asyncio.run(collect(ctx, "Intune", trigger="immediate"))
    before = inventory("Intune")
    assert len(before) == 40
    # the MDM changes, and the next collection would record it ...
    sim.admin.remove("intune", sim.device_ids("intune")[0])
    sim.admin.add("intune")
    # ... but it is slow: SIGTERM arrives mid-way
    sim.set_faults(Faults(latency_ms=400), mdm="intune")
    now = utcnow().replace(microsecond=0)
    svc.set_schedule(ctx, "Intune", Schedule(start_at=(now - timedelta(days=3)).replace(tzinfo=None),
                                             interval="daily", tz="UTC"), now=now - timedelta(days=2))
    owed = svc.due_at(Linkage.get_by_id(linkage.id), now)
    assert owed is not None

    proc = start_daemon(ctx)
    wait_for(running_scheduled_run, 30, proc)
    time.sleep(1.0)
    code, err = stop(proc, sig)

    assert code == 0, err
    assert "Traceback" not in err and "stopped" in err
    [run] = CollectionRun.select().where(CollectionRun.trigger == "scheduled")
    assert run.status == "cancelled", run.reason
    assert inventory("Intune") == before  # rolled back: not half-written
    assert not running_scheduled_run()
    assert SchedulerState.select().count() == 0 and CollectionLock.select().count() == 0
    assert AuditEvent.select().where(AuditEvent.action == "scheduled collection",
                                     AuditEvent.outcome == "cancelled").count() == 1
    # the cancelled run is still owed: the next start runs it
    assert Linkage.get_by_id(linkage.id).last_scheduled_run_at < owed
    log = ctx.settings.log_file.read_text(encoding="utf-8")
    assert "scheduled collection of Intune due at" in log and "cancelled" in log and "daemon stopped" in log


@pytest.mark.timing
def test_sigterm_while_idle_exits_at_once(ctx, sim):
    intune_linkage(ctx, sim, "Intune")
    proc = start_daemon(ctx)
    wait_for(lambda: svc.daemon_status(ctx).running, 30, proc)
    started = time.monotonic()
    code, err = stop(proc)
    assert code == 0, err
    assert time.monotonic() - started < 5
    assert not svc.daemon_status(ctx).running and SchedulerState.select().count() == 0
