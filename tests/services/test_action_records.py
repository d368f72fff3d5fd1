"""The action side of the services hands out typed records from storage, never Peewee rows (issue 13)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from control_helpers import FakeMdm, make_device, make_linkage
from peewee import Model

from mdmtui.records import Action
from mdmtui.recurrence import Schedule
from mdmtui.services import approvals, audit, control, events, locks, schedule
from mdmtui.storage.models import CollectionRun, Device, Linkage
from mdmtui.storage.records import (
    ActionRecord, ApprovalRecord, AuditRecord, EventRecord, LockRecord, ScheduledLinkage,
)


def _is_record(value: object, cls: type) -> bool:
    return isinstance(value, cls) and not isinstance(value, Model) and dataclasses.is_dataclass(value)


async def test_actions_audit_and_events_come_back_as_records(ctx):
    device = make_device(make_linkage("L1"), "M", "phone-1")
    [outcome] = await control.act(ctx, [device.id], Action.LOCK, connector_factory=FakeMdm().factory)
    [row] = control.list_actions(ctx, device_ids=[device.id])
    assert _is_record(row, ActionRecord)
    assert (row.id, row.device_id, row.device_name, row.outcome) == (outcome.action_id, device.id, "phone-1",
                                                                     "succeeded")
    entries = audit.query(ctx, device=device.id)
    assert entries and all(_is_record(e, AuditRecord) for e in entries)
    assert entries[0].device_name == "phone-1" and entries[0].action == "lock"
    event = events.emit("action_failed", "lock of phone-1: failed", device_id=device.id)
    assert _is_record(event, EventRecord) and not event.read
    assert [e.id for e in events.recent(kind="action_failed")] == [event.id]


def test_requests_come_back_as_records_with_the_device_as_stored_now(ctx):
    device = make_device(make_linkage("L1"), "M", "phone-2", serial="SN-A")
    [req] = approvals.create(ctx, [device.id], Action.LOCK, "lost in the office")
    assert _is_record(req, ApprovalRecord) and req.device_id == device.id
    assert [r.id for r in approvals.list_requests(ctx)] == [req.id]
    now = approvals.request_device(req)
    assert now is not None and (now.id, now.serial_number, now.computer_name) == (device.id, "SN-A", "phone-2")
    Device.update(serial_number="SN-B").where(Device.id == device.id).execute()
    assert approvals.request_device(req).serial_number == "SN-B"
    assert approvals.device_changes(req) == ["serial number: SN-A → SN-B"]
    Device.delete().where(Device.id == device.id).execute()
    assert approvals.request_device(req) is None


def test_a_request_chain_reads_only_that_requests_entries_oldest_first(ctx):
    linkage = make_linkage("L1")
    first, second = make_device(linkage, "M"), make_device(linkage, "M")
    [a] = approvals.create(ctx, [first.id], Action.LOCK, "first reason")
    [b] = approvals.create(ctx, [second.id], Action.LOCK, "second reason")
    approvals.reject(ctx, a.id, "not needed")
    chain = approvals.chain(ctx, a.id)
    assert [e.action for e in chain] == ["request.create", "request.reject"]
    assert {e.approval_id for e in chain} == {a.id}
    assert [e.action for e in audit.entries_of_request(b.id, b.requested_at - timedelta(seconds=1))] == [
        "request.create"]


def test_a_lock_holder_is_a_record(ctx):
    linkage = make_linkage("L1")
    held = locks.acquire(ctx, linkage)
    try:
        holder = locks.holder_of(linkage)
        assert _is_record(holder, LockRecord) and holder.owner == held.owner and holder.linkage_id == linkage.id
        assert held.still_held()
    finally:
        locks.release(held)
    assert locks.holder_of(linkage) is None and not held.still_held()


def test_linkage_schedules_lists_every_linkage_by_name_with_its_schedule(ctx):
    make_linkage("b-unscheduled")
    Linkage.update(enabled=False).where(Linkage.name == "b-unscheduled").execute()
    make_linkage("a-daily")
    start = datetime(2026, 1, 1, 6, 0)
    schedule.set_schedule(ctx, "a-daily", Schedule(start_at=start, interval="daily", tz="UTC"),
                          now=datetime(2026, 1, 1, tzinfo=UTC))
    rows = schedule.linkage_schedules(ctx)
    assert [r.name for r in rows] == ["a-daily", "b-unscheduled"]
    assert all(_is_record(r, ScheduledLinkage) for r in rows)
    assert schedule.schedule_of(rows[0]).interval == "daily" and schedule.schedule_of(rows[1]) is None
    assert [r.enabled for r in rows] == [True, False]
    [(due, when)] = schedule.due_linkages(ctx, datetime(2026, 1, 2, 7, tzinfo=UTC))
    assert _is_record(due, ScheduledLinkage) and due.name == "a-daily" and when == datetime(2026, 1, 2, 6, tzinfo=UTC)


def test_last_run_reads_the_newest_and_the_newest_scheduled_run(ctx):
    linkage = make_linkage("L1")
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    CollectionRun.create(linkage=linkage, linkage_name="L1", trigger="scheduled", status="succeeded", started_at=t0)
    CollectionRun.create(linkage=linkage, linkage_name="L1", trigger="immediate", status="failed",
                         started_at=t0 + timedelta(hours=1), reason="boom")
    last = schedule.last_run(linkage)
    assert (last.any.status, last.any.reason, last.scheduled.status) == ("failed", "boom", "succeeded")
    assert last.scheduled.started_at == t0


@pytest.mark.parametrize("changed_only", [False, True])
def test_mark_handled_never_moves_backwards(ctx, changed_only):
    linkage = make_linkage("L1")
    later, earlier = datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)
    assert schedule.mark_handled(linkage.id, later, changed_only=changed_only)
    assert not schedule.mark_handled(linkage.id, earlier, changed_only=changed_only)
    stored = Linkage.get_by_id(linkage.id)
    assert stored.last_changed_run_at == later
    assert stored.last_scheduled_run_at == (None if changed_only else later)
