"""storage.runs: the one place a run's end is written (the collection service and the daemon alike)."""

from __future__ import annotations

from datetime import timedelta

from mdmtui.storage import runs
from mdmtui.storage.models import CollectionRun, Device

from collect_helpers import plain_linkage


def _start(linkage, **kw):
    return runs.start(linkage_id=linkage.id, linkage_name=linkage.name, trigger=kw.pop("trigger", "scheduled"),
                      kind="full", started_at=runs.utcnow(), host="h", pid=1, **kw)


def test_record_end_writes_counts_and_the_inventory_total(ctx):
    linkage = plain_linkage()
    Device.create(linkage=linkage, linkage_name=linkage.name, mdm_device_id="m1", os_class="M")
    run_id = _start(linkage)
    end = runs.RunEnd("succeeded", None, runs.utcnow(), runs.RunCounts(new=1, pages=2, devices_seen=3))
    assert runs.record_end([run_id], end, inventory_of=linkage.id) == 1
    row = CollectionRun.get_by_id(run_id)
    assert (row.status, row.new, row.pages, row.devices_seen, row.inventory_total) == ("succeeded", 1, 2, 3, 1)


def test_record_end_only_running_leaves_an_ended_run_alone(ctx):
    linkage = plain_linkage()
    ended, running = _start(linkage), _start(linkage)
    runs.record_end([ended], runs.RunEnd("succeeded", "ok", runs.utcnow()))
    assert runs.record_end([ended, running], runs.RunEnd("failed", "gone", runs.utcnow()), only_running=True) == 1
    assert CollectionRun.get_by_id(ended).status == "succeeded"
    assert (CollectionRun.get_by_id(running).status, CollectionRun.get_by_id(running).reason) == ("failed", "gone")
    assert runs.runs_after(linkage.id, ended, "scheduled") == [running]
    assert runs.newest_run_id(linkage.id) == running


def test_the_scheduler_role_is_claimed_refreshed_and_left(ctx):
    now = runs.utcnow()
    runs.claim_scheduler("a", 1, now)
    assert runs.other_scheduler("b", 2, now, timedelta(minutes=3)).host == "a"
    assert runs.other_scheduler("a", 1, now, timedelta(minutes=3)) is None
    runs.leave_scheduler("a", 1)
    runs.beat_scheduler("b", 2, now)  # no row any more: the role is claimed again
    assert runs.other_scheduler("a", 1, now, timedelta(minutes=3)).pid == 2
