"""IMEIs and phone numbers as Graph and Core send them, found from the CLI however the admin types them.

The simulator sends IMEIs as ``35 391808 912345 6`` and about half the Japanese numbers with
separators; the devices are collected over HTTP and then named by digits, dashes or national form.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "services"))
from collect_helpers import sim_linkage  # noqa: E402

from mdmtui.cli import main  # noqa: E402
from mdmtui.storage.models import Device  # noqa: E402
from mdmtui.services import control  # noqa: E402
from mdmtui.sim import Simulator  # noqa: E402

GROUPED = re.compile(r"\d{2} \d{6} \d{6} \d")


@pytest.fixture
def sim(monkeypatch):
    monkeypatch.setattr(control, "FOLLOW_FIRST_DELAY_S", 0.05)
    with Simulator(seed=31, intune=20, mobileiron=20, sdm=1) as simulator:
        yield simulator


@pytest.fixture
def collected(capsys, ctx, sim):
    sim_linkage(ctx, sim, "intune", page_size=10)
    sim_linkage(ctx, sim, "mobileiron", page_size=10)
    code, _, err = cli(capsys, ctx, "collect")
    assert code == 0, err
    return ctx


def cli(capsys, ctx, *argv: str) -> tuple[int, str, str]:
    code = main(["--database", ctx.settings.database, *argv])
    out, err = capsys.readouterr()
    return code, out, err


def sent(sim, mdm: str, key: str, pattern: re.Pattern) -> tuple[str, str]:
    """(MDM id, value as the MDM sends it) of the first device whose ``key`` matches ``pattern``."""
    for ident in sim.device_ids(mdm):
        value = sim.truth(mdm, ident)[key]
        if value and pattern.fullmatch(value):
            return ident, value
    raise AssertionError(f"no {mdm} device sends {key} like {pattern.pattern}")


def test_devices_show_finds_an_imei_the_mdm_sent_grouped(capsys, collected, sim):
    ident, imei = sent(sim, "intune", "imei", GROUPED)
    digits = imei.replace(" ", "")
    device = Device.get(Device.mdm_device_id == ident)
    for typed in (digits, imei.replace(" ", "-"), f"imei:{imei}"):
        code, out, err = cli(capsys, collected, "devices", "show", typed, "--json")
        assert code == 0, (typed, err)
        data = json.loads(out)
        assert data["id"] == device.id and data["groups"]["Smart device"]["IMEI"] == digits


def test_lock_by_imei_reaches_the_device_through_core(capsys, collected, sim):
    ident, imei = sent(sim, "mobileiron", "common.imei", GROUPED)
    code, out, err = cli(capsys, collected, "lock", imei.replace(" ", ""), "--json")
    assert code == 0, err
    [result] = json.loads(out)["results"]
    assert result["outcome"] == "succeeded"
    slot = sim.fleets["mobileiron"].slot_of(ident)
    assert sim.fleets["mobileiron"].profile(slot).get("locked_at")  # Core's own state says locked


def test_phone_numbers_found_in_e164_and_national_form(capsys, collected, sim):
    ident, phone = sent(sim, "intune", "phoneNumber", re.compile(r"\+81 \d0-\d{4}-\d{4}|0\d0-\d{4}-\d{4}"))
    device = Device.get(Device.mdm_device_id == ident)
    assert device.phone_number == phone  # kept as the MDM sent it
    national = "0" + re.sub(r"\D", "", phone)[2:] if phone.startswith("+") else phone.replace("-", "")
    e164 = "+81" + national[1:]
    dashed = f"{national[:3]}-{national[3:7]}-{national[7:]}"
    for typed in (e164, national, dashed, national[1:]):
        code, out, err = cli(capsys, collected, "devices", "show", typed, "--json")
        assert code == 0 and json.loads(out)["id"] == device.id, (typed, err)
    for typed in (dashed[:8], national, e164):
        code, out, _ = cli(capsys, collected, "devices", "list", "--search", typed, "--json", "--limit", "0")
        assert device.id in [d["id"] for d in json.loads(out)["devices"]], typed
