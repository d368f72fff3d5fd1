"""Control through the real connectors against the simulator: each matrix cell, profile removal, lost
answers, throttling, read-only — asserting the recorded outcome and the audit entry."""

from __future__ import annotations

import asyncio

import pytest
from control_helpers import audit_for, rows_for, seed_from_mdm, sim_linkage, sim_requests

from mdmtui.storage.models import Device, Event
from mdmtui.records import Action, Outcome
from mdmtui.services import control
from mdmtui.sim import Faults, Simulator

SYSTEM = {"Si": "sdm", "SA": "sdm", "M": "mobileiron", "IS": "intune", "IP": "intune"}
REFUSED = {("IP", Action.LOCK), ("IS", Action.RESET_PASSCODE), ("IP", Action.RESET_PASSCODE)}
# the request each action sends, per MDM (method, a part of the path)
WIRE = {
    ("intune", Action.LOCK): ("POST", "/remoteLock"), ("intune", Action.WIPE): ("POST", "/wipe"),
    ("intune", Action.RESET_PASSCODE): ("POST", "/resetPasscode"),
    ("mobileiron", Action.LOCK): ("PUT", "/api/v1/dm/devices/lock/"),
    ("mobileiron", Action.WIPE): ("PUT", "/api/v2/devices/wipe"),
    ("mobileiron", Action.RESET_PASSCODE): ("POST", "/api/v2/devices/action"),
    ("sdm", Action.LOCK): ("POST", "/commands"), ("sdm", Action.WIPE): ("POST", "/commands"),
    ("sdm", Action.RESET_PASSCODE): ("POST", "/commands"),
}


@pytest.fixture
def sim(monkeypatch):
    monkeypatch.setattr(control, "FOLLOW_FIRST_DELAY_S", 0.05)
    monkeypatch.setattr(control, "FOLLOW_MAX_DELAY_S", 0.1)
    simulator = Simulator(seed=7, intune=24, mobileiron=12, sdm=24).start()
    simulator.intune.action_delay = 0.2
    simulator.sdm.command_step = 0.05
    yield simulator
    simulator.stop()


async def devices_of(ctx, sim, system: str, **kw) -> list[Device]:
    return await seed_from_mdm(ctx, sim_linkage(ctx, sim, system, **kw))


def first(devices: list[Device], os_class: str) -> Device:
    return next(d for d in devices if d.os_class == os_class)


@pytest.mark.parametrize("os_class", ["Si", "SA", "M", "IS", "IP"])
@pytest.mark.parametrize("action", list(Action))
async def test_matrix_cell_against_the_mdm(ctx, sim, os_class, action):
    system = SYSTEM[os_class]
    device = first(await devices_of(ctx, sim, system), os_class)
    method, path = WIRE[(system, action)]
    [out] = await control.act(ctx, [device.id], action, follow_timeout=10)
    [row] = rows_for(device)
    entries = audit_for(device)
    assert all(e.action == action.value and e.category == "action" for e in entries)
    if (os_class, action) in REFUSED:
        assert out.outcome is Outcome.REFUSED
        assert sim_requests(sim, system, method, path) == 0  # nothing was sent
        assert row.outcome == "refused" and [e.outcome for e in entries] == ["refused"]
        return
    assert out.outcome is Outcome.SUCCEEDED, out.result
    assert sim_requests(sim, system, method, path) == 1
    assert row.outcome == "succeeded" and row.request_id == out.result.request_id
    assert entries[-1].outcome == "succeeded" and entries[0].request_id == row.request_id
    if system in ("intune", "sdm") or action is Action.WIPE and system == "mobileiron":
        assert entries[0].outcome == "pending"  # accepted first, done later
    expected_status = "Warning" if action is Action.WIPE else "Unknown"
    assert Device.get_by_id(device.id).device_status == expected_status


@pytest.mark.parametrize("os_class,action", [("M", Action.LOCK), ("M", Action.WIPE), ("M", Action.RESET_PASSCODE),
                                             ("Si", Action.WIPE), ("SA", Action.LOCK), ("IS", Action.LOCK)])
async def test_profile_removed_device_ends_as_failure(ctx, sim, os_class, action):
    system = SYSTEM[os_class]
    device = first(await devices_of(ctx, sim, system), os_class)
    sim.admin.remove_profile(system, device.mdm_device_id)
    [out] = await control.act(ctx, [device.id], action, follow_timeout=10)
    assert out.outcome is Outcome.FAILED, out.result
    [row] = rows_for(device)
    assert row.outcome == "failed" and row.message
    assert audit_for(device)[-1].outcome == "failed"
    assert Device.get_by_id(device.id).device_status == "Unknown"
    assert Event.select().where(Event.kind == "action_failed", Event.device_id == device.id).count() == 1


async def test_mobileiron_wipe_whose_answer_is_cut_off_is_settled_from_core_state(ctx, sim):
    device = first(await devices_of(ctx, sim, "mobileiron"), "M")
    sim.set_faults(Faults(reset_mid_page=1.0), mdm="mobileiron", endpoint="wipe")  # Core wipes, the answer is lost
    [out] = await control.act(ctx, [device.id], Action.WIPE, follow_timeout=1)
    assert out.outcome is Outcome.SUCCEEDED, out.result
    assert "answer to the command was lost" in out.result.message
    [row] = rows_for(device)
    assert row.outcome == "succeeded"
    assert [e.outcome for e in audit_for(device)] == ["succeeded"]
    assert Device.get_by_id(device.id).device_status == "Warning"
    assert sim_requests(sim, "mobileiron", "PUT", "/api/v2/devices/wipe") == 1  # never sent again


async def test_mobileiron_wipe_timeout_without_a_trace_in_core_stays_unknown(ctx, sim):
    device = first(await devices_of(ctx, sim, "mobileiron", timeout_s=0.4), "M")
    sim.set_faults(Faults(hang_s=0.8), mdm="mobileiron", endpoint="wipe")
    [out] = await control.act(ctx, [device.id], Action.WIPE, follow_timeout=1)
    assert out.outcome is Outcome.UNKNOWN, out.result
    assert "outcome unknown" in out.result.message and "not sent again" in out.result.message
    await asyncio.sleep(0.8)
    sim.set_faults(None)
    [later] = await control.follow_up_pending(ctx)
    assert later.outcome is Outcome.UNKNOWN  # Core shows the device ACTIVE: no proof either way
    assert rows_for(device)[0].outcome == "unknown"
    assert [e.outcome for e in audit_for(device)] == ["unknown"]
    assert Device.get_by_id(device.id).device_status == "Unknown"
    assert Event.select().where(Event.kind == "action_failed", Event.device_id == device.id).count() == 1
    assert sim_requests(sim, "mobileiron", "PUT", "/api/v2/devices/wipe") <= 1


async def test_intune_wipe_timeout_is_checked_in_device_action_results(ctx, sim):
    device = first(await devices_of(ctx, sim, "intune", timeout_s=0.4), "IS")
    sim.set_faults(Faults(hang_s=0.8), mdm="intune", endpoint="actions")
    [out] = await control.act(ctx, [device.id], Action.WIPE, follow_timeout=1)
    assert out.outcome is Outcome.UNKNOWN, out.result
    assert [e.outcome for e in audit_for(device)] == ["unknown"]
    await asyncio.sleep(0.8)
    sim.set_faults(None)
    [later] = await control.follow_up_pending(ctx, [device.id])
    # deviceActionResults holds no wipe: Intune never took it, but that is no proof it never will
    assert later.outcome is Outcome.UNKNOWN, later.result
    assert rows_for(device)[0].outcome == "unknown"
    assert sim_requests(sim, "intune", "POST", "/wipe") <= 1
    assert sim_requests(sim, "intune", "GET", device.mdm_device_id) >= 2  # its state was read, twice


async def test_intune_wipe_of_a_device_without_profile_stays_pending_never_wiped(ctx, sim):
    """Intune keeps such a wipe wipePending (the device never checks in): never recorded as done."""
    device = first(await devices_of(ctx, sim, "intune"), "IS")
    sim.admin.remove_profile("intune", device.mdm_device_id)
    [out] = await control.act(ctx, [device.id], Action.WIPE, follow_timeout=1)
    assert out.outcome is Outcome.PENDING and out.result.mdm_code == "wipePending", out.result
    [row] = rows_for(device)
    assert (row.outcome, row.mdm_code) == ("pending", "wipePending")
    assert Device.get_by_id(device.id).device_status == "Unknown"


@pytest.mark.parametrize("how, state", [("fail", "wipeFailed"), ("cancel", "wipeCanceled")])
async def test_intune_wipe_that_fails_or_is_cancelled_in_intune_is_failed(ctx, sim, how, state):
    device = first(await devices_of(ctx, sim, "intune"), "IS")
    sim.admin.end_wipe("intune", device.mdm_device_id, how)
    [out] = await control.act(ctx, [device.id], Action.WIPE, follow_timeout=10)
    assert (out.outcome, out.result.mdm_code) == (Outcome.FAILED, state), out.result
    assert rows_for(device)[0].outcome == "failed" and audit_for(device)[-1].outcome == "failed"
    assert Device.get_by_id(device.id).device_status == "Unknown"  # not wiped
    assert Event.select().where(Event.kind == "action_failed", Event.device_id == device.id).count() == 1


async def test_intune_wipe_done_means_the_record_was_removed(ctx, sim):
    device = first(await devices_of(ctx, sim, "intune"), "IP")
    [out] = await control.act(ctx, [device.id], Action.WIPE, follow_timeout=10)
    assert out.outcome is Outcome.SUCCEEDED
    assert out.result.message == "done — the device record was removed by Intune after the wipe"
    with pytest.raises(KeyError):
        sim.truth("intune", device.mdm_device_id)
    assert [e.outcome for e in audit_for(device)][-1] == "succeeded"


async def test_repeated_intune_lock_lost_within_the_skew_is_not_settled_by_the_earlier_lock(ctx, sim):
    """Issue 11 #3: lock A is done; lock B, sent seconds later, loses its answer. A's "done" entry
    lies inside B's clock-skew window, but it is A's: B stays unknown and is never resent."""
    device = first(await devices_of(ctx, sim, "intune", timeout_s=0.4), "IS")
    [first_lock] = await control.act(ctx, [device.id], Action.LOCK, follow_timeout=10)
    assert first_lock.outcome is Outcome.SUCCEEDED
    sim.set_faults(Faults(hang_s=0.8), mdm="intune", endpoint="actions")
    [second] = await control.act(ctx, [device.id], Action.LOCK, follow_timeout=1)
    assert second.outcome is Outcome.UNKNOWN, second.result
    await asyncio.sleep(1.0)
    sim.set_faults(None)
    await control.follow_up_pending(ctx, [device.id])
    rows = sorted(rows_for(device), key=lambda r: r.id)
    assert [r.outcome for r in rows] == ["succeeded", "unknown"]
    assert sim_requests(sim, "intune", "POST", "/remoteLock") <= 2  # B was never sent again


async def test_repeated_intune_wipe_is_never_settled_by_the_earlier_wipe(ctx, sim):
    """Wipe A is under way; wipe B's answer is lost. When Intune removes the record, A is done; B
    cannot be told apart from A's doing and stays unknown."""
    sim.intune.action_delay = 1.0
    device = first(await devices_of(ctx, sim, "intune", timeout_s=0.4), "IS")
    [a] = await control.act(ctx, [device.id], Action.WIPE, follow_timeout=0.3)
    assert (a.outcome, a.result.mdm_code) == (Outcome.PENDING, "wipePending"), a.result
    sim.set_faults(Faults(hang_s=0.8), mdm="intune", endpoint="actions")
    [b] = await control.act(ctx, [device.id], Action.WIPE, follow_timeout=1)
    assert b.outcome is Outcome.UNKNOWN, b.result
    sim.set_faults(None)
    await asyncio.sleep(2.2)  # pending 1 s, issued 1 s, then the record goes
    with pytest.raises(KeyError):
        sim.truth("intune", device.mdm_device_id)
    later = {o.action_id: o for o in await control.follow_up_pending(ctx, [device.id])}
    rows = sorted(rows_for(device), key=lambda r: r.id)
    assert [r.outcome for r in rows] == ["succeeded", "unknown"], [r.message for r in rows]
    assert "earlier wipe" in rows[1].message and later[rows[1].id].outcome is Outcome.UNKNOWN
    assert sim_requests(sim, "intune", "POST", "/wipe") <= 2


async def test_sdm_wipe_timeout_stays_unknown_and_says_so(ctx, sim):
    device = first(await devices_of(ctx, sim, "sdm", timeout_s=0.4), "Si")
    sim.set_faults(Faults(hang_s=0.8), mdm="sdm", endpoint="commands")
    [out] = await control.act(ctx, [device.id], Action.WIPE, follow_timeout=1)
    assert out.outcome is Outcome.UNKNOWN
    await asyncio.sleep(1.0)
    sim.set_faults(None)
    [later] = await control.follow_up_pending(ctx)
    assert later.outcome is Outcome.UNKNOWN  # no command id: the SDM keeps no state to ask
    [row] = rows_for(device)
    assert row.outcome == "unknown" and "outcome unknown" in row.message and "not sent again" in row.message
    assert [e.outcome for e in audit_for(device)] == ["unknown"]
    assert sim_requests(sim, "sdm", "POST", "/commands") <= 1  # a hung request the client left is not logged


async def test_throttled_bulk_lock_ends_with_every_real_outcome(ctx, sim):
    devices = await devices_of(ctx, sim, "sdm")
    removed = devices[3]
    sim.admin.remove_profile("sdm", removed.mdm_device_id)
    sim.set_faults(Faults(burst_429=(2, 5), retry_after=0.05), mdm="sdm")
    outs = await control.act(ctx, [d.id for d in devices], Action.LOCK, follow_timeout=20)
    assert sim_requests(sim, "sdm", "POST", "/commands", 429) > 0
    assert {o.device_id: o.outcome for o in outs} == {
        d.id: (Outcome.FAILED if d.id == removed.id else Outcome.SUCCEEDED) for d in devices}
    assert sim_requests(sim, "sdm", "POST", "/commands", 202) == len(devices)  # each accepted exactly once
    for device in devices:
        assert rows_for(device)[0].outcome == audit_for(device)[-1].outcome


async def test_read_only_sends_nothing_to_the_mdm(ctx, sim):
    devices = await devices_of(ctx, sim, "mobileiron")
    ctx.settings.read_only = True
    outs = await control.act(ctx, [d.id for d in devices], Action.WIPE)
    assert {o.outcome for o in outs} == {Outcome.REFUSED}
    assert sim_requests(sim, "mobileiron", "PUT", "/wipe") == 0
    assert all(audit_for(d)[0].outcome == "refused" for d in devices)


async def test_wiped_device_is_warning_until_it_re_registers_and_is_collected(ctx, sim):
    from mdmtui.services.collection import collect

    linkage = sim_linkage(ctx, sim, "mobileiron")
    await collect(ctx, linkage.name)
    device = Device.select().where(Device.linkage == linkage.id).order_by(Device.id).first()
    [out] = await control.act(ctx, [device.id], Action.WIPE, follow_timeout=10)
    assert out.outcome is Outcome.SUCCEEDED
    assert Device.get_by_id(device.id).device_status == "Warning"
    await collect(ctx, linkage.name)  # wiped, not yet back: still Warning
    assert Device.get_by_id(device.id).device_status == "Warning"
    await asyncio.sleep(1.1)  # the MDM's clock has whole seconds: re-register after the wipe
    new_id = sim.admin.reenrol("mobileiron", device.mdm_device_id)
    await collect(ctx, linkage.name)
    back = Device.get_or_none(Device.mdm_device_id == new_id)
    assert back is not None and back.device_status == "Unknown"
    assert back.id == device.id  # the same device, re-registered under a new MDM id


async def test_passcode_reset_shows_in_the_next_collection(ctx, sim):
    """A cleared passcode does not change Core's listing: the device's details must be re-read."""
    from mdmtui.services.collection import collect

    linkage = sim_linkage(ctx, sim, "mobileiron")
    await collect(ctx, linkage.name)
    device = Device.select().where(Device.linkage == linkage.id, Device.passcode_set == True).first()  # noqa: E712
    [out] = await control.act(ctx, [device.id], Action.RESET_PASSCODE, follow_timeout=10)
    assert out.outcome is Outcome.SUCCEEDED
    assert Device.get_by_id(device.id).change_marker is None
    await collect(ctx, linkage.name)
    assert Device.get_by_id(device.id).passcode_set is False


# --- the MDM's device state decides before anything is sent (issue 10) -------------------------------

@pytest.mark.parametrize("os_class,action", [("M", Action.WIPE), ("M", Action.RESET_PASSCODE), ("M", Action.LOCK),
                                             ("Si", Action.WIPE), ("SA", Action.RESET_PASSCODE)])
async def test_device_known_without_profile_is_refused_before_sending(ctx, sim, os_class, action):
    system = SYSTEM[os_class]
    target = next(d for d in await devices_of(ctx, sim, system) if d.os_class == os_class)
    sim.admin.remove_profile(system, target.mdm_device_id)
    await seed_again(ctx, sim, system)
    method, path = WIRE[(system, action)]
    [out] = await control.act(ctx, [target.id], action, follow_timeout=5)
    assert out.outcome is Outcome.REFUSED and "profile was removed" in out.result.message
    assert "send_to_unmanaged" in out.result.message
    assert sim_requests(sim, system, method, path) == 0
    assert [e.outcome for e in audit_for(target)] == ["refused"]


@pytest.mark.parametrize("status", ["RETIRED", "WIPED", "EXPIRED"])
async def test_mobileiron_device_in_a_state_without_profile_is_refused(ctx, sim, status):
    fleet = sim.fleets["mobileiron"]
    ident = next(i for i in sim.device_ids("mobileiron") if sim.truth("mobileiron", i)["common.status"] == "ACTIVE")
    fleet.update(fleet.slot_of(ident), mdm_status=status)
    device = next(d for d in await devices_of(ctx, sim, "mobileiron") if d.mdm_device_id == ident)
    assert (device.mdm_status, device.mdm_managed) == (status, False)
    [out] = await control.act(ctx, [device.id], Action.LOCK)
    assert out.outcome is Outcome.REFUSED and f"MDM status {status}" in out.result.message
    assert sim_requests(sim, "mobileiron", "PUT", "/lock/") == 0


@pytest.mark.parametrize("action", [Action.WIPE, Action.RESET_PASSCODE])
async def test_send_anyway_to_a_profile_removed_device_is_recorded_failed(ctx, sim, action):
    """Core answers success for it; with send_to_unmanaged the command goes out and is still a failure."""
    target = first(await devices_of(ctx, sim, "mobileiron"), "M")
    sim.admin.remove_profile("mobileiron", target.mdm_device_id)
    await seed_again(ctx, sim, "mobileiron")
    ctx.settings.send_to_unmanaged = True
    [out] = await control.act(ctx, [target.id], action, follow_timeout=2)
    assert out.outcome is Outcome.FAILED and "sent anyway" in out.result.message
    method, path = WIRE[("mobileiron", action)]
    assert sim_requests(sim, "mobileiron", method, path) == 1
    assert [r.outcome for r in rows_for(target)] == ["failed"]
    assert "succeeded" not in [e.outcome for e in audit_for(target)]
    assert Device.get_by_id(target.id).device_status == "Unknown"


async def seed_again(ctx, sim, system: str) -> None:
    """Store the MDM's current mdm_managed / mdm_status on the seeded rows (what a collection does)."""
    from mdmtui.connectors.base import connector_for
    from mdmtui.services.linkages import linkage_config
    from mdmtui.storage.models import Linkage

    linkage = Linkage.get(Linkage.system == system)
    connector = connector_for(linkage_config(ctx, linkage))
    try:
        async for page in connector.iter_device_pages({}):
            for r in page:
                Device.update(mdm_managed=r.mdm_managed, mdm_status=r.mdm_status).where(
                    Device.linkage == linkage.id, Device.mdm_device_id == r.mdm_device_id).execute()
    finally:
        await connector.aclose()


# --- an answer lost after the MDM acted (issue 11 #2): unknown, settled from the MDM's state ------------

@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_mobileiron_wipe_carried_out_but_answered_5xx_is_settled_not_failed(ctx, sim, status):
    device = first(await devices_of(ctx, sim, "mobileiron"), "M")
    sim.set_faults(Faults(rate_5xx_after=1.0, status_5xx=status, retry_after=None), mdm="mobileiron", endpoint="wipe")
    [out] = await control.act(ctx, [device.id], Action.WIPE, follow_timeout=1)
    assert sim.truth("mobileiron", device.mdm_device_id)["common.status"] == "WIPED"
    assert out.outcome is Outcome.SUCCEEDED, out.result
    assert "answer to the command was lost" in out.result.message
    assert [r.outcome for r in rows_for(device)] == ["succeeded"]
    assert sim_requests(sim, "mobileiron", "PUT", "/api/v2/devices/wipe") == 1  # never resent


async def test_mobileiron_passcode_clear_answered_502_is_settled_from_the_details(ctx, sim):
    device = first(await devices_of(ctx, sim, "mobileiron"), "M")
    sim.set_faults(Faults(rate_5xx_after=1.0, status_5xx=502), mdm="mobileiron", endpoint="action")
    [out] = await control.act(ctx, [device.id], Action.RESET_PASSCODE, follow_timeout=1)
    assert out.outcome is Outcome.SUCCEEDED and "no passcode" in out.result.message, out.result
    assert sim_requests(sim, "mobileiron", "POST", "/api/v2/devices/action") == 1


async def test_mobileiron_lock_answered_502_stays_unknown(ctx, sim):
    device = first(await devices_of(ctx, sim, "mobileiron"), "M")
    sim.set_faults(Faults(rate_5xx_after=1.0, status_5xx=502), mdm="mobileiron", endpoint="lock")
    [out] = await control.act(ctx, [device.id], Action.LOCK, follow_timeout=1)
    assert out.outcome is Outcome.UNKNOWN and "not sent again" in out.result.message  # a lock leaves no state
    assert sim_requests(sim, "mobileiron", "PUT", "/lock/") == 1


async def test_sdm_wipe_answered_502_is_found_by_its_request_id_and_settled(ctx, sim):
    device = first(await devices_of(ctx, sim, "sdm"), "SA")
    sim.set_faults(Faults(rate_5xx_after=1.0, status_5xx=502), mdm="sdm", endpoint="commands")
    [out] = await control.act(ctx, [device.id], Action.WIPE, follow_timeout=1)
    assert out.outcome in (Outcome.UNKNOWN, Outcome.SUCCEEDED), out.result
    sim.set_faults(None)
    await asyncio.sleep(0.2)  # the SDM completes the command
    later = await control.follow_up_pending(ctx, [device.id])
    assert [r.outcome for r in rows_for(device)] == ["succeeded"], later
    assert sim.truth("sdm", device.mdm_device_id)["managed"] is False
    assert sim_requests(sim, "sdm", "POST", "/commands") == 1
