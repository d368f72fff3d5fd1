"""The filter history and saved views in their files: bounded, no control characters, broken files read
as empty, names checked."""

from __future__ import annotations

import json
import stat

import pytest
from mdmtui_testing import make_settings

from mdmtui import filterstore
from mdmtui.errors import UsageError
from mdmtui.filterstore import View


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path)


def test_history_is_bounded_deduplicated_and_clean(settings):
    for i in range(filterstore.HISTORY_LIMIT + 20):
        filterstore.remember(settings, f"os:iOS {i}")
    filterstore.remember(settings, "os:iOS 50")  # again: moved to the newest
    history = filterstore.load_history(settings)
    assert len(history) == filterstore.HISTORY_LIMIT and history[-1] == "os:iOS 50"
    assert history[0] == "os:iOS 20" and history.count("os:iOS 50") == 1
    filterstore.remember(settings, "営業\x1b[2J\x00\n\r 部 ")
    filterstore.remember(settings, "   ")
    assert filterstore.load_history(settings)[-1] == "営業[2J 部"
    raw = filterstore.history_path(settings).read_bytes()
    assert b"\x1b" not in raw and b"\x00" not in raw and raw.count(b"\n") == filterstore.HISTORY_LIMIT
    assert stat.S_IMODE(filterstore.history_path(settings).stat().st_mode) == 0o600


def test_a_hand_edited_history_is_cleaned_on_reading(settings):
    path = filterstore.history_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"a\n\x1b[31mb\n\xff\xfe\na\n\n")
    assert filterstore.load_history(settings) == ["[31mb", "\ufffd\ufffd", "a"]


def test_views_save_replace_load_and_delete(settings):
    assert filterstore.load_views(settings) == {}
    assert filterstore.save_view(settings, " iOS 営業 ", View(filter="os:iOS", missing=False, sort="model")) is False
    assert filterstore.save_view(settings, "b", View(security_problem=True, descending=True)) is False
    assert filterstore.save_view(settings, "iOS 営業", View(filter="os:iOS dept:営業")) is True
    views = filterstore.load_views(settings)
    assert list(views) == ["b", "iOS 営業"] and views["iOS 営業"].filter == "os:iOS dept:営業"
    assert views["b"] == View(security_problem=True, descending=True)
    assert "営業" in filterstore.views_path(settings).read_text(encoding="utf-8")  # readable when hand-edited
    filterstore.delete_view(settings, "b")
    assert list(filterstore.load_views(settings)) == ["iOS 営業"]
    with pytest.raises(UsageError, match="no saved view named 'b'"):
        filterstore.delete_view(settings, "b")


@pytest.mark.parametrize("name, message", [("  ", "needs a name"), ("a\x1bb", "control characters"),
                                           ("x" * 61, "at most 60")])
def test_view_names_are_checked(settings, name, message):
    with pytest.raises(UsageError, match=message):
        filterstore.save_view(settings, name, View())


def test_a_broken_views_file_reads_as_no_views(settings):
    path = filterstore.views_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json", encoding="utf-8")
    assert filterstore.load_views(settings) == {}
    path.write_text(json.dumps({"ok": {"filter": "os:iOS", "future_key": 1}, "bad": 3}), encoding="utf-8")
    assert filterstore.load_views(settings) == {"ok": View(filter="os:iOS")}
