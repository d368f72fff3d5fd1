"""services/audit: append-only, mirrored to a file, secrets masked, queries."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, UTC

import pytest
from control_helpers import make_device, make_linkage

from mdmtui.errors import ActionRefused, UsageError
from mdmtui.storage.models import AuditEvent
from mdmtui.services import audit


def _event(ctx, **kw):
    base = {"category": "action", "action": "lock", "outcome": "succeeded"}
    return audit.record(ctx, **{**base, **kw})


def test_audit_entries_cannot_be_changed_or_deleted(ctx):
    event = _event(ctx, message="original")
    with pytest.raises(dataclasses.FrozenInstanceError):  # the service hands out a frozen record
        event.message = "rewritten"  # type: ignore[misc]
    row = AuditEvent.get_by_id(event.id)  # and storage's model refuses every change
    row.message = "rewritten"
    with pytest.raises(ActionRefused):
        row.save()
    with pytest.raises(ActionRefused):
        row.delete_instance()
    with pytest.raises(ActionRefused):
        AuditEvent.update(message="x").execute()
    with pytest.raises(ActionRefused):
        AuditEvent.delete().execute()
    with pytest.raises(ActionRefused):
        AuditEvent.replace(id=event.id, os_user="x", host="x", category="action", action="x", outcome="x")
    [stored] = AuditEvent.select()
    assert stored.message == "original"


def test_audit_module_offers_no_way_to_edit_or_delete():
    public = {name for name in dir(audit) if not name.startswith("_")}
    assert not {n for n in public if any(w in n.lower() for w in ("delete", "update", "edit", "remove", "purge"))}


def test_record_mirrors_every_field_to_the_log_file(ctx):
    device = make_device(make_linkage("L", "mobileiron"), "M", name="iPhone-7", serial="SN77")
    event = _event(ctx, device=device, options={"keep_user_data": False}, request_id="rid-1", message="done")
    lines = [json.loads(line) for line in ctx.settings.audit_log_file.read_text().splitlines()]
    assert lines[-1] == audit.as_dict(event)
    assert lines[-1]["device_name"] == "iPhone-7" and lines[-1]["device_serial"] == "SN77"
    assert lines[-1]["linkage"] == "L" and lines[-1]["request_id"] == "rid-1"
    assert lines[-1]["os_user"] == ctx.os_user and lines[-1]["host"] == ctx.host


def test_secret_option_values_are_masked_but_placeholders_kept(ctx):
    event = _event(ctx, category="settings", action="linkage.update", options={
        "settings": {"password": "hunter2", "client_secret": "(changed)", "user": "admin",
                     "proxy_password": None, "new_passcode": "1234", "api_key": "k-9"}})
    stored = json.loads(AuditEvent.get_by_id(event.id).options)["settings"]
    assert stored == {"password": "***", "client_secret": "(changed)", "user": "admin",
                      "proxy_password": None, "new_passcode": "***", "api_key": "***"}
    text = ctx.settings.audit_log_file.read_text()
    assert "hunter2" not in text and "k-9" not in text


def test_unknown_category_is_refused(ctx):
    with pytest.raises(ValueError, match="category"):
        _event(ctx, category="misc")
    assert AuditEvent.select().count() == 0


def test_deleted_device_information_is_recorded_and_findable(ctx):
    _event(ctx, category="deletion", action="device.delete", device_id=41, device_name="old-phone",
           device_serial="SN41", linkage_name="L")
    [found] = audit.query(ctx, device="old-phone")
    assert found.category == "deletion" and found.device_id == 41
    assert audit.query(ctx, device="41") == [found]
    assert audit.query(ctx, device="sn41") == [found]


def test_query_filters_and_orders_newest_first(ctx):
    linkage = make_linkage("L", "mobileiron")
    a, b = make_device(linkage, "M", name="alpha"), make_device(linkage, "M", name="beta")
    first = _event(ctx, device=a, action="wipe", outcome="failed")
    second = _event(ctx, device=b, action="reset_passcode")
    third = _event(ctx, category="collection", action="collect", linkage_name="L")
    assert [e.id for e in audit.query(ctx)] == [third.id, second.id, first.id]
    assert [e.id for e in audit.query(ctx, device="ALPHA")] == [first.id]
    assert [e.id for e in audit.query(ctx, device=b.id)] == [second.id]
    assert [e.id for e in audit.query(ctx, action="reset-passcode")] == [second.id]
    assert [e.id for e in audit.query(ctx, category="collection")] == [third.id]
    assert [e.id for e in audit.query(ctx, outcome="failed")] == [first.id]
    assert len(audit.query(ctx, limit=2)) == 2
    assert audit.query(ctx, since=datetime.now(UTC) + timedelta(minutes=1)) == []
    assert len(audit.query(ctx, since=datetime.now(UTC) - timedelta(minutes=1))) == 3
    with pytest.raises(UsageError, match="category"):
        audit.query(ctx, category="nope")


def test_parse_since_relative_date_and_errors():
    now = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)
    assert audit.parse_since("7d", now=now) == now - timedelta(days=7)
    assert audit.parse_since("12h", now=now) == now - timedelta(hours=12)
    assert audit.parse_since("30m", now=now) == now - timedelta(minutes=30)
    assert audit.parse_since("2w", now=now) == now - timedelta(weeks=2)
    assert audit.parse_since("2024-05-01T09:00+00:00") == datetime(2024, 5, 1, 9, tzinfo=UTC)
    local = audit.parse_since("2024-05-01")
    assert local.tzinfo is not None and local == datetime(2024, 5, 1).astimezone().astimezone(UTC)
    with pytest.raises(UsageError, match="--since"):
        audit.parse_since("last tuesday")
