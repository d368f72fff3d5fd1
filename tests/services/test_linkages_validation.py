"""Each linkage validation rule gives its own clear message (no database needed)."""

from __future__ import annotations

import pytest

from mdmtui.errors import ConfigurationError
from mdmtui.services import linkages

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT = "6731de76-14a6-49ae-97bc-6eba6914391e"
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def sdm(**extra):
    return {"name": "SDM", "system": "sdm", "server_url": "https://sdm01", "user": "u", "password": "p", **extra}


def intune(**extra):
    return {"name": "Intune", "system": "intune", "tenant_id": TENANT, "client_id": CLIENT,
            "client_secret": "s", **extra}


def mobileiron(**extra):
    return {"name": "MI", "system": "mobileiron", "server_url": "https://core", "user": "u", "password": "p",
            **extra}


def message(data) -> str:
    with pytest.raises(ConfigurationError) as info:
        linkages.validate(data)
    text = str(info.value)
    assert "\n" not in text and text.startswith("invalid linkage settings: ")
    return text.removeprefix("invalid linkage settings: ")


@pytest.mark.parametrize("data, expected", [
    (sdm(name=""), "the MDM settings name must not be empty"),
    (sdm(name="   "), "the MDM settings name must not be empty"),
    (sdm(name="x" * 256), "the MDM settings name must be at most 255 characters"),
    (sdm(system="airwatch"), "system must be one of sdm, mobileiron, intune, got 'airwatch'"),
    (sdm(server_url="https://sdm_01.example.jp"),
     "server URL: the host name 'sdm_01.example.jp' contains an underscore, which MDM server host names may not contain"),
    (mobileiron(server_url="https://core_1:8443"), "contains an underscore"),
    (sdm(server_url="https://sdm01:0"), "server URL: port must be a number from 1 to 65535, got '0'"),
    (sdm(server_url="https://sdm01:65536"), "server URL: port must be a number from 1 to 65535, got '65536'"),
    (sdm(server_url="https://sdm01:abc"), "server URL: port must be a number from 1 to 65535, got 'abc'"),
    (sdm(server_url="https://sdm01:"), "server URL: the port after ':' is empty"),
    (sdm(server_url="sdm01:26055"), "server URL must be a URL such as https://host:port, got 'sdm01:26055'"),
    (sdm(server_url="ftp://sdm01"), "server URL must start with https:// or http://, got 'ftp://sdm01'"),
    (sdm(server_url="https://"), "server URL has no host name, got 'https://'"),
    (sdm(server_url="https://sdm01/api"), "server URL must not have a path"),
    (sdm(server_url="https://u:pw@sdm01"), "server URL must not contain a user or password"),
    (sdm(server_url="https://-bad-.example"), "server URL: '-bad-.example' is not a valid host name"),
    (sdm(server_url="https://300.1.1.1"), "server URL: '300.1.1.1' is not a valid IPv4 address"),
    (sdm(server_url=None), "the server URL is required for sdm linkages (https://host:port)"),
    (mobileiron(server_url=""), "the server URL is required for mobileiron linkages"),
    (intune(server_url="graph.microsoft.com"), "Graph base URL must be a URL such as https://host:port"),
    (intune(authority_url="login"), "authority URL must be a URL"),
    (sdm(proxy_url="proxy:3128"), "proxy URL must be a URL such as https://host:port, got 'proxy:3128'"),
    (sdm(proxy_url="ftp://proxy"), "proxy URL must start with http:// or https:// or socks5:// or socks5h://"),
    (sdm(proxy_url="http://bob:pw@proxy:3128"), "proxy URL must not contain a user or password"),
    (sdm(proxy_user="bob"), "a proxy user needs a proxy URL"),
    (sdm(proxy_url="http://proxy:3128", proxy_password="x"), "a proxy password needs a proxy user"),
    (sdm(timeout_s=0), "timeout must be more than 0 and at most 3600 seconds, got 0"),
    (sdm(timeout_s=-5), "timeout must be more than 0 and at most 3600 seconds, got -5"),
    (sdm(timeout_s="soon"), "timeout_s: Input should be a valid number"),
    (intune(page_size=1001), "page size for intune must be 1 to 1000, got 1001"),
    (mobileiron(page_size=201), "page size for mobileiron must be 1 to 200, got 201"),
    (sdm(page_size=501), "page size for sdm must be 1 to 500, got 501"),
    (sdm(page_size=0), "page size for sdm must be 1 to 500, got 0"),
    (intune(tenant_id=None), "Intune linkages need a tenant id (a GUID or a domain such as contoso.onmicrosoft.com)"),
    (intune(tenant_id="not a tenant"), "tenant id must be a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx) or a domain"),
    (intune(tenant_id="contoso"), "tenant id must be a GUID or a domain name, got 'contoso'"),
    (intune(tenant_id="10.0.0.1"), "tenant id must be a GUID or a domain name, got '10.0.0.1'"),
    (intune(client_id="my-app"), "client id must be the application's GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx), got 'my-app'"),
    (intune(client_id=None), "client id must be the application's GUID"),
    (intune(client_secret=None), "Intune linkages need a client secret"),
    (intune(client_secret=""), "Intune linkages need a client secret"),
    (sdm(user=None), "sdm linkages need a user"),
    (mobileiron(password=""), "mobileiron linkages need a password"),
    (mobileiron(device_space_id=0), "device space id must be 1 or more (1 = global), got 0"),
    (sdm(sdm_version="11.0"), "SDM version must look like 11-00-04, got '11.0'"),
    (sdm(name_mapping="User:Model"), "name mapping must be 'list' or 'User:PhoneNumber:Model', got 'User:Model'"),
    (sdm(tenant_id=TENANT), "tenant_id does not apply to sdm linkages"),
    (intune(user="bob"), "user does not apply to intune linkages"),
    (mobileiron(name_mapping="list"), "name_mapping does not apply to mobileiron linkages"),
    (sdm(colour="red"), "unknown setting 'colour'"),
    (sdm(schedule_interval="hourly", schedule_start_at="2026-12-01T09:00"),
     "repeat interval must be daily, weekly or monthly, got 'hourly'"),
    (sdm(schedule_interval="daily"), "a schedule needs Start At (a local date and time such as 2026-12-01T09:00)"),
    (sdm(schedule_start_at="2026-12-01T09:00"), "Start At needs a repeat interval (daily, weekly or monthly)"),
    (sdm(schedule_interval="daily", schedule_start_at="tomorrow"),
     "Start At must be a local date and time such as 2026-12-01T09:00, got 'tomorrow'"),
    (sdm(schedule_interval="daily", schedule_start_at="2026-12-01T09:00+09:00"),
     "Start At is a local wall-clock time: leave out the UTC offset"),
    (sdm(schedule_interval="daily", schedule_start_at="2026-12-01T09:00", schedule_every=0),
     "repeat (every N intervals) must be 1 or more, got 0"),
    (sdm(schedule_interval="weekly", schedule_start_at="2026-12-01T09:00", schedule_weekdays=[7]),
     "weekdays are 0 (Mon) to 6 (Sun), got 7"),
    (sdm(schedule_interval="daily", schedule_start_at="2026-12-01T09:00", schedule_weekdays=[1]),
     "weekdays apply only to a weekly schedule"),
    (sdm(schedule_interval="monthly", schedule_start_at="2026-12-01T09:00", schedule_month_day=32),
     "day of the month must be 1 to 31, got 32"),
    (sdm(schedule_interval="weekly", schedule_start_at="2026-12-01T09:00", schedule_month_day=3),
     "day of the month applies only to a monthly schedule"),
    (sdm(schedule_interval="daily", schedule_start_at="2026-12-01T09:00", schedule_tz="Tokyo"),
     "unknown time zone 'Tokyo' (use an IANA name such as Asia/Tokyo)"),
])
def test_rule_message(data, expected):
    assert expected in message(data)


def test_ca_bundle_must_exist(tmp_path):
    assert f"CA bundle {tmp_path / 'ca.pem'} does not exist" in message(sdm(ca_bundle=str(tmp_path / "ca.pem")))


def test_ca_bundle_must_be_pem(tmp_path):
    path = tmp_path / "ca.der"
    path.write_bytes(b"\x30\x82\x01")
    assert f"CA bundle {path} holds no PEM certificate" in message(sdm(ca_bundle=str(path)))


def test_ca_bundle_directory(tmp_path):
    assert "is a directory; give the PEM file" in message(sdm(ca_bundle=str(tmp_path)))


def test_ca_bundle_valid_is_stored_absolute(tmp_path, monkeypatch):
    (tmp_path / "ca.pem").write_text(PEM)
    monkeypatch.chdir(tmp_path)
    assert linkages.validate(sdm(ca_bundle="ca.pem")).ca_bundle == str(tmp_path / "ca.pem")


def test_secret_value_never_in_message():
    text = message(sdm(password="hunter2-secret", page_size=9999))
    assert "hunter2-secret" not in text


@pytest.mark.parametrize("url, expected", [
    ("https://sdm01", "https://sdm01:26055"),
    ("https://SDM01.Example.JP.:443/", "https://sdm01.example.jp:443"),
    ("http://10.0.0.5", "http://10.0.0.5:26055"),
    ("https://[::1]:9000", "https://[::1]:9000"),
])
def test_sdm_server_url_normalised(url, expected):
    assert linkages.validate(sdm(server_url=url)).server_url == expected


def test_mobileiron_port_optional():
    assert linkages.validate(mobileiron()).server_url == "https://core"
    assert linkages.server_key(linkages.validate(mobileiron())) == "core:443"


def test_tenant_domain_accepted_and_ids_lowercased():
    checked = linkages.validate(intune(tenant_id="Contoso.onMicrosoft.com", client_id=CLIENT.upper()))
    assert checked.tenant_id == "contoso.onmicrosoft.com" and checked.client_id == CLIENT


def test_schedule_normalised():
    checked = linkages.validate(sdm(schedule_interval="Weekly", schedule_start_at="2026-12-01 09:00:00",
                                    schedule_weekdays=[3, 0, 3], schedule_tz="Asia/Tokyo"))
    assert checked.schedule_interval == "weekly" and checked.schedule_every == 1
    assert checked.schedule_weekdays == [0, 3] and checked.schedule_start_at == "2026-12-01T09:00"


def test_several_problems_in_one_line():
    text = message(sdm(timeout_s=0, page_size="many"))
    assert "timeout must be more than 0" in text and "page_size: Input should be a valid integer" in text


def test_every_problem_is_reported_at_once_field_and_whole_linkage_checks():
    from pydantic import ValidationError

    from mdmtui.services.linkages import LinkageInput, validation_message

    with pytest.raises(ValidationError) as caught:  # field checks: URL host and port, and the version
        LinkageInput.model_validate({"name": "x", "system": "sdm", "server_url": "https://sdm_core.example.jp:99999",
                                     "sdm_version": "v11", "user": "u", "password": "p"})
    message = validation_message(caught.value)
    assert "underscore" in message and "99999" in message and "11-00-04" in message
    with pytest.raises(ValidationError) as caught:  # whole-linkage checks: no password, weekdays on daily
        LinkageInput.model_validate({"name": "x", "system": "mobileiron", "server_url": "https://core.example.jp",
                                     "user": "u", "schedule_interval": "daily", "schedule_start_at": "2030-01-01T09:00",
                                     "schedule_weekdays": [0], "page_size": 0})
    message = validation_message(caught.value)
    assert "password" in message and "weekdays apply only" in message and "page size" in message
