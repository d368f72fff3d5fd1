"""The linkage service: create, edit, remove, list, show; on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from mdmtui.errors import ActionRefused, ConfigurationError, MdmtuiError, NotFoundError
from mdmtui.storage.models import AssetInfo, AuditEvent, Device, DeviceHistory, Linkage, Software
from mdmtui.secrets import Secret, SecretBox
from mdmtui.services import linkages

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT = "6731de76-14a6-49ae-97bc-6eba6914391e"


def sdm(**extra):
    """Valid SDM settings, overridable."""
    return {"name": "ITDM2 SD Manager 01", "system": "sdm", "server_url": "https://sdm01.example.jp",
            "user": "JP1MDM00101@server01.jp1mdm.hitachi.jp", "password": "sdm-pass-Xq7", **extra}


def intune(**extra):
    """Valid Intune settings, overridable."""
    return {"name": "Intune 本社", "system": "intune", "tenant_id": TENANT, "client_id": CLIENT,
            "client_secret": "intune-secret-Zz9~", **extra}


def mobileiron(**extra):
    """Valid MobileIron settings, overridable."""
    return {"name": "MI Core", "system": "mobileiron", "server_url": "https://core.example.com:8443",
            "user": "api-admin", "password": "mi-pass-Yy8", **extra}


def test_create_sdm_defaults_port_and_encrypts_password(ctx):
    linkage = linkages.create(ctx, sdm())
    assert linkage.server_url == "https://sdm01.example.jp:26055"
    assert linkage.name_mapping == "list"
    assert linkage.auto_manage is True and linkage.enabled is True
    stored = Linkage.get(Linkage.name == "ITDM2 SD Manager 01")
    assert "sdm-pass-Xq7" not in stored.password_enc
    assert ctx.secrets.decrypt(stored.password_enc).reveal() == "sdm-pass-Xq7"


def test_create_intune_uses_public_cloud_defaults(ctx):
    linkage = linkages.create(ctx, intune())
    assert linkage.server_url == "https://graph.microsoft.com"
    assert linkage.authority_url == "https://login.microsoftonline.com"


def test_create_intune_national_cloud_urls_kept(ctx):
    linkage = linkages.create(ctx, intune(server_url="https://graph.microsoft.us/",
                                          authority_url="https://login.microsoftonline.us"))
    assert linkage.server_url == "https://graph.microsoft.us"
    assert linkage.authority_url == "https://login.microsoftonline.us"


def test_create_is_audited_without_secrets(ctx):
    linkages.create(ctx, sdm())
    event = AuditEvent.get(AuditEvent.action == "linkage.create")
    assert event.category == "settings" and event.linkage_name == "ITDM2 SD Manager 01"
    assert "sdm-pass-Xq7" not in (event.options + (event.message or ""))
    assert json.loads(event.options)["settings"]["password"] == "(set)"
    assert "sdm-pass-Xq7" not in ctx.settings.audit_log_file.read_text(encoding="utf-8")


def test_duplicate_name_refused(ctx):
    linkages.create(ctx, sdm())
    with pytest.raises(ConfigurationError, match="a linkage named 'ITDM2 SD Manager 01' already exists"):
        linkages.create(ctx, sdm(server_url="https://sdm02.example.jp"))


def test_second_linkage_to_same_server_refused(ctx):
    linkages.create(ctx, sdm())
    with pytest.raises(ConfigurationError, match=r"linkage 'ITDM2 SD Manager 01' already links this MDM "
                       r"server \(sdm01\.example\.jp:26055\); only one linkage per MDM server"):
        linkages.create(ctx, sdm(name="other", server_url="https://SDM01.example.jp.:26055"))


def test_same_host_other_port_allowed(ctx):
    linkages.create(ctx, sdm())
    assert linkages.create(ctx, sdm(name="second", server_url="https://sdm01.example.jp:26056"))


def test_second_linkage_to_same_tenant_refused(ctx):
    linkages.create(ctx, intune())
    with pytest.raises(ConfigurationError, match="already links this Intune tenant"):
        linkages.create(ctx, intune(name="again", tenant_id=TENANT.upper()))


def test_get_unknown_lists_known_names(ctx):
    linkages.create(ctx, sdm())
    with pytest.raises(NotFoundError, match="no linkage named 'x'; known: ITDM2 SD Manager 01"):
        linkages.get(ctx, "x")


def test_list_is_sorted_by_name(ctx):
    linkages.create(ctx, sdm(name="b"))
    linkages.create(ctx, mobileiron(name="a"))
    assert [lk.name for lk in linkages.list_linkages(ctx)] == ["a", "b"]


def test_update_keeps_secret_and_revalidates(ctx):
    linkages.create(ctx, sdm())
    updated = linkages.update(ctx, "ITDM2 SD Manager 01", timeout_s=300, page_size=100)
    assert updated.timeout_s == 300 and updated.page_size == 100
    config = linkages.linkage_config(ctx, updated)
    assert config.password == Secret("sdm-pass-Xq7")
    with pytest.raises(ConfigurationError, match="page size for sdm must be 1 to 500, got 501"):
        linkages.update(ctx, "ITDM2 SD Manager 01", page_size=501)
    assert Linkage.get().page_size == 100  # nothing lost by the refused edit


def test_update_replaces_secret_and_audits_only_changes(ctx):
    linkages.create(ctx, sdm())
    linkages.update(ctx, "ITDM2 SD Manager 01", password="new-pass-Q1")
    assert linkages.linkage_config(ctx, linkages.get(ctx, "ITDM2 SD Manager 01")).password.reveal() == "new-pass-Q1"
    event = AuditEvent.get(AuditEvent.action == "linkage.update")
    assert json.loads(event.options)["settings"] == {"password": "(changed)"}
    assert "new-pass-Q1" not in event.options + event.message


def test_update_rename_carries_devices(ctx):
    linkage = linkages.create(ctx, sdm())
    Device.create(linkage=linkage, linkage_name=linkage.name, mdm_device_id="d1", os_class="Si")
    linkages.update(ctx, "ITDM2 SD Manager 01", name="SDM 東京")
    assert Device.get().linkage_name == "SDM 東京"


def test_update_cannot_change_system(ctx):
    linkages.create(ctx, sdm())
    with pytest.raises(ConfigurationError, match="the system of a linkage cannot be changed"):
        linkages.update(ctx, "ITDM2 SD Manager 01", system="mobileiron")


def test_update_with_changed_key_asks_for_the_secret(ctx, tmp_path):
    linkages.create(ctx, sdm())
    ctx.secrets = SecretBox(tmp_path / "other.key")
    with pytest.raises(ConfigurationError, match="the key changed.*give the password with this edit"):
        linkages.update(ctx, "ITDM2 SD Manager 01", timeout_s=10)
    updated = linkages.update(ctx, "ITDM2 SD Manager 01", timeout_s=10, password="again")
    assert linkages.linkage_config(ctx, updated).password.reveal() == "again"


def _linkage_with_devices(ctx):
    linkage = linkages.create(ctx, sdm())
    dev = Device.create(linkage=linkage, linkage_name=linkage.name, mdm_device_id="d1", os_class="Si",
                        computer_name="営業部の iPhone")
    Software.create(device=dev, name="LINE", version="13.0")
    DeviceHistory.create(device=dev, field="phone_number", old_value="090", new_value="080")
    AssetInfo.create(device=dev, asset_number="A-1")
    return dev


def test_remove_keep_marks_devices_orphaned(ctx):
    dev = _linkage_with_devices(ctx)
    assert linkages.remove(ctx, "ITDM2 SD Manager 01", devices="keep") == 1
    kept = Device.get_by_id(dev.id)
    assert kept.orphaned is True and kept.linkage_id is None and kept.linkage_name == "ITDM2 SD Manager 01"
    assert Software.select().count() == 1 and AssetInfo.select().count() == 1
    assert Linkage.select().count() == 0
    event = AuditEvent.get(AuditEvent.action == "linkage.remove")
    assert json.loads(event.options) == {"devices": "keep", "device_count": 1}


def test_remove_delete_deletes_devices_and_their_rows(ctx):
    _linkage_with_devices(ctx)
    assert linkages.remove(ctx, "ITDM2 SD Manager 01", devices="delete") == 1
    assert Device.select().count() == 0
    assert Software.select().count() == 0 and DeviceHistory.select().count() == 0
    assert AssetInfo.select().count() == 0
    assert AuditEvent.get(AuditEvent.action == "linkage.remove").message.endswith("1 device(s) deleted")


def test_remove_requires_a_choice(ctx):
    _linkage_with_devices(ctx)
    with pytest.raises(ConfigurationError, match="'keep' .* or 'delete'"):
        linkages.remove(ctx, "ITDM2 SD Manager 01", devices="cascade")  # type: ignore[arg-type]
    assert Device.select().count() == 1 and Linkage.select().count() == 1


def test_read_only_refuses_changes(ctx):
    linkages.create(ctx, sdm())
    ctx.settings.read_only = True
    with pytest.raises(ActionRefused, match="read-only mode: cannot add a linkage"):
        linkages.create(ctx, mobileiron())
    with pytest.raises(ActionRefused, match="read-only mode: cannot remove a linkage"):
        linkages.remove(ctx, "ITDM2 SD Manager 01", devices="keep")


def test_describe_masks_secrets(ctx):
    linkage = linkages.create(ctx, mobileiron(proxy_url="http://proxy.example.com:3128", proxy_user="p",
                                              proxy_password="proxy-pass-W2"))
    shown = linkages.describe(linkage)
    assert shown["password"] == "********" and shown["proxy_password"] == "********"
    assert shown["host"] == "core.example.com" and shown["port"] == 8443
    assert "mi-pass-Yy8" not in repr(shown) and "proxy-pass-W2" not in repr(shown)
    assert "tenant_id" not in shown  # only the fields of the linkage's system


def test_linkage_config_decrypts_into_secret(ctx):
    linkage = linkages.create(ctx, intune())
    config = linkages.linkage_config(ctx, linkage)
    assert config.client_secret.reveal() == "intune-secret-Zz9~"
    assert "intune-secret-Zz9~" not in repr(config)
    assert config.tenant_id == TENANT and config.authority_url == "https://login.microsoftonline.com"


def test_linkage_config_reads_sdm_database_from_properties(ctx):
    linkage = linkages.create(ctx, sdm())
    ctx.settings.properties_path.parent.mkdir(parents=True, exist_ok=True)
    ctx.settings.properties_path.write_text(
        "sdm.1.name=ITDM2 SD Manager 01\nsdm.1.dbhost=192.168.50.100\n", encoding="utf-8")
    config = linkages.linkage_config(ctx, linkage)
    assert (config.sdm_db_host, config.sdm_db_port) == ("192.168.50.100", 26066)


def test_linkage_config_without_properties_has_no_sdm_database(ctx):
    config = linkages.linkage_config(ctx, linkages.create(ctx, sdm()))
    assert config.sdm_db_host is None and config.sdm_db_port is None


def test_linkage_config_reports_properties_problems_with_lines(ctx):
    linkage = linkages.create(ctx, sdm())
    ctx.settings.properties_path.parent.mkdir(parents=True, exist_ok=True)
    ctx.settings.properties_path.write_text(
        "sdm.1.name=ITDM2 SD Manager 01\nsdm.1.dbhost=db01\nsdm.1.dbport=99999\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"has problems \(line 3: .*dbport"):
        linkages.linkage_config(ctx, linkage)


async def test_test_connection_unknown_linkage(sqlite_ctx):
    with pytest.raises(NotFoundError, match="no linkage named 'nope'"):
        await linkages.test_connection(sqlite_ctx, "nope")


async def test_test_connection_reads_the_linkage_off_the_event_loop(sqlite_ctx):
    """The console awaits it on its event loop, whose thread must never wait on the database: the
    linkage and its secrets are read by a storage worker (before, they were read on the loop)."""
    linkages.create(sqlite_ctx, {"name": "mi", "system": "mobileiron", "server_url": "https://127.0.0.1:9",
                                 "user": "admin", "password": "mi-pass-1", "timeout_s": 2})
    with sqlite_ctx.storage.refusing_sql_here() as on_loop:
        with pytest.raises(MdmtuiError):  # nothing listens there: the connection fails, with a reason
            await linkages.test_connection(sqlite_ctx, "mi")
    assert on_loop == []


def test_rotate_secret_key_reencrypts_every_secret(ctx):
    linkages.create(ctx, sdm(proxy_url="http://proxy:3128", proxy_user="bob", proxy_password="px-1"))
    linkages.create(ctx, intune())
    before = {lk.name: (lk.password_enc, lk.client_secret_enc) for lk in Linkage.select()}
    old_key = ctx.settings.key_file.read_bytes()
    assert linkages.rotate_secret_key(ctx) == 3
    assert ctx.settings.key_file.read_bytes() != old_key
    fresh = SecretBox(ctx.settings.key_file)  # only the new key is left in the file
    for linkage in Linkage.select():
        assert (linkage.password_enc, linkage.client_secret_enc) != before[linkage.name]
        config = linkages.linkage_config(ctx, linkage)
        if linkage.system == "sdm":
            assert fresh.decrypt(linkage.password_enc).reveal() == "sdm-pass-Xq7"
            assert config.proxy_password.reveal() == "px-1"
        else:
            assert fresh.decrypt(linkage.client_secret_enc).reveal() == "intune-secret-Zz9~"
    assert AuditEvent.get(AuditEvent.action == "secret_key.rotate").message.startswith("secret key replaced; 3")


def test_update_with_masked_secret_keeps_the_stored_one(ctx):
    linkage = linkages.create(ctx, sdm())
    form = {**linkages.editable_settings(linkage), "timeout_s": 90, "password": "********"}
    updated = linkages.update(ctx, "ITDM2 SD Manager 01", **form)
    assert updated.timeout_s == 90
    assert linkages.linkage_config(ctx, updated).password.reveal() == "sdm-pass-Xq7"
    assert "password" not in linkages.editable_settings(updated)


def test_schedule_edited_through_update_is_owed_from_the_edit_not_from_a_past_start(ctx):
    from datetime import datetime, timedelta

    from mdmtui.services import schedule as schedule_service
    from mdmtui.storage.models import utcnow

    name = linkages.create(ctx, sdm()).name
    past = (datetime.now() - timedelta(days=10)).replace(microsecond=0).isoformat()
    linkage = linkages.update(ctx, name, schedule_start_at=past, schedule_interval="daily")
    assert linkage.last_scheduled_run_at is not None
    assert schedule_service.due_at(linkage, utcnow()) is None  # nothing fires at once
    assert schedule_service.due_at(linkage, utcnow() + timedelta(days=1, minutes=1)) is not None
