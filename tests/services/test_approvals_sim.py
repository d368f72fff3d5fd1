"""The two-person rule against the simulator: request -> approve -> exactly one wipe on the wire, and the
ways an approval must fail (own request, expired, device changed, a second approver racing)."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from datetime import timedelta

import pytest
from control_helpers import seed_from_mdm, sim_linkage, sim_requests

from mdmtui.config import RoleSettings
from mdmtui.errors import ActionRefused, UsageError
from mdmtui.storage.models import ApprovalRequest, AuditEvent, Device, DeviceAction, Event, utcnow
from mdmtui.records import Action, Outcome
from mdmtui.services import approvals, control
from mdmtui.sim import Simulator

WIPE = ("PUT", "/api/v2/devices/wipe")  # MobileIron Core's wipe
ROLES = RoleSettings(users={"alice": "admin", "bob": "admin", "carol": "admin", "olga": "operator"})


@pytest.fixture
def sim(monkeypatch):
    monkeypatch.setattr(control, "FOLLOW_FIRST_DELAY_S", 0.05)
    monkeypatch.setattr(control, "FOLLOW_MAX_DELAY_S", 0.1)
    simulator = Simulator(seed=11, intune=0, mobileiron=4, sdm=0).start()
    yield simulator
    simulator.stop()


def user(ctx, name: str, roles: RoleSettings = ROLES):
    settings = ctx.settings.model_copy(update={"roles": roles})
    return dataclasses.replace(ctx, os_user=name, settings=settings)


@pytest.fixture
async def phone(ctx, sim) -> Device:
    devices = await seed_from_mdm(ctx, sim_linkage(ctx, sim, "mobileiron"))
    return next(d for d in devices if d.os_class == "M")


def wipes(sim) -> int:
    return sim_requests(sim, "mobileiron", *WIPE)


async def test_request_then_approval_sends_exactly_one_wipe_and_one_chain(ctx, sim, phone):
    [req] = approvals.create(user(ctx, "alice"), [phone.id], Action.WIPE, "stolen from the car, police ref 4711")
    assert req.state == "pending" and wipes(sim) == 0
    assert approvals.pending_count(ctx) == 1

    done = await approvals.approve(user(ctx, "bob"), req.id, follow_timeout=10)
    assert done.request.state == "approved" and done.request.decided_by == "bob"
    assert [o.outcome for o in done.outcomes] == [Outcome.SUCCEEDED]
    assert wipes(sim) == 1
    assert approvals.send_outcome(done.request) == "succeeded"
    assert approvals.pending_count(ctx) == 0

    chain = approvals.chain(ctx, req.id)
    assert [(e.category, e.action, e.outcome, e.os_user) for e in chain][:2] == [
        ("approval", "request.create", "pending", "alice"), ("approval", "request.approve", "approved", "bob")]
    mdm_answers = [e for e in chain if e.category == "action"]
    assert mdm_answers and mdm_answers[-1].outcome == "succeeded" and all(e.os_user == "bob" for e in mdm_answers)
    [row] = DeviceAction.select().where(DeviceAction.device == phone.id)
    assert row.id == done.request.action_id and '"requested_by": "alice"' in row.options
    assert '"approved_by": "bob"' in row.options
    kinds = [e.kind for e in Event.select().order_by(Event.id)]
    assert kinds.count("approval_requested") == 1 and kinds.count("approval_decided") == 1

    with pytest.raises(ActionRefused, match="is approved by bob, no longer pending"):
        await approvals.approve(user(ctx, "carol"), req.id)  # a second approval never sends again
    assert wipes(sim) == 1


async def test_the_requester_cannot_approve_their_own(ctx, sim, phone):
    [req] = approvals.create(user(ctx, "alice"), [phone.id], Action.WIPE, "leaver, device not returned")
    with pytest.raises(ActionRefused, match="alice asked for it: another admin must approve it"):
        await approvals.approve(user(ctx, "alice"), req.id)
    assert wipes(sim) == 0 and approvals.get(ctx, req.id).state == "pending"
    assert AuditEvent.select().where(AuditEvent.approval_id == req.id, AuditEvent.outcome == "refused").count() == 1


async def test_an_operator_can_neither_ask_nor_approve(ctx, sim, phone):
    from mdmtui.services.roles import PermissionDenied

    with pytest.raises(PermissionDenied):
        approvals.create(user(ctx, "olga"), [phone.id], Action.WIPE, "lost")
    [req] = approvals.create(user(ctx, "alice"), [phone.id], Action.WIPE, "lost")
    with pytest.raises(PermissionDenied, match="approving requests needs the admin role"):
        await approvals.approve(user(ctx, "olga"), req.id)
    assert wipes(sim) == 0


async def test_an_expired_request_cannot_be_approved(ctx, sim, phone):
    [req] = approvals.create(user(ctx, "alice"), [phone.id], Action.WIPE, "lost")
    assert req.expires_at - req.requested_at == timedelta(hours=24)  # the default expiry
    ApprovalRequest.update(expires_at=utcnow() - timedelta(seconds=1)).where(ApprovalRequest.id == req.id).execute()
    with pytest.raises(ActionRefused, match=rf"request #{req.id} is expired"):
        await approvals.approve(user(ctx, "bob"), req.id)
    assert wipes(sim) == 0 and approvals.get(ctx, req.id).state == "expired"
    assert [e.action for e in approvals.chain(ctx, req.id)] == ["request.create", "request.expire", "request.approve"]


@pytest.mark.parametrize("change,shown", [
    ({"serial_number": "SWAPPED-1"}, "serial number: {serial_number} → SWAPPED-1"),
    ({"imei": "990000862471854"}, "IMEI: {imei} → 990000862471854"),
    ({"mdm_device_id": "re-enrolled-99"}, "MDM id (re-enrolled?): {mdm_device_id} → re-enrolled-99"),
])
async def test_a_device_changed_since_the_request_is_not_wiped(ctx, sim, phone, change, shown):
    [req] = approvals.create(user(ctx, "alice"), [phone.id], Action.WIPE, "lost")
    old = {k: getattr(phone, k) or "(none)" for k in ("serial_number", "imei", "mdm_device_id")}
    Device.update(**change).where(Device.id == phone.id).execute()
    with pytest.raises(ActionRefused, match="the device changed since the request") as caught:
        await approvals.approve(user(ctx, "bob"), req.id)
    assert shown.format(**old) in str(caught.value)
    assert wipes(sim) == 0
    stored = approvals.get(ctx, req.id)
    assert stored.state == "void" and shown.format(**old) in stored.decision_note


async def test_a_deleted_device_is_not_wiped(ctx, sim, phone):
    [req] = approvals.create(user(ctx, "alice"), [phone.id], Action.WIPE, "lost")
    Device.delete().where(Device.id == phone.id).execute()
    with pytest.raises(ActionRefused, match="information was deleted"):
        await approvals.approve(user(ctx, "bob"), req.id)
    assert wipes(sim) == 0


async def test_a_rejected_request_is_never_sent(ctx, sim, phone):
    [req] = approvals.create(user(ctx, "alice"), [phone.id], Action.WIPE, "lost")
    assert approvals.reject(user(ctx, "bob"), req.id, "found in the office").state == "rejected"
    with pytest.raises(ActionRefused, match="is rejected by bob"):
        await approvals.approve(user(ctx, "carol"), req.id)
    assert wipes(sim) == 0
    assert [e.action for e in approvals.chain(ctx, req.id)][:2] == ["request.create", "request.reject"]


@pytest.mark.parametrize("text,message", [
    ("", "a justification is required"), ("   ", "a justification is required"),
    ("x" * 1025, "1025 characters; at most 1024"), ("line one\nline two", "without control characters"),
    ("\x1b[31mred", "without control characters"),
])
def test_a_bad_justification_is_refused(ctx, sim, phone, text, message):
    with pytest.raises(UsageError, match=message):
        approvals.create(user(ctx, "alice"), [phone.id], Action.WIPE, text)
    assert ApprovalRequest.select().count() == 0


def test_the_longest_justification_is_kept_whole(ctx, sim, phone):
    [req] = approvals.create(user(ctx, "alice"), [phone.id], Action.WIPE, "理" * 1024)
    assert approvals.get(ctx, req.id).justification == "理" * 1024


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_two_admins_approving_at_once_send_exactly_one_wipe(ctx, sim, phone, monkeypatch):
    """Two threads, two PostgreSQL connections, both past every check before either claims."""
    [req] = approvals.create(user(ctx, "alice"), [phone.id], Action.WIPE, "stolen")
    both_checked = threading.Barrier(2, timeout=10)
    original = approvals.device_changes

    def checked_then_wait(row):
        changes = original(row)
        both_checked.wait()  # each approver has seen "pending" and an unchanged device
        return changes

    monkeypatch.setattr(approvals, "device_changes", checked_then_wait)
    results: dict[str, object] = {}

    def approver(name: str) -> None:
        ctx.db.connect(reuse_if_open=True)  # a connection of this thread's own
        try:
            results[name] = asyncio.run(approvals.approve(user(ctx, name), req.id, follow_timeout=10))
        except Exception as exc:  # noqa: BLE001 - the loser's refusal is the expected outcome
            results[name] = exc
        finally:
            ctx.db.close()

    threads = [threading.Thread(target=approver, args=(n,)) for n in ("bob", "carol")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    won = [n for n, r in results.items() if isinstance(r, approvals.Approved)]
    lost = [r for r in results.values() if isinstance(r, ActionRefused)]
    assert len(won) == 1 and len(lost) == 1, results
    assert "a moment ago; nothing was sent" in str(lost[0])
    assert wipes(sim) == 1
    assert DeviceAction.select().where(DeviceAction.device == phone.id).count() == 1
    assert approvals.get(ctx, req.id).decided_by == won[0]


async def test_an_approval_cannot_be_replayed_or_forged(ctx, sim, phone):
    [req] = approvals.create(user(ctx, "alice"), [phone.id], Action.WIPE, "stolen")
    forged = control.Approval(req.id, "alice", "bob")
    with pytest.raises(ActionRefused, match="does not approve this send"):  # still pending: not approved
        await control.act(user(ctx, "bob"), [phone.id], Action.WIPE, approval=forged)
    await approvals.approve(user(ctx, "bob"), req.id, follow_timeout=10)
    with pytest.raises(ActionRefused, match="does not approve this send"):  # sent once already
        await control.act(user(ctx, "bob"), [phone.id], Action.WIPE, approval=forged)
    assert wipes(sim) == 1
