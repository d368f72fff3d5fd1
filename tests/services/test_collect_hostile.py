"""Hostile MDM data: one device's odd value never fails a run, on SQLite and PostgreSQL alike (issue 11 #7).

The fleet is served over loopback HTTP by the simulator; the same assertions run on both dialects,
so both databases hold the same adjusted values.
"""

from __future__ import annotations

import pytest
from collect_helpers import by_mdm_id, plain_linkage, record, run, scripted, ScriptedConnector, sim_linkage, software

from mdmtui.storage import storable
from mdmtui.cli import main
from mdmtui.storage.models import AuditEvent, CollectionRun, Event, Software
from mdmtui.sim import Simulator

SIZE = 12
LONG_NAME = "長い名前" * 150  # 600 characters: over the 500 an indexed column keeps
LONG_USER = "u" * 3000  # not indexed: stored whole
LONG_MODEL = "M" * 300  # PostgreSQL's VARCHAR(255) refused the whole run for this


@pytest.fixture
def sim():
    with Simulator(seed=11, intune=SIZE, mobileiron=1, sdm=1) as simulator:
        yield simulator


def make_hostile(sim) -> dict[str, str]:
    """Odd values on four devices of the Intune fleet (through the sim's admin update); label -> MDM id."""
    fleet = sim.fleets["intune"]
    ids = sim.device_ids("intune")
    changes = {
        "nul": {"device_name": "営業\x00部の iPhone"},
        "long": {"device_name": LONG_NAME, "user_name": LONG_USER, "model": LONG_MODEL},
        "surrogate": {"serial": "SN\ud800X"},
        "numbers": {"storage_total": 2**70, "ram": "8.5e9"},
    }
    hostile = {}
    for n, (label, values) in enumerate(changes.items()):
        fleet.update(fleet.slot_of(ids[2 + 3 * n]), **values)
        hostile[label] = ids[2 + 3 * n]
    return hostile


def test_a_hostile_fleet_is_collected_with_warnings_on_both_databases(ctx, sim):
    sim_linkage(ctx, sim, "intune", page_size=5)
    hostile = make_hostile(sim)

    summary = run(ctx, "Intune")

    assert summary.status == "succeeded", summary.reason
    assert summary.new == SIZE
    stored = by_mdm_id("Intune")
    assert set(stored) == set(sim.device_ids("intune"))  # every device stored, the odd ones too
    nul, long, odd, numbers = (stored[hostile[k]] for k in ("nul", "long", "surrogate", "numbers"))
    assert nul.computer_name == "営業\ufffd部の iPhone" and nul.host_name == "営業\ufffd部の iPhone"
    assert long.computer_name == LONG_NAME[:storable.INDEXED_MAX_CHARS]
    assert long.user_name == LONG_USER and long.model == LONG_MODEL
    assert odd.serial_number == "SN\ufffdX"
    assert numbers.storage_total_bytes is None and numbers.ram_total_bytes == 8_500_000_000
    reason = summary.reason
    assert reason.startswith("warnings: ")
    assert f"(MDM id '{hostile['nul']}'): computer name: 1 NUL character replaced by U+FFFD" in reason
    assert f"(MDM id '{hostile['long']}'): computer name: cut to 500 characters (was 600)" in reason
    assert f"(MDM id '{hostile['surrogate']}'): serial number: 1 invalid character (lone UTF-16 surrogate)" in reason
    assert "user name" not in reason and "model" not in reason  # TEXT holds them as they are
    run_row = CollectionRun.get_by_id(summary.run_id)
    assert run_row.status == "succeeded" and run_row.reason == reason
    assert AuditEvent.select().where(AuditEvent.category == "collection").get().message.endswith(f"({reason})")
    assert "\x00" not in "".join(e.message for e in Event.select())


def test_a_hostile_device_is_unchanged_on_the_next_run_and_still_warned_about(ctx, sim):
    sim_linkage(ctx, sim, "intune", page_size=5)
    hostile = make_hostile(sim)
    run(ctx, "Intune")
    again = run(ctx, "Intune")
    assert (again.status, again.unchanged, again.changed) == ("succeeded", SIZE, 0)  # the same adjusted values
    assert hostile["nul"] in again.reason


def test_the_cli_prints_the_warnings_escaped(ctx, sim, capsys):
    sim_linkage(ctx, sim, "intune", page_size=5)
    hostile = make_hostile(sim)
    code = main(["--database", ctx.settings.database, "collect"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith(f"Intune: {SIZE} devices in ") and "(warnings: device '営業\ufffd部の iPhone' (MDM id " in out
    assert f"'{hostile['surrogate']}'): serial number: 1 invalid character" in out
    assert "\x00" not in out + err and "Traceback" not in err


def test_an_mdm_id_that_cannot_be_stored_skips_only_that_device(ctx):
    plain_linkage()
    bad = record("dev-\x00-1", computer_name="ghost")
    too_long = record("i" * 501)
    pages = [[record("a", software=software("Office\x00", "Teams")), bad], [too_long, record("b")]]
    summary = run(ctx, "MI", connector_factory=scripted(ScriptedConnector(pages)))
    assert summary.status == "succeeded" and summary.new == 2
    assert set(by_mdm_id("MI")) == {"a", "b"}
    assert "device 'ghost' (MDM id 'dev-\ufffd-1'): MDM id: 1 NUL character replaced by U+FFFD: the device " \
           "was not stored" in summary.reason
    assert "MDM id: cut to 500 characters (was 501): the device was not stored" in summary.reason
    assert "device 'dev-a' (MDM id 'a'): software: 1 value with NUL or invalid characters" in summary.reason
    assert sorted(s.name for s in Software.select()) == ["Office\ufffd", "Teams"]


def test_a_number_beyond_64_bits_is_not_collected_and_named(ctx):
    plain_linkage()
    pages = [[record("a", ram_total_bytes=2**64, storage_total_bytes=64 * 2**30)]]
    summary = run(ctx, "MI", connector_factory=scripted(ScriptedConnector(pages)))
    assert summary.status == "succeeded"
    device = by_mdm_id("MI")["a"]
    assert device.ram_total_bytes is None and device.storage_total_bytes == 64 * 2**30
    assert "ram total bytes: 18446744073709551616 is beyond 64 bits: not collected" in summary.reason


def test_many_adjustments_are_named_up_to_a_limit_then_counted(ctx):
    plain_linkage()
    pages = [[record(f"d{i}", computer_name=f"n\x00{i}") for i in range(25)]]
    summary = run(ctx, "MI", connector_factory=scripted(ScriptedConnector(pages)))
    assert summary.status == "succeeded" and summary.new == 25
    assert summary.reason.count("NUL character replaced") == 10
    assert summary.reason.endswith("and 15 more values adjusted to fit the database")
