"""Display wording shared by the console and the CLI."""

from datetime import datetime, timezone

from mdmtui.formatting import NOT_COLLECTED, NOT_SET, shown, size


def test_missing_mdm_items_read_not_collected_but_admin_fields_read_not_set():
    assert shown(None, "Smart device") == NOT_COLLECTED == "not collected"
    assert shown("", "Network") == NOT_COLLECTED
    assert shown(None, "Asset information") == NOT_SET
    assert shown(None, "Collection") == NOT_SET  # e.g. "missing from MDM since": not missing


def test_values_read_as_an_admin_expects():
    assert shown(False) == "No" and shown(True) == "Yes"
    assert shown(datetime(2026, 11, 27, 0, 0, tzinfo=timezone.utc)).startswith("2026-11-2")
    assert size(64 * (1 << 30)) == "64.0 GB" and size(None) is None
