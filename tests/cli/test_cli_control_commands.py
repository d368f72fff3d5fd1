"""``mdmtui lock|wipe|reset-passcode``, ``actions`` and ``audit`` from the command line."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "services"))
from control_helpers import (  # noqa: E402
    PENDING_FOREVER, Behaviour, FakeMdm, audit_for, make_device, make_linkage, rows_for,
)

from mdmtui.cli import main  # noqa: E402
from mdmtui.config import load_settings  # noqa: E402
from mdmtui.storage.models import AuditEvent, Device, DeviceAction  # noqa: E402
from mdmtui.records import Outcome, WipeOptions  # noqa: E402
from mdmtui.services import control  # noqa: E402
from mdmtui.services.context import open_context  # noqa: E402


@pytest.fixture
def mdm(monkeypatch):
    """Every connector the CLI opens is the scriptable fake."""
    fake = FakeMdm()
    monkeypatch.setattr(control, "default_connector", fake.factory)
    monkeypatch.setattr(control, "FOLLOW_FIRST_DELAY_S", 0.01)
    return fake


@pytest.fixture
def fleet(tmp_path):
    """Devices in the CLI's default database."""
    ctx = open_context(load_settings())
    mi, intune = make_linkage("MI", "mobileiron"), make_linkage("Intune", "intune")
    devices = {
        "kiosk": make_device(mi, "M", "Kiosk-01", serial="SNK1", imei="356938035643809"),
        "phone": make_device(intune, "IS", "Phone-02", serial="SNP2"),
        "pc": make_device(intune, "IP", "PC-03", serial="SNPC3"),
        "twin_a": make_device(mi, "M", "Twin", serial="SNTA"),
        "twin_b": make_device(intune, "IS", "Twin", serial="SNTB"),
    }
    yield devices
    ctx.db.close()


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def tty(monkeypatch):
    """Standard input is a terminal; ``answer(text)`` sets what the admin types."""
    monkeypatch.setattr(sys, "stdin", _Tty())
    typed: list[str] = []
    monkeypatch.setattr("builtins.input", lambda prompt="": typed.pop(0))
    return typed.append


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def fresh(device: Device) -> Device:
    return Device.get_by_id(device.id)


def test_lock_by_imei_sends_records_and_exits_0(capsys, mdm, fleet):
    code, out, err = run(capsys, "lock", "35-693803-564380-9")
    assert code == 0, err
    assert mdm.sent_ids("lock") == [fleet["kiosk"].mdm_device_id]
    assert "Kiosk-01" in out and "succeeded" in out and "1 device: 1 succeeded" in out
    assert [r.outcome for r in rows_for(fleet["kiosk"])] == ["succeeded"]
    [entry] = audit_for(fleet["kiosk"])
    assert (entry.action, entry.outcome, entry.request_id) == ("lock", "succeeded",
                                                              f"req-send-{fleet['kiosk'].mdm_device_id}")


def test_lock_of_an_intune_pc_is_refused_with_the_reason_and_exit_1(capsys, mdm, fleet):
    code, out, err = run(capsys, "lock", "PC-03", "--json")
    assert code == 1
    [result] = json.loads(out)["results"]
    assert result["outcome"] == "refused" and "Intune cannot lock" in result["message"]
    assert mdm.sent == []
    assert audit_for(fleet["pc"])[0].outcome == "refused"


def test_ambiguous_name_lists_candidates_sends_and_records_nothing(capsys, mdm, fleet):
    code, out, err = run(capsys, "lock", "twin")
    assert code == 2
    assert "matches 2 devices" in err and "SNTA" in err and "SNTB" in err
    assert mdm.sent == [] and DeviceAction.select().count() == 0 and AuditEvent.select().count() == 0


def test_unknown_device_is_reported_and_nothing_sent(capsys, mdm, fleet):
    code, out, err = run(capsys, "lock", "Kiosk-01", "no-such-phone")
    assert code == 2 and "'no-such-phone'" in err and "nothing was sent" in err
    assert mdm.sent == [] and DeviceAction.select().count() == 0


def test_wipe_with_matching_confirm_is_sent_and_sets_warning(capsys, mdm, fleet):
    code, out, err = run(capsys, "wipe", "SNP2", "--confirm", "Phone-02", "--keep-user-data")
    assert code == 0, err
    assert mdm.sent == [("wipe", fleet["phone"].mdm_device_id, WipeOptions(keep_user_data=True))]
    assert fresh(fleet["phone"]).device_status == "Warning"
    [entry] = audit_for(fleet["phone"])
    assert entry.outcome == "succeeded" and json.loads(entry.options)["keep_user_data"] is True


def test_wipe_confirmation_mismatch_is_refused_and_recorded(capsys, mdm, fleet):
    code, out, err = run(capsys, "wipe", "Phone-02", "--confirm", "Phone-2")
    assert code == 1
    assert "does not match" in err and "nothing was sent" in err
    assert mdm.sent == []
    [row] = rows_for(fleet["phone"])
    assert row.outcome == "refused" and "does not match" in row.message
    [entry] = audit_for(fleet["phone"])
    assert entry.outcome == "refused" and entry.action == "wipe" and "Phone-2" in entry.message
    assert fresh(fleet["phone"]).device_status == "Unknown"


def test_wipe_without_confirmation_off_a_terminal_is_refused(capsys, mdm, fleet):
    code, out, err = run(capsys, "wipe", "Phone-02")
    assert code == 2 and "--confirm 'Phone-02'" in err
    assert mdm.sent == [] and audit_for(fleet["phone"])[0].outcome == "refused"


def test_wipe_typed_confirmation_on_a_terminal(capsys, mdm, fleet, tty):
    tty("Phone-02")
    code, out, err = run(capsys, "wipe", "Phone-02")
    assert code == 0, err
    assert "About to WIPE" in err and mdm.sent_ids("wipe") == [fleet["phone"].mdm_device_id]
    tty("phone-02")  # the name must be typed exactly
    code, out, err = run(capsys, "wipe", "Kiosk-01")
    assert code == 1 and mdm.sent_ids("wipe") == [fleet["phone"].mdm_device_id]
    assert audit_for(fleet["kiosk"])[0].outcome == "refused"


def test_bulk_wipe_needs_the_count(capsys, mdm, fleet):
    code, out, err = run(capsys, "wipe", "Kiosk-01", "Phone-02", "--yes-count", "3")
    assert code == 1 and "does not match the 2 devices" in err and mdm.sent == []
    assert [audit_for(fleet[k])[0].outcome for k in ("kiosk", "phone")] == ["refused", "refused"]
    code, out, err = run(capsys, "wipe", "Kiosk-01", "Phone-02", "--confirm", "Kiosk-01")
    assert code == 2 and "--yes-count 2" in err
    code, out, err = run(capsys, "wipe", "Kiosk-01", "Phone-02", "--yes-count", "2")
    assert code == 0, err
    assert sorted(mdm.sent_ids("wipe")) == sorted([fleet["kiosk"].mdm_device_id, fleet["phone"].mdm_device_id])
    assert "2 devices: 2 succeeded" in out


def test_bulk_wipe_typed_count_on_a_terminal(capsys, mdm, fleet, tty):
    tty("2")
    code, out, err = run(capsys, "wipe", "Kiosk-01", "Phone-02")
    assert code == 0, err
    assert "About to WIPE 2 devices" in err and "SNK1" in err and len(mdm.sent) == 2


def test_read_only_flag_refuses_without_asking_and_records(capsys, mdm, fleet, tty):
    code, out, err = run(capsys, "--read-only", "wipe", "Phone-02")
    assert code == 1 and "read-only" in out
    assert mdm.sent == []
    [entry] = audit_for(fleet["phone"])
    assert entry.outcome == "refused" and "read-only" in entry.message


def test_read_only_setting_from_the_environment(capsys, mdm, fleet, monkeypatch):
    monkeypatch.setenv("MDMTUI_READ_ONLY", "1")
    code, out, err = run(capsys, "reset-passcode", "Kiosk-01")
    assert code == 1 and mdm.sent == []
    assert audit_for(fleet["kiosk"])[0].outcome == "refused"


def test_dry_run_shows_what_would_be_sent_and_records_nothing(capsys, mdm, fleet):
    code, out, err = run(capsys, "wipe", "Phone-02", "PC-03", "--dry-run", "--keep-esim-plan")
    assert code == 0, err
    assert "would send wipe to Intune" in out and "keep the eSIM data plan: yes" in out
    assert "dry run, nothing sent" in out
    assert mdm.sent == [] and DeviceAction.select().count() == 0 and AuditEvent.select().count() == 0


def test_reset_passcode_shows_the_new_passcode_once_and_stores_it_nowhere(capsys, mdm, fleet):
    mdm.behaviours[fleet["kiosk"].mdm_device_id] = Behaviour(new_passcode="582046")
    code, out, err = run(capsys, "reset-passcode", "Kiosk-01")
    assert code == 0, err
    assert out.count("582046") == 1 and "shown once" in out
    settings = load_settings()
    assert "582046" not in settings.audit_log_file.read_text()
    assert all("582046" not in json.dumps(r.__data__, default=str) for r in DeviceAction.select())
    assert all("582046" not in json.dumps(e.__data__, default=str) for e in AuditEvent.select())
    log = settings.log_file
    assert not log.exists() or "582046" not in log.read_text()


def test_devices_from_a_file(capsys, mdm, fleet, tmp_path):
    listing = tmp_path / "devices.txt"
    listing.write_text("# to lock\nKiosk-01\n\nSNP2\n", encoding="utf-8")
    code, out, err = run(capsys, "lock", "--from", str(listing))
    assert code == 0, err
    assert len(mdm.sent) == 2
    code, out, err = run(capsys, "lock", "--from", str(tmp_path / "missing.txt"))
    assert code == 2 and "missing.txt" in err


def test_actions_pending_and_follow_up(capsys, mdm, fleet):
    mdm.behaviours[fleet["phone"].mdm_device_id] = PENDING_FOREVER
    code, out, err = run(capsys, "lock", "Phone-02", "--no-follow")
    assert code == 0 and "pending" in out
    code, out, err = run(capsys, "actions", "--pending", "--json")
    [row] = json.loads(out)
    assert row["outcome"] == "pending" and row["device_name"] == "Phone-02"
    mdm.behaviours[fleet["phone"].mdm_device_id] = Behaviour(follow=[Outcome.SUCCEEDED], message="done")
    code, out, err = run(capsys, "actions", "--follow-up", "--device", "Phone-02")
    assert code == 0 and "1 succeeded" in err
    assert rows_for(fleet["phone"])[0].outcome == "succeeded"
    code, out, err = run(capsys, "actions", "--pending")
    assert "no recorded actions match" in out


def test_audit_command_filters_and_json(capsys, mdm, fleet):
    run(capsys, "lock", "Kiosk-01")
    run(capsys, "wipe", "Phone-02", "--confirm", "wrong")
    code, out, err = run(capsys, "audit", "--device", "Phone-02", "--json")
    assert code == 0
    [entry] = json.loads(out)
    assert entry["action"] == "wipe" and entry["outcome"] == "refused" and entry["device_name"] == "Phone-02"
    code, out, err = run(capsys, "audit", "--action", "lock", "--since", "1h")
    assert code == 0 and "Kiosk-01" in out and "Phone-02" not in out
    code, out, err = run(capsys, "audit", "--since", "yesterday-ish")
    assert code == 2 and "--since" in err
    code, out, err = run(capsys, "audit", "--category", "collection")
    assert code == 0 and "no audit entries match" in out
