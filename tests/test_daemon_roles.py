"""The daemon obeys roles like the CLI and the console: a daemon user without the operator role collects
nothing, and the failed run says why."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "services"))
from schedule_helpers import Clock, intune_linkage, inventory, utc  # noqa: E402

from mdmtui.config import RoleSettings  # noqa: E402
from mdmtui.daemon import Daemon  # noqa: E402
from mdmtui.storage.models import AuditEvent, CollectionRun  # noqa: E402
from mdmtui.recurrence import Schedule  # noqa: E402
from mdmtui.services import schedule as svc  # noqa: E402
from mdmtui.sim import Simulator  # noqa: E402


async def test_a_viewer_daemon_collects_nothing_and_says_why(ctx):
    with Simulator(seed=5, intune=5, mobileiron=1, sdm=1) as sim:
        intune_linkage(ctx, sim, "Intune")
        svc.set_schedule(ctx, "Intune", Schedule(start_at="2026-01-01T06:00", interval="daily", tz="UTC"),
                         now=utc(2026, 1, 1))
        viewer = dataclasses.replace(ctx, os_user="mdmtui-daemon", settings=ctx.settings.model_copy(
            update={"roles": RoleSettings(users={"mdmtui-daemon": "viewer"})}))
        async with Daemon(viewer, clock=Clock(utc(2026, 1, 1)), tick_s=0.05, busy_poll_s=0.05) as daemon:
            [outcome] = await daemon.run_once(utc(2026, 1, 2, 6, 0, 30))
    assert outcome.status == "failed" and "collection needs the operator role" in outcome.reason
    assert [r.status for r in CollectionRun.select()] == ["failed"]
    assert inventory("Intune") == {}
    assert AuditEvent.select().where(AuditEvent.category == "access", AuditEvent.os_user == "mdmtui-daemon").exists()
