"""Identity over HTTP against the simulator when MDMs write the same identifier differently.

Graph and Core send ``35 391808 912345 6``, the SDM ``353918089123456``; phone numbers come as
``+819012345678`` or ``090-1234-5678``. Matching across linkages and the SIM-swap rule must see the
same value in each, and a different one only when it really changed.
"""

from __future__ import annotations

import pytest
from collect_helpers import by_mdm_id, run, sdm_software_service, sim_linkage

from mdmtui.storage.models import Device, DeviceHistory, Event
from mdmtui.sim import Simulator

SIZE = 30


@pytest.fixture
def sim():
    with Simulator(seed=23, intune=SIZE, mobileiron=SIZE, sdm=SIZE) as simulator:
        yield simulator


def with_sim_card(sim, mdm: str, *, plain_phone: bool = False) -> str:
    """A device with an IMEI and a Japanese phone number (``plain_phone``: one sent without separators)."""
    for ident in sim.device_ids(mdm):
        p = sim.fleets[mdm].profile(sim.fleets[mdm].slot_of(ident))
        if p["imei"] and p["phone"].startswith(("0", "+81")) and (not plain_phone or "-" not in p["phone"]):
            return ident
    raise AssertionError(f"no {mdm} device with a SIM card")


def events(kind: str) -> list[Event]:
    return list(Event.select().where(Event.kind == kind))


def history(device_id: int) -> dict[str, tuple[str, str]]:
    rows = DeviceHistory.select().where(DeviceHistory.device == device_id)
    return {h.field: (h.old_value, h.new_value) for h in rows}


def test_one_device_through_two_linkages_with_differently_written_imeis(ctx, sim):
    sdm_id = with_sim_card(sim, "sdm")
    sdm_imei = sim.truth("sdm", sdm_id)["imei"]
    intune_id = with_sim_card(sim, "intune")
    intune = sim.fleets["intune"]
    intune.update(intune.slot_of(intune_id), imei=sdm_imei)  # the same handset, enrolled in both
    assert sim.truth("intune", intune_id)["imei"] == f"{sdm_imei[:2]} {sdm_imei[2:8]} {sdm_imei[8:14]} {sdm_imei[14]}"
    sim_linkage(ctx, sim, "sdm")
    sdm_software_service(sim)
    sim_linkage(ctx, sim, "intune")
    assert run(ctx, "SDM").status == run(ctx, "Intune").status == "succeeded"
    first = by_mdm_id("SDM")[sdm_id]
    second = by_mdm_id("Intune")[intune_id]
    assert second.imei == first.imei == sdm_imei
    assert second.duplicate_of == first.id  # flagged, never merged
    others = Device.select().where(Device.duplicate_of.is_null(False), Device.id != second.id).count()
    assert others == 0
    [event] = events("duplicate")
    assert "the IMEI of" in event.message and intune_id in event.message


def test_a_new_notation_of_the_same_imei_and_number_is_no_sim_swap(ctx, sim):
    intune = sim.fleets["intune"]
    ident = with_sim_card(sim, "intune", plain_phone=True)
    slot = intune.slot_of(ident)
    intune.report_ids(grouped=False)  # first collected while Graph sent plain digits
    sim_linkage(ctx, sim, "intune")
    run(ctx, "Intune")
    before = by_mdm_id("Intune")[ident]
    intune.report_ids(grouped=True)  # now "35 391808 912345 6", ICCIDs in fours
    phone = intune.profile(slot)["phone"]
    other_form = "0" + phone[3:] if phone.startswith("+81") else "+81" + phone[1:]
    intune.update(slot, phone=other_form)  # the same number, written the other way
    summary = run(ctx, "Intune")
    after = by_mdm_id("Intune")[ident]
    assert summary.status == "succeeded" and events("sim_swap") == []
    assert (after.imei, after.iccid) == (before.imei, before.iccid) and " " not in after.imei
    changed = history(after.id)
    assert "imei" not in changed and "iccid" not in changed
    assert after.phone_number == sim.truth("intune", ident)["phoneNumber"] != before.phone_number


def test_a_real_sim_swap_is_seen_through_a_new_notation_of_the_imei(ctx, sim):
    intune = sim.fleets["intune"]
    ident = with_sim_card(sim, "intune")
    intune.report_ids(grouped=False)
    sim_linkage(ctx, sim, "intune")
    run(ctx, "Intune")
    before = by_mdm_id("Intune")[ident]
    intune.report_ids(grouped=True)
    sim.admin.sim_swap("intune", ident)
    run(ctx, "Intune")
    after = by_mdm_id("Intune")[ident]
    [event] = events("sim_swap")
    assert event.device_id == after.id == before.id and before.imei in event.message
    assert after.imei == before.imei and after.phone_number != before.phone_number
    assert "phone_number" in history(after.id) and "imei" not in history(after.id)
