"""services/control.act against a scriptable connector: the recorded outcome and audit entry of each case."""

from __future__ import annotations

import asyncio
import json

import pytest
from control_helpers import (
    PENDING_FOREVER, PENDING_THEN_DONE, PROFILE_REMOVED, SYSTEM_OF, Behaviour, FakeMdm, audit_for, make_device,
    make_linkage, rows_for, throttled_then_ok, timeout_behaviour,
)

from mdmtui.errors import AuthenticationFailed, ConfigurationError, MdmRequestError, NotFoundError
from mdmtui.storage.models import AuditEvent, Device, DeviceAction, Event
from mdmtui.records import Action, Outcome, WipeOptions
from mdmtui.services import control

REFUSED_CELLS = {("IP", Action.LOCK), ("IS", Action.RESET_PASSCODE), ("IP", Action.RESET_PASSCODE)}


@pytest.fixture(autouse=True)
def _fast_follow(monkeypatch):
    monkeypatch.setattr(control, "FOLLOW_FIRST_DELAY_S", 0.01)
    monkeypatch.setattr(control, "FOLLOW_MAX_DELAY_S", 0.02)


def one(ctx, os_class="M", **kw):
    linkage = make_linkage(f"L-{os_class}", SYSTEM_OF[os_class])
    return make_device(linkage, os_class, **kw)


@pytest.mark.parametrize("os_class", ["Si", "SA", "M", "IS", "IP"])
@pytest.mark.parametrize("action", list(Action))
async def test_matrix_cell_is_enforced_before_sending(ctx, os_class, action):
    device = one(ctx, os_class)
    mdm = FakeMdm()
    [out] = await control.act(ctx, [device.id], action, connector_factory=mdm.factory)
    [row] = rows_for(device)
    [entry] = audit_for(device)
    if (os_class, action) in REFUSED_CELLS:
        assert out.outcome is Outcome.REFUSED and mdm.sent == []
        assert "Intune" in out.result.message
        assert row.outcome == "refused" and row.message == out.result.message
        assert entry.outcome == "refused" and "Intune" in entry.message
    else:
        assert out.outcome is Outcome.SUCCEEDED
        assert mdm.sent_ids(action.value) == [device.mdm_device_id]
        assert row.outcome == "succeeded" and row.request_id == f"req-send-{device.mdm_device_id}"
        assert entry.outcome == "succeeded" and entry.request_id == row.request_id
    assert entry.category == "action" and entry.action == action.value
    assert entry.device_name == device.computer_name and entry.linkage_name == device.linkage_name
    assert entry.os_user == ctx.os_user and entry.host == ctx.host


async def test_pending_action_is_followed_until_the_mdm_reports_it_done(ctx):
    device = one(ctx, "IS")
    mdm = FakeMdm({device.mdm_device_id: PENDING_THEN_DONE})
    [out] = await control.act(ctx, [device.id], Action.LOCK, connector_factory=mdm.factory, follow_timeout=5)
    assert out.outcome is Outcome.SUCCEEDED
    assert len(mdm.follow_ups) == 2
    assert [r.outcome for r in rows_for(device)] == ["succeeded"]
    assert [e.outcome for e in audit_for(device)] == ["pending", "succeeded"]
    # the original command's request id stays with the action
    assert rows_for(device)[0].request_id == f"req-send-{device.mdm_device_id}"


async def test_accepted_is_not_done_pending_then_follow_up_pending(ctx):
    device = one(ctx, "IS")
    mdm = FakeMdm({device.mdm_device_id: PENDING_FOREVER})
    [out] = await control.act(ctx, [device.id], Action.WIPE, connector_factory=mdm.factory, follow_timeout=0.05)
    assert out.outcome is Outcome.PENDING
    assert rows_for(device)[0].outcome == "pending"
    assert Device.get_by_id(device.id).device_status == "Unknown"  # not wiped yet
    assert Event.select().where(Event.kind == "action_pending", Event.device_id == device.id).count() == 1

    mdm.behaviours[device.mdm_device_id] = Behaviour(follow=[Outcome.SUCCEEDED], message="done")
    later = await control.follow_up_pending(ctx, connector_factory=mdm.factory)
    assert [o.outcome for o in later] == [Outcome.SUCCEEDED]
    assert rows_for(device)[0].outcome == "succeeded"
    assert Device.get_by_id(device.id).device_status == "Warning"
    entries = audit_for(device)
    assert [e.outcome for e in entries] == ["pending", "succeeded"]
    assert entries[-1].message.startswith("follow-up:")
    assert mdm.sent_ids() == [device.mdm_device_id]  # followed, never re-sent


async def test_follow_up_pending_leaves_still_pending_actions_alone(ctx):
    device = one(ctx, "IS")
    mdm = FakeMdm({device.mdm_device_id: PENDING_FOREVER})
    await control.act(ctx, [device.id], Action.LOCK, connector_factory=mdm.factory, follow=False)
    later = await control.follow_up_pending(ctx, [device.id], connector_factory=mdm.factory)
    assert [o.outcome for o in later] == [Outcome.PENDING]
    assert len(audit_for(device)) == 1


async def test_profile_removed_device_ends_as_failure_with_the_mdm_code(ctx):
    device = one(ctx, "M")
    mdm = FakeMdm({device.mdm_device_id: PROFILE_REMOVED})
    [out] = await control.act(ctx, [device.id], Action.WIPE, connector_factory=mdm.factory)
    assert out.outcome is Outcome.FAILED
    [row] = rows_for(device)
    assert row.outcome == "failed" and row.mdm_code == PROFILE_REMOVED.code
    assert "profile was removed" in row.message
    [entry] = audit_for(device)
    assert entry.outcome == "failed" and PROFILE_REMOVED.code in entry.message
    assert Device.get_by_id(device.id).device_status == "Unknown"
    assert Event.select().where(Event.kind == "action_failed", Event.device_id == device.id).count() == 1


async def test_pending_that_fails_later_is_recorded_as_failed(ctx):
    device = one(ctx, "Si")
    mdm = FakeMdm({device.mdm_device_id: Behaviour(send=[Outcome.PENDING], follow=[Outcome.FAILED],
                                                   message="profile removed")})
    [out] = await control.act(ctx, [device.id], Action.LOCK, connector_factory=mdm.factory, follow_timeout=5)
    assert out.outcome is Outcome.FAILED
    assert [e.outcome for e in audit_for(device)] == ["pending", "failed"]


async def test_wipe_timeout_without_mdm_state_is_unknown_and_never_resent(ctx):
    device = one(ctx, "M")
    mdm = FakeMdm({device.mdm_device_id: timeout_behaviour()})
    [out] = await control.act(ctx, [device.id], Action.WIPE, connector_factory=mdm.factory)
    assert out.outcome is Outcome.UNKNOWN
    assert "not sent again" in out.result.message
    assert len([c for c in mdm.follow_ups]) == 1  # the MDM's state was asked once
    assert mdm._counters[("send", device.mdm_device_id)] == 1  # sent exactly once
    [row] = rows_for(device)
    assert row.outcome == "unknown" and "not sent again" in row.message
    [entry] = audit_for(device)
    assert entry.outcome == "unknown" and entry.action == "wipe"
    assert Device.get_by_id(device.id).device_status == "Unknown"
    assert Event.select().where(Event.kind == "action_failed", Event.device_id == device.id).count() == 1


async def test_wipe_timeout_resolved_from_the_mdm_state(ctx):
    device = one(ctx, "IS")
    mdm = FakeMdm({device.mdm_device_id: timeout_behaviour(Outcome.SUCCEEDED)})
    [out] = await control.act(ctx, [device.id], Action.WIPE, connector_factory=mdm.factory)
    assert out.outcome is Outcome.SUCCEEDED
    assert "state was checked" in out.result.message
    assert mdm._counters[("send", device.mdm_device_id)] == 1
    assert rows_for(device)[0].outcome == "succeeded"
    assert [e.outcome for e in audit_for(device)] == ["succeeded"]
    assert Device.get_by_id(device.id).device_status == "Warning"


async def test_successful_wipe_sets_warning_and_records_safe_default_options(ctx):
    device = one(ctx, "IS")
    mdm = FakeMdm()
    [out] = await control.act(ctx, [device.id], Action.WIPE, connector_factory=mdm.factory)
    assert out.outcome is Outcome.SUCCEEDED
    assert Device.get_by_id(device.id).device_status == "Warning"
    sent_options = mdm.sent[0][2]
    assert sent_options == WipeOptions()  # keep nothing
    expected = {"keep_enrollment_data": False, "keep_user_data": False, "persist_esim_data_plan": False}
    assert json.loads(rows_for(device)[0].options) == expected
    assert json.loads(audit_for(device)[0].options) == expected


async def test_intune_wipe_options_are_passed_and_recorded(ctx):
    device = one(ctx, "IS")
    mdm = FakeMdm()
    options = WipeOptions(keep_enrollment_data=True, persist_esim_data_plan=True)
    await control.act(ctx, [device.id], Action.WIPE, options, connector_factory=mdm.factory)
    assert mdm.sent[0][2] == options
    recorded = json.loads(audit_for(device)[0].options)
    assert recorded["keep_enrollment_data"] is True and recorded["persist_esim_data_plan"] is True


@pytest.mark.parametrize("os_class", ["M", "Si", "SA"])
async def test_keep_options_are_refused_where_the_mdm_has_none(ctx, os_class):
    device = one(ctx, os_class)
    mdm = FakeMdm()
    [out] = await control.act(ctx, [device.id], Action.WIPE, WipeOptions(keep_user_data=True),
                              connector_factory=mdm.factory)
    assert out.outcome is Outcome.REFUSED and mdm.sent == []
    assert "keep user data" in out.result.message
    assert audit_for(device)[0].outcome == "refused"


async def test_throttling_is_honoured_and_the_command_is_accepted_in_the_end(ctx):
    device = one(ctx, "Si")
    mdm = FakeMdm({device.mdm_device_id: throttled_then_ok(3, retry_after=0.05)})
    [out] = await control.act(ctx, [device.id], Action.LOCK, connector_factory=mdm.factory)
    assert out.outcome is Outcome.SUCCEEDED
    gaps = [b - a for a, b in zip(mdm.send_times, mdm.send_times[1:])]
    assert len(gaps) == 3 and all(g >= 0.045 for g in gaps)  # Retry-After waited each time
    assert [r.outcome for r in rows_for(device)] == ["succeeded"]
    assert [e.outcome for e in audit_for(device)] == ["succeeded"]


async def test_throttle_pause_holds_every_sender_of_the_linkage(ctx):
    linkage = make_linkage("L", "sdm")
    devices = [make_device(linkage, "Si") for _ in range(6)]
    mdm = FakeMdm({devices[0].mdm_device_id: throttled_then_ok(1, retry_after=0.2)}, latency=0.01)
    ctx.settings.action_concurrency = 2
    outs = await control.act(ctx, [d.id for d in devices], Action.LOCK, connector_factory=mdm.factory)
    assert all(o.outcome is Outcome.SUCCEEDED for o in outs)
    first_429 = mdm.send_times[0]
    after = [t for t in mdm.send_times if t > first_429 + 0.015]
    assert after and min(after) >= first_429 + 0.19  # nobody sent during the Retry-After


async def test_endless_throttling_ends_as_failure_with_429(ctx, monkeypatch):
    monkeypatch.setattr(control, "THROTTLE_RETRIES", 2)
    device = one(ctx, "SA")
    mdm = FakeMdm({device.mdm_device_id: throttled_then_ok(10, retry_after=0.01)})
    [out] = await control.act(ctx, [device.id], Action.LOCK, connector_factory=mdm.factory)
    assert out.outcome is Outcome.FAILED and out.result.http_status == 429
    assert mdm.sent == []
    [row] = rows_for(device)
    assert row.outcome == "failed" and row.http_status == 429
    assert audit_for(device)[0].outcome == "failed"


async def test_bulk_concurrency_is_bounded_and_every_device_gets_its_outcome(ctx):
    linkage = make_linkage("L", "mobileiron")
    devices = [make_device(linkage, "M") for _ in range(40)]
    failing = devices[7]
    # each answer takes long enough for all four slots to fill although every sender first writes its row
    # through the run's one database thread (with 10 ms, the first answers could come before the fourth row was
    # written on a loaded PostgreSQL, and fewer than four were ever in flight)
    mdm = FakeMdm({failing.mdm_device_id: PROFILE_REMOVED}, latency=0.2)
    ctx.settings.action_concurrency = 4
    ticks = []
    outs = await control.act(ctx, [d.id for d in devices], Action.LOCK, connector_factory=mdm.factory,
                             progress=ticks.append)
    assert mdm.max_in_flight == 4
    assert [o.device_id for o in outs] == [d.id for d in devices]
    assert sum(o.outcome is Outcome.SUCCEEDED for o in outs) == 39
    assert outs[7].outcome is Outcome.FAILED
    assert [t.done for t in ticks] == list(range(1, 41)) and ticks[-1].total == 40
    assert control.summarize(outs) == {"succeeded": 39, "failed": 1}
    assert DeviceAction.select().count() == 40
    assert AuditEvent.select().where(AuditEvent.category == "action").count() == 40
    assert mdm.closed == 1


async def test_cancel_stops_sending_and_reports_what_was_sent(ctx):
    linkage = make_linkage("L", "mobileiron")
    devices = [make_device(linkage, "M") for _ in range(30)]
    mdm = FakeMdm(latency=0.01)
    ctx.settings.action_concurrency = 2
    cancel = asyncio.Event()

    def progress(tick):
        if tick.done == 5:
            cancel.set()

    outs = await control.act(ctx, [d.id for d in devices], Action.WIPE, connector_factory=mdm.factory,
                             progress=progress, cancel=cancel)
    sent = {o.device_id for o in outs if o.outcome is Outcome.SUCCEEDED}
    cancelled = {o.device_id for o in outs if o.outcome is Outcome.CANCELLED}
    # in flight when the 5th settled: up to 2 awaiting their answer and 2 more whose answer is being recorded
    # (recording runs in the database thread, after the MDM slot is freed)
    assert 5 <= len(sent) <= 9 and len(sent) + len(cancelled) == 30
    assert len(mdm.sent) == len(sent)  # what was sent is exactly what is reported as sent
    for device in devices:
        [row] = rows_for(device)
        [entry] = audit_for(device)
        assert row.outcome == entry.outcome == ("succeeded" if device.id in sent else "cancelled")


async def test_cancel_stops_following_and_leaves_the_action_pending(ctx):
    device = one(ctx, "IS")
    mdm = FakeMdm({device.mdm_device_id: PENDING_FOREVER})
    cancel = asyncio.Event()
    task = asyncio.create_task(control.act(ctx, [device.id], Action.LOCK, connector_factory=mdm.factory,
                                           cancel=cancel, follow_timeout=30))
    for _ in range(400):  # cancel once the lock is sent and being followed (not by the clock: CI is loaded)
        if mdm.sent_ids():
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    cancel.set()
    [out] = await asyncio.wait_for(task, 10)
    assert out.outcome is Outcome.PENDING
    assert rows_for(device)[0].outcome == "pending"


async def test_read_only_refuses_everything_and_records_it(ctx):
    ctx.settings.read_only = True
    devices = [one(ctx, c) for c in ("M", "Si", "IS")]
    mdm = FakeMdm()
    outs = await control.act(ctx, [d.id for d in devices], Action.LOCK, connector_factory=mdm.factory)
    assert [o.outcome for o in outs] == [Outcome.REFUSED] * 3
    assert mdm.sent == []
    for device in devices:
        assert rows_for(device)[0].outcome == "refused"
        [entry] = audit_for(device)
        assert entry.outcome == "refused" and "read-only" in entry.message


async def test_new_passcode_is_returned_once_and_never_stored(ctx):
    device = one(ctx, "M")
    code = "739164"
    mdm = FakeMdm({device.mdm_device_id: Behaviour(new_passcode=code, message=f"new passcode {code}")})
    [out] = await control.act(ctx, [device.id], Action.RESET_PASSCODE, connector_factory=mdm.factory)
    assert out.result.new_passcode == code
    assert code not in out.result.message
    for row in DeviceAction.select():
        assert code not in json.dumps(row.__data__, default=str)
    for entry in AuditEvent.select():
        assert code not in json.dumps(entry.__data__, default=str)
    assert code not in ctx.settings.audit_log_file.read_text()
    assert all(code not in e.message for e in Event.select())


async def test_rejected_credentials_stop_sending_to_that_linkage(ctx):
    linkage = make_linkage("L", "sdm")
    devices = [make_device(linkage, "Si") for _ in range(5)]
    ctx.settings.action_concurrency = 1
    mdm = FakeMdm(default=Behaviour(send=[AuthenticationFailed("401: invalid credentials")]))
    outs = await control.act(ctx, [d.id for d in devices], Action.LOCK, connector_factory=mdm.factory)
    assert [o.outcome for o in outs] == [Outcome.FAILED] * 5
    assert mdm._counters[("send", devices[0].mdm_device_id)] == 1
    assert all(("send", d.mdm_device_id) not in mdm._counters for d in devices[1:])
    assert all("not sent" in o.result.message for o in outs[1:])
    assert all(audit_for(d)[0].outcome == "failed" for d in devices)


async def test_mdm_error_status_is_kept(ctx):
    device = one(ctx, "IS")
    error = MdmRequestError("ResourceNotFound: the device is gone", status=404, code="ResourceNotFound",
                            request_id="rid-404")
    mdm = FakeMdm({device.mdm_device_id: Behaviour(send=[error])})
    [out] = await control.act(ctx, [device.id], Action.LOCK, connector_factory=mdm.factory)
    assert out.outcome is Outcome.FAILED
    [row] = rows_for(device)
    assert (row.http_status, row.mdm_code, row.request_id) == (404, "ResourceNotFound", "rid-404")
    [entry] = audit_for(device)
    assert entry.request_id == "rid-404" and "HTTP 404" in entry.message


async def test_unexpected_connector_error_is_unknown_not_a_crash(ctx):
    linkage = make_linkage("L", "mobileiron")
    bad, good = make_device(linkage, "M"), make_device(linkage, "M")
    mdm = FakeMdm({bad.mdm_device_id: Behaviour(send=[KeyError("deviceResults")],
                                                follow=[Outcome.UNKNOWN])})
    outs = await control.act(ctx, [bad.id, good.id], Action.WIPE, connector_factory=mdm.factory)
    assert [o.outcome for o in outs] == [Outcome.UNKNOWN, Outcome.SUCCEEDED]
    assert audit_for(bad)[0].outcome == "unknown"


async def test_unusable_linkage_fails_its_devices_without_sending(ctx):
    device = one(ctx, "M")
    mdm = FakeMdm()
    mdm.refuse_factory = ConfigurationError("the secret key cannot decrypt the password")
    [out] = await control.act(ctx, [device.id], Action.LOCK, connector_factory=mdm.factory)
    assert out.outcome is Outcome.FAILED and "not sent" in out.result.message
    assert audit_for(device)[0].outcome == "failed"


async def test_device_of_a_removed_linkage_is_refused(ctx):
    device = make_device(None, "M")
    mdm = FakeMdm()
    [out] = await control.act(ctx, [device.id], Action.LOCK, connector_factory=mdm.factory)
    assert out.outcome is Outcome.REFUSED and "linkage was removed" in out.result.message
    assert audit_for(device)[0].outcome == "refused"


async def test_unknown_device_ids_send_and_record_nothing(ctx):
    device = one(ctx, "M")
    mdm = FakeMdm()
    with pytest.raises(NotFoundError, match="99999"):
        await control.act(ctx, [device.id, 99999], Action.WIPE, connector_factory=mdm.factory)
    assert mdm.sent == [] and DeviceAction.select().count() == 0 and AuditEvent.select().count() == 0


async def test_dry_run_sends_and_records_nothing(ctx):
    ok, pc = one(ctx, "IS"), one(ctx, "IP")
    mdm = FakeMdm()
    outs = await control.act(ctx, [ok.id, pc.id], Action.LOCK, dry_run=True, connector_factory=mdm.factory)
    assert [o.outcome for o in outs] == [Outcome.PENDING, Outcome.REFUSED]
    assert all(o.dry_run for o in outs)
    assert "would send lock to Intune" in outs[0].result.message
    assert mdm.sent == [] and DeviceAction.select().count() == 0 and AuditEvent.select().count() == 0


async def test_devices_of_several_linkages_each_use_their_own_connector(ctx):
    a, b = make_linkage("A", "sdm"), make_linkage("B", "intune")
    devices = [make_device(a, "SA"), make_device(b, "IS"), make_device(a, "Si")]
    mdm = FakeMdm()
    outs = await control.act(ctx, [d.id for d in devices] + [devices[0].id], Action.LOCK,
                             connector_factory=mdm.factory)
    assert [o.device_id for o in outs] == [d.id for d in devices]  # repeats dropped, order kept
    assert mdm.closed == 2 and len(mdm.sent) == 3


async def test_an_mdm_answer_with_nul_and_lone_surrogates_is_recorded_not_lost(ctx):
    """PostgreSQL text cannot hold NUL: the MDM's odd answer is stored with U+FFFD, the action recorded."""
    linkage = make_linkage("L", "mobileiron")
    device = make_device(linkage, "M")
    mdm = FakeMdm(default=Behaviour(send=[Outcome.FAILED], message="refused\x00by \ud800 policy", code="E\x00"))
    [out] = await control.act(ctx, [device.id], Action.LOCK, connector_factory=mdm.factory)
    assert out.outcome is Outcome.FAILED
    [row] = rows_for(device)
    assert row.message == "refused\ufffdby \ufffd policy" and row.mdm_code == "E\ufffd"
    [entry] = audit_for(device)
    assert "\x00" not in entry.message and "\ufffd" in entry.message
