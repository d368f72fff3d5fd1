"""``mdmtui requests …`` and role refusals on the command line, end to end against the simulator.

The CLI runs as this process's OS user; the other admin of the two-person rule is a context built
for another user name on the same database.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "services"))
from control_helpers import seed_from_mdm, sim_linkage, sim_requests  # noqa: E402

from mdmtui.cli import main  # noqa: E402
from mdmtui.config import load_settings  # noqa: E402
from mdmtui.storage.models import ApprovalRequest, AuditEvent  # noqa: E402
from mdmtui.records import Action  # noqa: E402
from mdmtui.services import approvals, control  # noqa: E402
from mdmtui.services.lookup import confirm_label  # noqa: E402
from mdmtui.services.context import current_os_user, open_context  # noqa: E402
from mdmtui.sim import Simulator  # noqa: E402

ME = current_os_user()


@pytest.fixture
def sim(monkeypatch):
    monkeypatch.setattr(control, "FOLLOW_FIRST_DELAY_S", 0.05)
    simulator = Simulator(seed=5, intune=0, mobileiron=4, sdm=0).start()
    yield simulator
    simulator.stop()


def write_roles(tmp_path, my_role: str) -> None:
    path = tmp_path / "config" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'[roles.users]\n{ME} = "{my_role}"\nalice = "admin"\n', encoding="utf-8")


@pytest.fixture
def phone(sim, tmp_path):
    write_roles(tmp_path, "admin")
    ctx = open_context(load_settings())
    device = next(d for d in asyncio.run(seed_from_mdm(ctx, sim_linkage(ctx, sim, "mobileiron")))
                  if d.os_class == "M")
    yield dataclasses.replace(ctx, os_user="alice"), device
    ctx.db.close()


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_viewer_gets_one_line_and_exit_1(capsys, phone, tmp_path, sim):
    _, device = phone
    write_roles(tmp_path, "viewer")
    code, out, err = run(capsys, "lock", f"id:{device.id}")
    assert code == 1 and out == ""
    assert err == f"mdmtui: permission denied: lock needs the operator role; {ME} is viewer (user {ME})\n"
    assert sim_requests(sim, "mobileiron", "PUT", "/lock") == 0
    assert AuditEvent.select().where(AuditEvent.category == "access", AuditEvent.os_user == ME).count() == 1


def test_a_direct_wipe_points_to_a_request(capsys, phone, sim):
    _, device = phone
    code, out, err = run(capsys, "wipe", f"id:{device.id}", "--confirm", confirm_label(device), "--json")
    [result] = json.loads(out)["results"]
    assert code == 1 and result["outcome"] == "refused"
    assert "second admin's approval" in result["message"] and "mdmtui requests create wipe" in result["message"]
    assert sim_requests(sim, "mobileiron", "PUT", "/api/v2/devices/wipe") == 0


def test_create_then_the_other_admin_approves_once(capsys, phone, sim):
    alice, device = phone
    [req] = approvals.create(alice, [device.id], Action.WIPE, "stolen at the station")
    code, out, err = run(capsys, "requests", "list")
    assert code == 0 and f"{req.id}" in out and "stolen at the station" in out and "alice" in out
    code, out, err = run(capsys, "requests", "approve", str(req.id), "--confirm", "wrong name")
    assert code == 1 and "does not match the device name" in err
    code, out, err = run(capsys, "requests", "approve", str(req.id), "--confirm", confirm_label(device))
    assert code == 0, err
    assert "the device is unchanged since the request" in out and "succeeded" in out
    assert sim_requests(sim, "mobileiron", "PUT", "/api/v2/devices/wipe") == 1
    code, out, err = run(capsys, "requests", "approve", str(req.id), "--confirm", confirm_label(device))
    assert code == 1 and "no longer pending" in err
    assert sim_requests(sim, "mobileiron", "PUT", "/api/v2/devices/wipe") == 1
    code, out, err = run(capsys, "requests", "show", str(req.id), "--json")
    chain = json.loads(out)["chain"]
    assert [e["action"] for e in chain][:2] == ["request.create", "request.approve"]
    sent = [e for e in chain if e["category"] == "action"]
    assert sent[-1]["outcome"] == "succeeded" and sent[-1]["os_user"] == ME
    assert chain[-1]["action"] == "request.approve" and chain[-1]["outcome"] == "refused"  # the second try
    assert all(e["approval_id"] == req.id for e in chain)


def test_my_own_request_cannot_be_approved_by_me(capsys, phone, sim):
    _, device = phone
    code, out, err = run(capsys, "requests", "create", "wipe", f"id:{device.id}", "--justification", "lost",
                         "--confirm", confirm_label(device))
    assert code == 0, err
    req = ApprovalRequest.get()
    assert f"request #{req.id}" in out and req.requested_by == ME
    code, out, err = run(capsys, "requests", "approve", str(req.id), "--confirm", confirm_label(device))
    assert code == 1 and err == f"mdmtui: {ME} asked for it: another admin must approve it\n"
    code, out, err = run(capsys, "requests", "reject", str(req.id), "--reason", "asked by mistake")
    assert code == 0 and "rejected" in out
    assert sim_requests(sim, "mobileiron", "PUT", "/api/v2/devices/wipe") == 0


def test_a_missing_justification_is_bad_usage(capsys, phone):
    _, device = phone
    code, _, err = run(capsys, "requests", "create", "wipe", f"id:{device.id}", "--justification", " ")
    assert code == 2 and "a justification is required" in err
    assert ApprovalRequest.select().count() == 0
