"""Display wording shared by the console and the CLI."""

from datetime import datetime, UTC

from mdmtui.formatting import NOT_COLLECTED, NOT_SET, shown, size


def test_missing_mdm_items_read_not_collected_but_admin_fields_read_not_set():
    assert shown(None, "Smart device") == NOT_COLLECTED == "not collected"
    assert shown("", "Network") == NOT_COLLECTED
    assert shown(None, "Asset information") == NOT_SET
    assert shown(None, "Collection") == NOT_SET  # e.g. "missing from MDM since": not missing


def test_values_read_as_an_admin_expects():
    assert shown(False) == "No" and shown(True) == "Yes"
    assert shown(datetime(2026, 11, 27, 0, 0, tzinfo=UTC)).startswith("2026-11-2")
    assert size(64 * (1 << 30)) == "64.0 GB" and size(None) is None


def test_printable_escapes_every_control_visibly_and_keeps_wide_text():
    from mdmtui.formatting import printable

    assert printable("営業部\x1b[2J\x1b]0;t\x07\x9b\x00\r\b\n\t\x7f\u202e\u2028") == (
        "営業部\\x1b[2J\\x1b]0;t\\x07\\x9b\\x00\\r\\x08\\n\\t\\x7f\\u202e\\u2028")
    assert printable(None) == "" and printable(42) == "42"


def test_clip_says_how_much_was_cut():
    from mdmtui.formatting import clip

    assert clip("x" * 10, 10) == "x" * 10
    assert clip("x" * 1_500) == "x" * 1_000 + "…(500 more characters)"
