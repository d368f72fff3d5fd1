"""sdm_import.properties: one test per rule (exact message and line), round trips, edits, CLI."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path

import pytest

from mdmtui.errors import ConfigurationError, MdmtuiError
from mdmtui.sdm_properties import (
    DEFAULT_DBPORT,
    Problem,
    SdmDbEntry,
    check_dbhost,
    load,
    parse,
    render,
    write,
)
from mdmtui.cli.sdm_properties import add_sdm_properties_parser, run, run_check, run_show

SPEC_EXAMPLE = (
    "sdm.1.name=ITDM2 SD Manager 01\n"
    "sdm.1.dbhost=192.168.50.100\n"
    "sdm.1.dbport=26066\n"
    "sdm.2.name=ITDM2 SD Manager 02\n"
    "sdm.2.dbhost=SDM-Server02\n"
    "sdm.2.dbport=36066\n"
)
LINKAGES = ["ITDM2 SD Manager 01", "ITDM2 SD Manager 02"]


def problems(text: str | bytes, names: list[str] | None = None) -> list[str]:
    """The problems of a text, as the CLI and the TUI would show them."""
    return [str(p) for p in parse(text, sdm_linkage_names=names).problems]


# ------------------------------------------------------------------------------------------ reading


def test_spec_example_parses_clean() -> None:
    report = parse(SPEC_EXAMPLE, sdm_linkage_names=LINKAGES)
    assert report.ok
    assert report.entries == [
        SdmDbEntry(1, "ITDM2 SD Manager 01", "192.168.50.100", 26066),
        SdmDbEntry(2, "ITDM2 SD Manager 02", "SDM-Server02", 36066),
    ]
    assert report.entries[1].lines == {"name": 4, "dbhost": 5, "dbport": 6}
    assert report.for_linkage("ITDM2 SD Manager 02").dbhost == "SDM-Server02"
    assert report.for_linkage("nope") is None


def test_port_defaults_to_26066() -> None:
    report = parse("sdm.1.name=A\nsdm.1.dbhost=sdm01\n")
    assert report.ok
    assert report.entries[0].dbport == DEFAULT_DBPORT == 26066


def test_japanese_linkage_names_in_utf8() -> None:
    text = "# 本社のSDM\nsdm.1.name=本社 スマートデバイス管理\nsdm.1.dbhost=sdm-honsha\n"
    report = parse(text.encode("utf-8"), sdm_linkage_names=["本社 スマートデバイス管理"])
    assert report.ok
    assert report.entries[0].name == "本社 スマートデバイス管理"


def test_comments_whitespace_and_colon_separator() -> None:
    text = ("# comment\n! also a comment\n   \n"
            "  sdm.1.name  =  ITDM2 SD Manager 01  \n"
            "sdm.1.dbhost : fe80::1\n"
            "\tsdm.1.dbport:36066\n")
    report = parse(text, sdm_linkage_names=LINKAGES)
    assert report.ok, report.problems
    assert report.entries == [SdmDbEntry(1, "ITDM2 SD Manager 01", "fe80::1", 36066)]


def test_crlf_and_bom_are_read() -> None:
    report = parse(("\ufeff" + SPEC_EXAMPLE.replace("\n", "\r\n")).encode("utf-8"))
    assert report.ok
    assert [e.n for e in report.entries] == [1, 2]


def test_problem_str_format() -> None:
    assert str(Problem(4, "sdm.1.dbport: port 70000 is out of range (1-65535)")) == (
        "line 4: sdm.1.dbport: port 70000 is out of range (1-65535)")


def test_unknown_key() -> None:
    assert problems("sdm.1.name=A\nsdm.1.dbhost=h\nsdm.1.host=h\n") == [
        "line 3: sdm.1.host: unknown key (expected sdm.N.name, sdm.N.dbhost or sdm.N.dbport)"]


def test_unknown_key_in_other_case_says_keys_are_case_sensitive() -> None:
    assert problems("SDM.1.Name=A\n") == [
        "line 1: SDM.1.Name: unknown key (keys are case-sensitive: write sdm.1.name)"]


@pytest.mark.parametrize("n", ["0", "-1", "x", "1.5", ""])
def test_n_not_a_natural_number(n: str) -> None:
    assert problems(f"# header\nsdm.{n}.name=A\n") == [
        f"line 2: sdm.{n}.name: N must be a natural number (1, 2, 3, ...), got '{n}'"]


def test_n_with_leading_zero_is_refused() -> None:
    assert problems("sdm.01.name=A\n") == [
        "line 1: sdm.01.name: N must be a natural number (1, 2, 3, ...) without leading zeros, "
        "got '01'"]


def test_duplicate_key_reports_second_line_and_later_value_wins() -> None:
    report = parse("sdm.1.name=A\nsdm.1.dbhost=h1\n\nsdm.1.dbhost=h2\n")
    assert [str(p) for p in report.problems] == [
        "line 4: sdm.1.dbhost: duplicate key, also on line 2; this later value wins"]
    assert report.entries[0].dbhost == "h2"


def test_entry_without_name_reported_at_its_first_line() -> None:
    text = "sdm.1.name=A\nsdm.1.dbhost=h\n# second\nsdm.2.dbport=1\nsdm.2.dbhost=h2\n"
    report = parse(text)
    assert [str(p) for p in report.problems] == [
        "line 4: sdm.2: entry has no sdm.2.name (the MDM settings name of its SDM linkage)"]
    assert [e.n for e in report.entries] == [1]


def test_entry_without_dbhost() -> None:
    assert problems("sdm.3.name=A\n") == [
        "line 1: sdm.3: entry has no sdm.3.dbhost "
        "(IP address or host name of the SDM database server)"]


def test_empty_name() -> None:
    assert problems("sdm.1.name=\nsdm.1.dbhost=h\n") == ["line 1: sdm.1.name: the name is empty"]


def test_name_matching_no_linkage() -> None:
    text = "sdm.1.name=ITDM2 SD Manger 01\nsdm.1.dbhost=h\n"
    assert problems(text, LINKAGES) == [
        "line 1: sdm.1.name: no SDM linkage is named 'ITDM2 SD Manger 01'; "
        "did you mean 'ITDM2 SD Manager 01'?"]
    assert problems(text) == []  # without the linkage names, names are not checked


def test_name_differing_in_case_only_is_no_match() -> None:
    assert problems("sdm.1.name=itdm2 sd manager 02\nsdm.1.dbhost=h\n", LINKAGES) == [
        "line 1: sdm.1.name: no SDM linkage is named 'itdm2 sd manager 02'; "
        "did you mean 'ITDM2 SD Manager 02'?"]


def test_name_when_there_are_no_sdm_linkages() -> None:
    assert problems("sdm.1.name=A\nsdm.1.dbhost=h\n", []) == [
        "line 1: sdm.1.name: no SDM linkage is named 'A' (there are no SDM linkages)"]


def test_two_entries_naming_the_same_linkage() -> None:
    text = "sdm.2.name=A\nsdm.2.dbhost=h\nsdm.1.dbhost=g\nsdm.1.name=A\n"
    assert problems(text, ["A"]) == [
        "line 4: sdm.1.name: linkage 'A' is already named by sdm.2 (line 1)"]


@pytest.mark.parametrize(("host", "message"), [
    ("", "the host is empty"),
    ("SDM_Server02", "host name 'SDM_Server02' contains '_'; "
                     "use only letters, digits, hyphens (-) and dots (.)"),
    ("sdm server", "host name 'sdm server' contains ' '; "
                   "use only letters, digits, hyphens (-) and dots (.)"),
    ("サーバ", "host name 'サーバ' contains 'サ', 'バ', 'ー'; "
             "use only letters, digits, hyphens (-) and dots (.)"),
    ("a" * 33, f"host name '{'a' * 33}' is 33 characters long; at most 32 are allowed"),
    ("-sdm", "host name '-sdm' has a part starting or ending with a hyphen"),
    ("sdm-.example", "host name 'sdm-.example' has a part starting or ending with a hyphen"),
    ("sdm..example", "host name 'sdm..example' has an empty part between dots"),
    ("192.168.50.300", "'192.168.50.300' is not a valid IPv4 address"),
    ("fe80::1::2", "'fe80::1::2' is not a valid IPv6 address"),
])
def test_host_name_rules(host: str, message: str) -> None:
    assert problems(f"sdm.1.name=A\nsdm.1.dbhost={host}\n") == [f"line 2: sdm.1.dbhost: {message}"]


@pytest.mark.parametrize("host", ["192.168.50.100", "SDM-Server02", "a" * 32, "sdm01.corp.example",
                                  "2001:db8::10", "::1", "S"])
def test_host_names_and_addresses_accepted(host: str) -> None:
    assert check_dbhost(host) is None


@pytest.mark.parametrize(("port", "message"), [
    ("70000", "port 70000 is out of range (1-65535)"),
    ("0", "port 0 is out of range (1-65535)"),
    ("abc", "port 'abc' is not a number"),
    ("-1", "port '-1' is not a number"),
    ("+80", "port '+80' is not a number"),
    ("", "the port is empty; remove the line to use the default 26066"),
])
def test_port_rules(port: str, message: str) -> None:
    text = "sdm.1.name=A\nsdm.1.dbhost=h\n\nsdm.1.dbport=" + port + "\n"
    assert problems(text) == [f"line 4: sdm.1.dbport: {message}"]


def test_port_at_both_ends_of_the_range() -> None:
    report = parse("sdm.1.name=A\nsdm.1.dbhost=h\nsdm.1.dbport=1\n"
                   "sdm.2.name=B\nsdm.2.dbhost=h\nsdm.2.dbport=65535\n")
    assert report.ok
    assert [e.dbport for e in report.entries] == [1, 65535]


def test_line_that_is_not_key_value() -> None:
    assert problems("sdm.1.name=A\nsdm.1.dbhost h\n") == [
        "line 1: sdm.1: entry has no sdm.1.dbhost "
        "(IP address or host name of the SDM database server)",
        "line 2: 'sdm.1.dbhost h' is not a Key=Value line (start a comment with '#')",
    ]


def test_latin1_byte_reported_at_its_line() -> None:
    data = "sdm.1.name=A\nsdm.1.dbhost=h\n# Café\n".encode("latin-1")
    report = parse(data)
    assert [str(p) for p in report.problems] == [
        "line 3: not valid UTF-8 (byte 0xE9 at column 6); save the file as UTF-8"]
    assert not report.utf8
    assert report.entries[0].name == "A"  # the rest of the file is still read


def test_not_utf8_line_counts_crlf_once() -> None:
    data = b"#a\r\n#b\r\n\r\nsdm.1.name=Caf\xe9\r\n"
    assert problems(data)[0] == (
        "line 4: not valid UTF-8 (byte 0xE9 at column 15); save the file as UTF-8")


def test_problems_come_in_line_order() -> None:
    text = "sdm.1.dbport=x\nsdm.1.name=A\nsdm.1.dbhost=h_h\nbad line\n"
    assert [p.line for p in parse(text).problems] == [1, 3, 4]


# ------------------------------------------------------------------------------------------ writing

ORIGINAL = (
    "# SDM database servers for software collection\r\n"
    "! maintained by the asset team\r\n"
    "\r\n"
    "sdm.1.name = ITDM2 SD Manager 01\r\n"
    "sdm.1.dbhost = 192.168.50.100   \r\n"
    "sdm.1.dbport = 026066\r\n"
    "\r\n"
    "# the Osaka server\r\n"
    "sdm.2.name: ITDM2 SD Manager 02\r\n"
    "sdm.2.dbhost: SDM-Server02\r\n"
    "sdm.2.dbport: 36066\r\n"
    "sdm.3.dbhost=half-written\r\n"
    "custom.key=kept"
)


def test_round_trip_of_unmodified_file_is_byte_identical(tmp_path: Path) -> None:
    path = tmp_path / "sdm_import.properties"
    raw = ("\ufeff" + ORIGINAL).encode("utf-8")
    path.write_bytes(raw)
    report = load(path)
    write(path, report.entries, report.text)
    assert path.read_bytes() == raw


def test_round_trip_of_spec_example() -> None:
    assert render(parse(SPEC_EXAMPLE).entries, SPEC_EXAMPLE) == SPEC_EXAMPLE


def test_changed_value_replaced_in_place_keeping_comments_and_layout() -> None:
    entries = parse(ORIGINAL).entries
    entries[1] = dataclasses.replace(entries[1], dbhost="sdm-osaka", dbport=36067)
    assert render(entries, ORIGINAL) == ORIGINAL.replace(
        "sdm.2.dbhost: SDM-Server02", "sdm.2.dbhost: sdm-osaka").replace(
        "sdm.2.dbport: 36066", "sdm.2.dbport: 36067")


def test_value_replaced_keeps_trailing_spacing() -> None:
    entries = parse(ORIGINAL).entries
    entries[0] = dataclasses.replace(entries[0], dbhost="10.0.0.1")
    assert "sdm.1.dbhost = 10.0.0.1   \r\n" in render(entries, ORIGINAL)


def test_new_entry_appended_in_a_block_with_the_files_line_ends() -> None:
    entries = parse(ORIGINAL).entries + [SdmDbEntry(4, "名古屋 SDM", "sdm-nagoya")]
    assert render(entries, ORIGINAL) == ORIGINAL + (
        "\r\nsdm.4.name=名古屋 SDM\r\nsdm.4.dbhost=sdm-nagoya\r\nsdm.4.dbport=26066\r\n")


def test_removed_entry_lines_removed_others_kept() -> None:
    entries = [e for e in parse(ORIGINAL).entries if e.n != 2]
    expected = ORIGINAL.replace(
        "sdm.2.name: ITDM2 SD Manager 02\r\nsdm.2.dbhost: SDM-Server02\r\nsdm.2.dbport: 36066\r\n", "")
    assert render(entries, ORIGINAL) == expected
    assert "# the Osaka server" in expected and "sdm.3.dbhost=half-written" in expected


def test_field_added_to_existing_entry_after_its_last_line() -> None:
    text = "sdm.1.name=A\nsdm.1.dbhost=h\n# end\n"
    entry = dataclasses.replace(parse(text).entries[0], dbport=36066)
    assert render([entry], text) == "sdm.1.name=A\nsdm.1.dbhost=h\nsdm.1.dbport=36066\n# end\n"


def test_default_port_not_added_to_an_entry_without_a_port_line() -> None:
    text = "sdm.1.name=A\nsdm.1.dbhost=h\n"
    entry = dataclasses.replace(parse(text).entries[0], dbhost="g")
    assert render([entry], text) == "sdm.1.name=A\nsdm.1.dbhost=g\n"


def test_completing_an_incomplete_entry() -> None:
    text = "sdm.3.dbhost=half-written\n"
    assert render([SdmDbEntry(3, "C", "half-written")], text) == (
        "sdm.3.dbhost=half-written\nsdm.3.name=C\n")


def test_render_without_original() -> None:
    text = render([SdmDbEntry(2, "B", "h2", 36066), SdmDbEntry(1, "A", "h1")])
    assert text == ("sdm.1.name=A\nsdm.1.dbhost=h1\nsdm.1.dbport=26066\n"
                    "sdm.2.name=B\nsdm.2.dbhost=h2\nsdm.2.dbport=36066\n")
    assert parse(text).entries == [SdmDbEntry(1, "A", "h1"), SdmDbEntry(2, "B", "h2", 36066)]


def test_duplicate_key_edit_changes_the_value_that_counts() -> None:
    text = "sdm.1.name=A\nsdm.1.dbhost=old\nsdm.1.dbhost=h\n"
    entry = dataclasses.replace(parse(text).entries[0], dbhost="new")
    rendered = render([entry], text)
    assert rendered == "sdm.1.name=A\nsdm.1.dbhost=old\nsdm.1.dbhost=new\n"
    assert parse(rendered).entries[0].dbhost == "new"


@pytest.mark.parametrize("entry", [SdmDbEntry(1, "A\nsdm.9.name=B", "h"), SdmDbEntry(1, " A", "h"),
                                   SdmDbEntry(0, "A", "h")])
def test_render_refuses_values_it_cannot_write_back(entry: SdmDbEntry) -> None:
    with pytest.raises(ConfigurationError):
        render([entry])


def test_render_refuses_the_same_n_twice() -> None:
    with pytest.raises(ConfigurationError, match="used only once"):
        render([SdmDbEntry(1, "A", "h"), SdmDbEntry(1, "B", "g")])


def test_write_is_atomic_utf8_and_keeps_permissions(tmp_path: Path) -> None:
    path = tmp_path / "sdm_import.properties"
    path.write_text("# old\n", encoding="utf-8")
    os.chmod(path, 0o640)
    write(path, [SdmDbEntry(1, "本社", "sdm-honsha")], "# old\n")
    assert path.read_bytes() == (
        "# old\nsdm.1.name=本社\nsdm.1.dbhost=sdm-honsha\nsdm.1.dbport=26066\n".encode())
    assert (path.stat().st_mode & 0o777) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["sdm_import.properties"]  # no temp file left


def test_failed_write_leaves_the_file_and_no_temp_file(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "sdm_import.properties"
    path.write_text(SPEC_EXAMPLE, encoding="utf-8")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        write(path, [], SPEC_EXAMPLE)
    assert path.read_text(encoding="utf-8") == SPEC_EXAMPLE
    assert [p.name for p in tmp_path.iterdir()] == ["sdm_import.properties"]


def test_load_missing_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        load(tmp_path / "missing.properties")


# ---------------------------------------------------------------------------------------------- CLI


def cli_args(*argv: str, default_path: Path | None = None) -> argparse.Namespace:
    """Parse argv the way the main CLI will, with the sdm-properties parser registered."""
    parser = argparse.ArgumentParser(prog="mdmtui")
    add_sdm_properties_parser(parser.add_subparsers(dest="command"), default_path=default_path)
    return parser.parse_args(["sdm-properties", *argv])


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "sdm_import.properties"
    path.write_text(SPEC_EXAMPLE, encoding="utf-8")
    return path


@pytest.fixture
def bad_file(tmp_path: Path) -> Path:
    path = tmp_path / "bad.properties"
    path.write_text("sdm.1.name=Tokyo SDM\nsdm.1.dbhost=SDM_01\nsdm.1.dbport=70000\n",
                    encoding="utf-8")
    return path


def test_check_clean_file_exits_0(spec_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_check(cli_args("check", str(spec_file)), lambda: LINKAGES) == 0
    assert capsys.readouterr().out == "ok: 2 entries\n"


def test_check_problems_exit_1_one_per_line(bad_file: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert run_check(cli_args("check", str(bad_file)), lambda: LINKAGES) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{bad_file}:1: sdm.1.name: no SDM linkage is named 'Tokyo SDM'",
        f"{bad_file}:2: sdm.1.dbhost: host name 'SDM_01' contains '_'; "
        "use only letters, digits, hyphens (-) and dots (.)",
        f"{bad_file}:3: sdm.1.dbport: port 70000 is out of range (1-65535)",
    ]


def test_check_without_linkage_names_skips_that_rule(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.properties"
    path.write_text("sdm.1.name=Anything\nsdm.1.dbhost=h\n", encoding="utf-8")
    assert run_check(cli_args("check", str(path)), None) == 0
    assert capsys.readouterr().out == "ok: 1 entry\n"


def test_check_uses_default_path(spec_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(cli_args("check", default_path=spec_file), lambda: LINKAGES) == 0
    assert "ok: 2 entries" in capsys.readouterr().out


def test_check_without_path_or_default_is_bad_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_check(cli_args("check"), None) == 2
    assert "give PATH" in capsys.readouterr().err


def test_check_missing_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_check(cli_args("check", str(tmp_path / "nope")), None) == 1
    assert "cannot read" in capsys.readouterr().err


def test_check_when_linkage_names_cannot_be_read(spec_file: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    def unreachable() -> list[str]:
        raise MdmtuiError("the database is not reachable")

    assert run_check(cli_args("check", str(spec_file)), unreachable) == 1
    assert "the database is not reachable" in capsys.readouterr().err


def test_show_prints_a_table_aligned_for_wide_characters(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.properties"
    path.write_text("sdm.1.name=本社\nsdm.1.dbhost=sdm-honsha\nsdm.2.name=Osaka\nsdm.2.dbhost=h2\n"
                    "sdm.2.dbport=36066\n", encoding="utf-8")
    assert run_show(cli_args("show", str(path)), None) == 0
    assert capsys.readouterr().out.splitlines() == [
        "N  NAME   DBHOST      DBPORT",
        "1  本社   sdm-honsha  26066",
        "2  Osaka  h2          36066",
    ]


def test_show_json(spec_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(cli_args("show", "--json", str(spec_file))) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["entries"][1] == {"n": 2, "name": "ITDM2 SD Manager 02", "dbhost": "SDM-Server02",
                                  "dbport": 36066, "lines": {"name": 4, "dbhost": 5, "dbport": 6}}
    assert data["problems"] == []


def test_show_with_problems_exits_1_and_reports_on_stderr(
        bad_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_show(cli_args("show", str(bad_file)), None) == 1
    captured = capsys.readouterr()
    assert "SDM_01" in captured.out
    assert f"{bad_file}:3: sdm.1.dbport: port 70000 is out of range (1-65535)" in captured.err


def test_subcommand_is_required() -> None:
    with pytest.raises(SystemExit) as exited:
        cli_args()
    assert exited.value.code == 2


# ------------------------------------------------------------------ linkage renamed or removed, huge files


def test_rename_and_remove_linkage_touch_only_that_entry(tmp_path: Path) -> None:
    from mdmtui.sdm_properties import remove_linkage, rename_linkage

    path = tmp_path / "p.properties"
    original = "# head\n" + SPEC_EXAMPLE.replace("sdm.2.name=", "# second\nsdm.2.name = ")
    path.write_text(original, encoding="utf-8")
    assert rename_linkage(path, "ITDM2 SD Manager 02", "大阪 SDM") == 2
    assert path.read_text(encoding="utf-8") == original.replace("ITDM2 SD Manager 02", "大阪 SDM")
    assert rename_linkage(path, "no such linkage", "x") is None
    assert remove_linkage(path, "ITDM2 SD Manager 01") == 1
    assert path.read_text(encoding="utf-8") == "# head\n# second\nsdm.2.name = 大阪 SDM\n" \
        "sdm.2.dbhost=SDM-Server02\nsdm.2.dbport=36066\n"
    assert remove_linkage(tmp_path / "absent.properties", "x") is None


def test_problems_of_other_entries_do_not_concern_a_linkage() -> None:
    text = SPEC_EXAMPLE + "sdm.3.name=Gone\nsdm.3.dbhost=db_3\n"
    report = parse(text, sdm_linkage_names=LINKAGES)
    assert len(report.problems) == 2  # sdm.3 names no linkage and has a bad host
    assert report.problems_for("ITDM2 SD Manager 01") == []
    assert len(report.problems_for("Gone")) == 2
    stray = parse(text + "garbage\n", sdm_linkage_names=LINKAGES)
    assert [p.line for p in stray.problems_for("ITDM2 SD Manager 01")] == [9]  # may be about any entry


def test_a_huge_file_gives_short_messages_and_never_crashes(tmp_path: Path, capsys) -> None:
    from mdmtui.sdm_properties import summary

    huge_key = "k" * 5_000_000
    digits = "9" * 5_000
    text = f"{huge_key}=1\nsdm.1.name=A\nsdm.1.dbhost=h\nsdm.1.dbport={digits}\nsdm.{digits}.name=B\n"
    text += "x\n" * 20_000
    report = parse(text, sdm_linkage_names=["A"])
    assert max(len(p.message) for p in report.problems) < 300
    assert f"port {'9' * 80}…(4,920 more characters) is out of range" in report.problems[1].message
    assert len(summary(report.problems)) < 1_500 and summary(report.problems).endswith("; and 19,998 more")
    path = tmp_path / "p.properties"
    path.write_text(text, encoding="utf-8")
    assert run_check(cli_args("check", str(path)), lambda: ["A"]) == 1
    out = capsys.readouterr().out
    assert len(out) < 20_000 and out.endswith("... and 19,953 more problems\n")


def test_a_file_that_cannot_be_rewritten_changes_nothing(tmp_path: Path) -> None:
    from mdmtui.sdm_properties import rename_linkage

    path = tmp_path / "p.properties"
    path.write_bytes(b"sdm.1.name=A\nsdm.1.dbhost=h\n# caf\xe9\n")
    with pytest.raises(ConfigurationError, match="it is not valid UTF-8 .*nothing was changed"):
        rename_linkage(path, "A", "B")
    assert path.read_bytes() == b"sdm.1.name=A\nsdm.1.dbhost=h\n# caf\xe9\n"
