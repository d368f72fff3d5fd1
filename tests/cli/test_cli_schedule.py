"""``mdmtui schedule list|set|clear`` and ``mdmtui daemon`` from the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "services"))
from schedule_helpers import add_linkage, intune_linkage, utc  # noqa: E402

from mdmtui.cli import main  # noqa: E402
from mdmtui.config import load_settings  # noqa: E402
from mdmtui.storage.models import AuditEvent, CollectionRun, Linkage, SchedulerState  # noqa: E402
from mdmtui.services.context import open_context  # noqa: E402


@pytest.fixture
def linkages(tmp_path):
    """Two linkages in the CLI's default (data directory) database."""
    ctx = open_context(load_settings())
    add_linkage("SDM 01")
    add_linkage("東京 Intune", system="intune", server_url="https://graph.microsoft.com")
    yield ctx
    ctx.db.close()


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_set_previews_the_next_runs_in_local_time(capsys, tokyo, linkages):
    code, out, err = run(capsys, "schedule", "set", "SDM 01", "--start-at", "2030-12-01 09:00",
                         "--interval", "weekly", "--every", "2", "--weekdays", "mon,thu")
    assert code == 0, err
    assert "SDM 01: every 2 weeks on Mon, Thu at 09:00 (server local time)" in out
    # 2030-12-01 is a Sunday, the last day of its (Monday-first) week: the week after next is the next one
    assert [line.split("next: ")[1] for line in out.splitlines() if "next:" in line] == [
        "2030-12-09 09:00:00", "2030-12-12 09:00:00", "2030-12-23 09:00:00"]
    assert "no daemon is running" in err
    stored = Linkage.get(Linkage.name == "SDM 01")
    assert (stored.schedule_interval, stored.schedule_every, stored.schedule_weekdays) == ("weekly", 2, "0,3")


def test_list_shows_schedule_last_and_next_run_and_the_daemon(capsys, tokyo, linkages):
    assert run(capsys, "schedule", "set", "SDM 01", "--start-at", "2030-01-31 06:30", "--interval", "monthly",
               "--month-day", "31")[0] == 0
    sdm = Linkage.get(Linkage.name == "SDM 01")
    CollectionRun.create(linkage=sdm, linkage_name="SDM 01", trigger="immediate", status="failed",
                         started_at=utc(2029, 12, 31, 23, 0), reason="HTTP 503")
    code, out, _ = run(capsys, "schedule", "list")
    assert code == 0
    sdm_line = next(line for line in out.splitlines() if line.startswith("SDM 01"))
    assert "every month on day 31 (or the month's last day) at 06:30" in sdm_line
    assert "2030-01-01 08:00:00 failed" in sdm_line  # 23:00 UTC shown in Tokyo time
    assert "2030-01-31 06:30:00" in sdm_line
    assert "no schedule" in next(line for line in out.splitlines() if line.startswith("東京 Intune"))
    assert "daemon: NOT running" in out
    Linkage.update(enabled=False).where(Linkage.name == "SDM 01").execute()
    out = run(capsys, "schedule", "list")[1]
    assert next(line for line in out.splitlines() if line.startswith("SDM 01")).endswith("none: linkage disabled")
    Linkage.update(enabled=True).where(Linkage.name == "SDM 01").execute()

    code, out, _ = run(capsys, "schedule", "list", "--json")
    data = json.loads(out)
    by_name = {row["name"]: row for row in data["linkages"]}
    assert by_name["SDM 01"]["next_runs"][:2] == ["2030-01-31T06:30:00+09:00", "2030-02-28T06:30:00+09:00"]
    assert by_name["SDM 01"]["last_run"]["status"] == "failed"
    assert by_name["SDM 01"]["last_scheduled_run"] is None
    assert by_name["東京 Intune"]["schedule"] is None
    assert data["daemon"]["running"] is False


def test_list_reports_a_running_daemon(capsys, linkages):
    from mdmtui.storage.models import utcnow

    SchedulerState.create(host="srv-a", pid=321, heartbeat_at=utcnow())
    code, out, _ = run(capsys, "schedule", "list")
    assert code == 0 and "daemon: running on srv-a (pid 321)" in out


@pytest.mark.parametrize("argv, message", [
    (["--weekdays", "mon,someday"], "someday"),
    (["--start-at", "next tuesday"], "not a date and time"),
    (["--month-day", "12"], "--month-day applies only to --interval monthly"),
    (["--every", "0"], "every"),
    (["--tz", "Mars/Base"], "unknown time zone"),
])
def test_bad_input_exits_2_and_changes_nothing(capsys, linkages, argv, message):
    base = {"--start-at": "2030-12-01 09:00", "--interval": "weekly"}
    for flag, value in zip(argv[::2], argv[1::2]):
        base[flag] = value
    args = [item for pair in base.items() for item in pair]
    code, _, err = run(capsys, "schedule", "set", "SDM 01", *args)
    assert code == 2 and message in err
    assert Linkage.get(Linkage.name == "SDM 01").schedule_interval is None
    assert AuditEvent.select().count() == 0


def test_unknown_linkage_and_read_only_exit_1(capsys, linkages):
    code, _, err = run(capsys, "schedule", "set", "nope", "--start-at", "2030-12-01 09:00", "--interval", "daily")
    assert code == 1 and "no linkage named 'nope'" in err
    code, _, err = run(capsys, "--read-only", "schedule", "clear", "SDM 01")
    assert code == 1 and "read-only" in err


def test_clear_removes_the_schedule(capsys, linkages):
    run(capsys, "schedule", "set", "SDM 01", "--start-at", "2030-12-01 09:00", "--interval", "daily")
    code, out, _ = run(capsys, "schedule", "clear", "SDM 01")
    assert code == 0 and "SDM 01: no schedule" in out
    assert Linkage.get(Linkage.name == "SDM 01").schedule_interval is None


def test_daemon_once_with_nothing_due_and_a_bad_tick(capsys, linkages):
    code, out, _ = run(capsys, "daemon", "--once")
    assert code == 0 and "nothing due" in out
    assert SchedulerState.select().count() == 0  # --once leaves the role when done
    code, _, err = run(capsys, "daemon", "--tick", "300")
    assert code == 2 and "tick" in err
    code, _, err = run(capsys, "daemon", "--grace", "-1")
    assert code == 2 and "grace period" in err


def test_daemon_refuses_read_only(capsys, linkages):
    code, _, err = run(capsys, "--read-only", "daemon", "--once")
    assert code == 1 and "read-only" in err


def test_daemon_once_collects_what_is_due_and_fails_with_status_1(capsys, linkages):
    from datetime import timedelta

    from mdmtui.storage.models import utcnow
    from mdmtui.recurrence import Schedule
    from mdmtui.services import schedule as svc
    from mdmtui.sim import Simulator
    from mdmtui.sim.faults import Faults

    with Simulator(seed=4, intune=12, mobileiron=1, sdm=1) as sim:
        intune_linkage(linkages, sim, "Intune")
        now = utcnow().replace(microsecond=0)
        daily = Schedule(start_at=(now - timedelta(days=5)).replace(tzinfo=None), interval="daily", tz="UTC")
        svc.set_schedule(linkages, "Intune", daily, now=now - timedelta(days=2))
        code, out, err = run(capsys, "daemon", "--once")
        assert code == 0, err
        assert out.startswith("Intune: due ") and out.rstrip().endswith(": succeeded")
        assert run(capsys, "daemon", "--once")[1].strip() == "nothing due"

        Linkage.update(last_scheduled_run_at=now - timedelta(days=2)).execute()
        sim.set_faults(Faults(rate_5xx=1.0, retry_after=0), mdm="intune")
        code, out, _ = run(capsys, "daemon", "--once")
    assert code == 1 and ": failed (" in out
    assert [r.status for r in CollectionRun.select().order_by(CollectionRun.id)] == ["succeeded", "failed"]


def test_a_changed_only_schedule_sits_beside_the_full_one(capsys, tokyo, linkages):
    assert run(capsys, "schedule", "set", "SDM 01", "--start-at", "2030-01-01 02:00", "--interval", "daily")[0] == 0
    code, out, err = run(capsys, "schedule", "set", "SDM 01", "--changed-only", "--start-at", "2030-01-01 00:00",
                         "--interval", "hourly", "--every", "2")
    assert code == 0, err
    assert "SDM 01: changed-only every 2 hours from 00:00 (server local time)" in out
    assert [line.split("next: ")[1] for line in out.splitlines() if "next:" in line] == [
        "2030-01-01 00:00:00", "2030-01-01 02:00:00", "2030-01-01 04:00:00"]
    sdm = Linkage.get(Linkage.name == "SDM 01")
    CollectionRun.create(linkage=sdm, linkage_name="SDM 01", trigger="scheduled", status="succeeded",
                         kind="changed", started_at=utc(2029, 12, 31, 23, 0))
    code, out, _ = run(capsys, "schedule", "list")
    line = next(line for line in out.splitlines() if line.startswith("SDM 01"))
    assert "every day at 02:00" in line and "every 2 hours from 00:00" in line and "succeeded (changed-only)" in line
    view = json.loads(run(capsys, "schedule", "list", "--json")[1])["linkages"]
    sdm_view = next(v for v in view if v["name"] == "SDM 01")
    assert sdm_view["schedule"]["interval"] == "daily" and sdm_view["changed_schedule"]["interval"] == "hourly"
    assert sdm_view["last_run"]["kind"] == "changed"
    assert run(capsys, "schedule", "clear", "SDM 01", "--changed-only")[1] == "SDM 01: no changed-only schedule\n"
    sdm = Linkage.get(Linkage.name == "SDM 01")
    assert sdm.changed_schedule is None and sdm.schedule_interval == "daily"


def test_hourly_is_refused_for_the_full_schedule(capsys, linkages):
    code, _, err = run(capsys, "schedule", "set", "SDM 01", "--start-at", "2030-01-01 00:00", "--interval", "hourly")
    assert code == 2 and "hourly applies only to a changed-only schedule" in err
    assert Linkage.get(Linkage.name == "SDM 01").schedule_interval is None
