"""``mdmtui lock|wipe|reset-passcode`` end to end: CLI, services, real connectors, the simulator."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "services"))
from control_helpers import audit_for, rows_for, seed_from_mdm, sim_linkage  # noqa: E402

from mdmtui.cli import main  # noqa: E402
from mdmtui.config import load_settings  # noqa: E402
from mdmtui.storage.models import Device  # noqa: E402
from mdmtui.services import control  # noqa: E402
from mdmtui.services.context import open_context  # noqa: E402
from mdmtui.sim import Simulator  # noqa: E402


@pytest.fixture
def sim(monkeypatch):
    monkeypatch.setattr(control, "FOLLOW_FIRST_DELAY_S", 0.05)
    simulator = Simulator(seed=5, intune=6, mobileiron=6, sdm=6).start()
    simulator.sdm.command_step = 0.05
    yield simulator
    simulator.stop()


@pytest.fixture
def fleet(sim):
    ctx = open_context(load_settings())
    devices = []
    for system in ("mobileiron", "sdm"):
        devices += asyncio.run(seed_from_mdm(ctx, sim_linkage(ctx, sim, system)))
    yield devices
    ctx.db.close()


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_lock_and_wipe_through_the_whole_stack(capsys, sim, fleet):
    mi = next(d for d in fleet if d.os_class == "M")
    sdm = next(d for d in fleet if d.os_class in ("Si", "SA"))
    code, out, err = run(capsys, "lock", f"id:{mi.id}", f"id:{sdm.id}", "--json")
    assert code == 0, err
    results = {r["device_id"]: r for r in json.loads(out)["results"]}
    assert results[mi.id]["outcome"] == results[sdm.id]["outcome"] == "succeeded"
    assert results[sdm.id]["request_id"]  # the MDM's request id travels with the result
    code, out, err = run(capsys, "wipe", f"id:{sdm.id}", "--confirm", sdm.computer_name)
    assert code == 0, err
    assert Device.get_by_id(sdm.id).device_status == "Warning"
    assert [r.outcome for r in rows_for(sdm)] == ["succeeded", "succeeded"]
    assert [(e.action, e.outcome) for e in audit_for(sdm)] == [
        ("lock", "pending"), ("lock", "succeeded"), ("wipe", "pending"), ("wipe", "succeeded")]
    assert sim.truth("sdm", sdm.mdm_device_id)["managed"] is False  # the SDM reports it wiped


def test_profile_removed_device_fails_with_exit_1(capsys, sim, fleet):
    mi = next(d for d in fleet if d.os_class == "M")
    sim.admin.remove_profile("mobileiron", mi.mdm_device_id)
    code, out, err = run(capsys, "reset-passcode", f"id:{mi.id}")
    assert code == 1
    assert "failed" in out
    [entry] = audit_for(mi)
    assert entry.outcome == "failed" and entry.action == "reset_passcode"
