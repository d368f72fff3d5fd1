"""``mdmtui collect`` as a real process: SIGTERM, SIGHUP and SIGINT mid-run cancel it cleanly (issue 11 #8).

Before, SIGTERM and SIGHUP ended the process at once: the run stayed "running" for good, no audit
entry was written and the lock was held for 3 minutes by a dead process.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "services"))
from collect_helpers import sim_linkage  # noqa: E402
from schedule_helpers import inventory  # noqa: E402

from mdmtui.storage.models import AuditEvent, CollectionLock, CollectionRun  # noqa: E402
from mdmtui.services.collection import collect  # noqa: E402
from mdmtui.sim import Simulator  # noqa: E402
from mdmtui.sim.faults import Faults  # noqa: E402

SIZE = 40
SIGNALS = [signal.SIGTERM, signal.SIGHUP, signal.SIGINT]


@pytest.fixture
def sim():
    with Simulator(seed=5, intune=SIZE, mobileiron=1, sdm=1) as s:
        yield s


def start_collect(ctx) -> subprocess.Popen:
    """``mdmtui collect`` on the test's database, in its own session (no terminal to share signals with)."""
    env = dict(os.environ, MDMTUI_DATA_DIR=str(ctx.settings.data_dir), MDMTUI_CONFIG_DIR=str(ctx.settings.config_dir),
               PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    if ctx.settings.database_url:
        env["MDMTUI_DATABASE_URL"] = ctx.settings.database_url
    return subprocess.Popen([sys.executable, "-m", "mdmtui", "collect", "--linkage", "Intune"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def wait_until_running(proc: subprocess.Popen, timeout: float = 30) -> CollectionRun:
    deadline = time.monotonic() + timeout
    while True:
        run = CollectionRun.get_or_none(CollectionRun.status == "running")
        if run is not None:
            return run
        if proc.poll() is not None:
            raise AssertionError(f"collect exited early ({proc.returncode}): {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("the collection never started")
        time.sleep(0.05)


def signal_and_wait(proc: subprocess.Popen, sig: signal.Signals, timeout: float) -> tuple[int, str, str, float]:
    sent = time.monotonic()
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"collect did not end within {timeout} s of {sig.name}") from None
    return proc.returncode, out, err, time.monotonic() - sent


def changed_mdm(ctx, sim) -> dict:
    """A first collection stored; then the MDM changes, so the next run would write: the inventory before."""
    sim_linkage(ctx, sim, "intune", page_size=5)
    assert asyncio.run(collect(ctx, "Intune")).status == "succeeded"
    before = inventory("Intune")
    sim.admin.remove("intune", sim.device_ids("intune")[0])
    sim.admin.add("intune")
    return before


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_a_signal_mid_run_cancels_records_audits_and_releases(ctx, sim, sig):
    before = changed_mdm(ctx, sim)
    sim.set_faults(Faults(latency_ms=300), mdm="intune")  # 9 pages: about 3 s
    proc = start_collect(ctx)
    run = wait_until_running(proc)
    time.sleep(1.0)  # a few pages staged

    code, out, err, _ = signal_and_wait(proc, sig, timeout=15)

    assert code == 128 + sig, (code, out, err)
    assert "Traceback" not in err and "cancelling; nothing of this run is written" in err
    assert out.strip().startswith("Intune: cancelled: cancelled by the admin"), out
    run = CollectionRun.get_by_id(run.id)
    assert run.status == "cancelled" and run.finished_at is not None
    [entry] = AuditEvent.select().where(AuditEvent.category == "collection", AuditEvent.outcome == "cancelled")
    assert entry.linkage_name == "Intune"
    assert CollectionLock.select().count() == 0  # released: the next collection starts at once
    assert inventory("Intune") == before  # nothing half-written


@pytest.mark.timing
@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_a_signal_while_the_mdm_hangs_ends_at_once(ctx, sim, sig):
    """The cancel does not wait for an answer that may never come (before, Ctrl-C waited for the page)."""
    before = changed_mdm(ctx, sim)
    proc = start_collect(ctx)
    sim.set_faults(Faults(hang_s=20), mdm="intune")
    wait_until_running(proc)
    time.sleep(1.0)  # the first request hangs

    code, out, err, took = signal_and_wait(proc, sig, timeout=15)
    sim.set_faults(None, mdm="intune")

    assert code == 128 + sig and "Traceback" not in err, err
    assert took < 10, took  # the hung request is abandoned
    assert CollectionRun.select().where(CollectionRun.status == "cancelled").count() == 1
    assert CollectionLock.select().count() == 0 and inventory("Intune") == before


def test_after_a_sigkill_the_next_collection_starts_at_once_and_closes_the_dead_run(ctx, sim):
    """SIGKILL cannot be handled: the lock of the dead PID is taken over at once (not after 3 minutes)."""
    changed_mdm(ctx, sim)
    sim.set_faults(Faults(latency_ms=300), mdm="intune")
    proc = start_collect(ctx)
    killed = wait_until_running(proc)
    proc.kill()
    proc.communicate(timeout=10)
    assert CollectionLock.select().count() == 1  # left behind by the dead process
    sim.set_faults(None, mdm="intune")

    summary = asyncio.run(collect(ctx, "Intune"))

    assert summary.status == "succeeded", summary.reason
    killed = CollectionRun.get_by_id(killed.id)
    assert killed.status == "failed" and killed.reason.startswith(f"interrupted: process {proc.pid} on ")
    assert AuditEvent.select().where(AuditEvent.outcome == "failed", AuditEvent.message == killed.reason).count() == 1
    assert CollectionLock.select().count() == 0
