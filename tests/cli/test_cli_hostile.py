"""Hostile MDM data through the real CLI: no control character from an MDM reaches the terminal raw."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "services"))
from collect_helpers import sim_linkage  # noqa: E402

from mdmtui.cli import main  # noqa: E402
from mdmtui.storage.models import Device  # noqa: E402
from mdmtui.sim import Simulator  # noqa: E402
from mdmtui.sim.scenario import HOSTILE_HUGE, HOSTILE_VALUES  # noqa: E402
from mdmtui.textwidth import width  # noqa: E402

# Anything a terminal could act on; the CLI's own line ends are the only newlines allowed
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
SIZE = 12


@pytest.fixture(scope="module")
def sim():
    with Simulator(seed=31, intune=SIZE, mobileiron=SIZE, sdm=SIZE, scenario="hostile") as simulator:
        yield simulator


@pytest.fixture
def hostile(sqlite_ctx, sim, capsys):
    """The hostile fleet collected (SQLite: PostgreSQL's NUL and length limits are issue 11 item 7)."""
    ctx = sqlite_ctx
    for system in ("intune", "mobileiron", "sdm"):
        sim_linkage(ctx, sim, system, page_size=5)
    code, out, err = cli(capsys, ctx, "collect")
    assert_terminal_safe(out + err)
    assert code == 0, out + err
    return ctx


def cli(capsys, ctx, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(["--database", ctx.settings.database, *argv])
    except SystemExit as exc:  # argparse: bad usage
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_terminal_safe(text: str) -> None:
    raw = RAW_CONTROL.search(text)
    assert raw is None, f"raw {raw.group()!r} at {text[max(0, raw.start() - 40):raw.end() + 40]!r}"
    assert not any(line.startswith("mdmtui: error: fake") for line in text.splitlines())


def stored(value: str) -> str:
    """What the inventory holds of an MDM value: NUL cannot be stored (PostgreSQL), it becomes U+FFFD."""
    return value.replace("\x00", "\ufffd")


def hostile_devices() -> list[Device]:
    values = [stored(v) for v in (*HOSTILE_VALUES.values(), HOSTILE_HUGE)]
    return list(Device.select().where(Device.user_name.in_(values)).order_by(Device.id))


def test_the_hostile_fleet_is_stored_as_the_mdm_sent_it(hostile, sim):
    devices = hostile_devices()
    assert len(devices) == 3 * (len(HOSTILE_VALUES) + 1)
    assert {d.user_name for d in devices} == {stored(v) for v in (*HOSTILE_VALUES.values(), HOSTILE_HUGE)}
    assert sim.scenario_devices["intune"].keys() == {*HOSTILE_VALUES, "huge_value"}


def test_devices_list_escapes_and_keeps_columns_aligned(capsys, hostile):
    code, out, err = cli(capsys, hostile, "devices", "list", "--limit", "0", "--sort", "id")
    assert code == 0, err
    assert_terminal_safe(out + err)
    assert "\\x1b[2JCleared" in out and "\\x1b]0;title\\x07Titled" in out and "\\x9b31mC1 CSI" in out
    assert "nul\ufffdbyte" in out and "over\\rwrite\\x08\\x08X" in out and "ok\\nmdmtui: error: fake" in out
    assert "del\\x7f \\u202eevil\\u202c" in out
    lines = out.splitlines()
    header, rows = lines[0], lines[1:1 + 3 * SIZE]
    column = width(header[:header.index("OS")])
    assert any("長い名前長い名前" in row for row in rows)  # the 320-character name, cut to the column
    for row in rows:  # every row's OS column starts where the header's does, wide names and escapes too
        device = Device.get(Device.id == int(row.split()[0]))
        if device.os_name:
            assert width(row[:row.index(device.os_name, len(str(device.id)))]) == column, row


def test_devices_show_of_each_hostile_device(capsys, hostile):
    for device in hostile_devices():
        code, out, err = cli(capsys, hostile, "devices", "show", f"id:{device.id}")
        assert code == 0, err
        assert_terminal_safe(out + err)
        if device.user_name == HOSTILE_HUGE:  # a 70,000-character value is cut, saying how much more
            assert "H" * 1_000 + "…(69,000 more characters)" in out and "H" * 1_001 not in out


def test_json_keeps_the_values_exact_and_escapes_every_control(capsys, hostile):
    code, out, err = cli(capsys, hostile, "devices", "list", "--limit", "0", "--json")
    assert code == 0, err
    assert_terminal_safe(out + err)
    names = {d["computer_name"] for d in json.loads(out)["devices"]}
    assert HOSTILE_VALUES["c1_csi"] in names and HOSTILE_VALUES["del_bidi"] in names


def test_error_lines_and_listings_quote_hostile_input_escaped(capsys, hostile):
    code, out, err = cli(capsys, hostile, "devices", "show", "\x1b[2J\nmdmtui: error: fake")
    assert code == 1 and err.startswith("mdmtui: ")
    assert_terminal_safe(out + err)
    code, out, err = cli(capsys, hostile, "devices", "delete", "--search", "Cleared")
    assert code == 1 and "\\x1b[2JCleared" in err
    assert_terminal_safe(out + err)
    terms = [f"id:{d.id}" for d in hostile_devices()]
    code, out, err = cli(capsys, hostile, "lock", "--dry-run", *terms)
    assert "\\x1b]0;title\\x07Titled" in out
    assert_terminal_safe(out + err)
    code, out, err = cli(capsys, hostile, "wipe", terms[1])
    assert code == 2 and "wipe refused" in err
    assert_terminal_safe(out + err)
    for argv in (("audit",), ("actions",), ("linkage", "list"), ("devices", "list", "--bogus\x1b[2J")):
        code, out, err = cli(capsys, hostile, *argv)
        assert_terminal_safe(out + err)


def test_sdm_properties_check_escapes_the_file_it_quotes(capsys, hostile, tmp_path):
    path = tmp_path / "sdm_import.properties"
    path.write_text("sdm.1.name=\x1b]0;title\x07\nsdm.1.dbhost=db\x9b1\nsdm.1.dbport=2\r6\n\x1b[2J\n", encoding="utf-8")
    code, out, err = cli(capsys, hostile, "sdm-properties", "check", str(path))
    assert code == 1 and "\\x1b]0;title\\x07" in out
    assert_terminal_safe(out + err)
    code, out, err = cli(capsys, hostile, "sdm-properties", "show", str(path))
    assert_terminal_safe(out + err)


def test_a_real_subprocess_prints_no_raw_control_character(hostile):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    for argv in (("devices", "list", "--limit", "0"), ("devices", "show", "Titled"), ("audit",)):
        done = subprocess.run([sys.executable, "-m", "mdmtui", "--database", hostile.settings.database, *argv],
                              env=env, capture_output=True, timeout=120)
        text = (done.stdout + done.stderr).decode("utf-8")
        assert done.returncode in (0, 1), text
        assert_terminal_safe(text)
