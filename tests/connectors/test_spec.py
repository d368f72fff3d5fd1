"""The system specs: one per MDM, and everything built from them (validation, CLI options, form fields)."""

from __future__ import annotations

import argparse

import pytest

from mdmtui import capabilities, mapping
from mdmtui.connectors import spec
from mdmtui.records import Action, OsClass, System


def test_every_system_has_one_spec_and_every_os_class_one_system():
    assert [s.system for s in spec.specs()] == list(System)
    owners = [s.system for s in spec.specs() for _ in s.os_classes]
    assert sorted(c.value for s in spec.specs() for c in s.os_classes) == sorted(c.value for c in OsClass)
    assert len(owners) == len(OsClass)  # no OS class claimed twice


def test_the_specs_os_classes_are_the_mapping_tables():
    for system_spec in spec.specs():
        assert system_spec.os_classes == mapping.SYSTEM_CLASSES[system_spec.system]
        assert spec.spec_of_class(next(iter(system_spec.os_classes))) is system_spec


def test_spec_for_refuses_an_unknown_system():
    with pytest.raises(ValueError, match="unknown MDM system 'airwatch'"):
        spec.spec_for("airwatch")


def test_the_control_matrix_comes_from_the_refusal_rules():
    # LINKAGE-SPEC "Control": Intune cannot lock a PC and resets no passcode; everything else may
    assert capabilities.control_matrix() == {
        Action.LOCK: frozenset({OsClass.SI, OsClass.SA, OsClass.M, OsClass.IS}),
        Action.WIPE: frozenset(OsClass),
        Action.RESET_PASSCODE: frozenset({OsClass.SI, OsClass.SA, OsClass.M}),
    }
    assert capabilities.refusal(OsClass.IP, Action.LOCK) == "Intune cannot lock a device classified as PC"
    assert capabilities.refusal("IS", "reset_passcode") == "the passcode cannot be reset through Intune"
    assert capabilities.refusal is spec.refusal  # written once


async def test_the_intune_connector_refuses_by_the_spec(monkeypatch):
    from mdmtui.connectors import intune
    from mdmtui.connectors.base import LinkageConfig
    from mdmtui.records import DeviceRef, Outcome

    monkeypatch.setitem(intune.SPEC.refusals, (Action.LOCK, OsClass.IP), "a reason from the spec")  # type: ignore[index]
    from mdmtui.secrets import Secret

    config = LinkageConfig(name="I", system=System.INTUNE, server_url="https://graph.example", tenant_id="t",
                           client_id="c", client_secret=Secret("s"))
    connector = intune.IntuneConnector(config)
    try:
        result = await connector.lock(DeviceRef("d1", OsClass.IP))
    finally:
        await connector.aclose()
    assert (result.outcome, result.message) == (Outcome.REFUSED, "a reason from the spec")


def test_linkage_input_has_a_field_per_option_and_secrets_are_secret():
    from pydantic import SecretStr

    from mdmtui.services import linkages

    for option, _systems in spec.system_options():
        assert option.name in linkages.LinkageInput.model_fields
        if option.secret:
            assert option.name in linkages.SECRET_FIELDS
            assert SecretStr in getattr(linkages.LinkageInput.model_fields[option.name].annotation, "__args__", ())


def test_the_cli_offers_every_option_of_every_spec(capsys):
    from mdmtui.cli import linkage

    parser = argparse.ArgumentParser()
    linkage.register(parser.add_subparsers())
    add = parser.parse_args(["linkage", "add", "x", "--system", "sdm"])
    for option, _systems in spec.system_options():
        if option.secret:
            assert hasattr(add, f"{option.name}_stdin") and hasattr(add, f"{option.name}_env")
        else:
            assert hasattr(add, option.name), option.name
    with pytest.raises(SystemExit):
        parser.parse_args(["linkage", "add", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "--user USER SDM / MobileIron: the API user" in shown  # the systems named from the specs
    assert "--device-space ID MobileIron: admin device space id (default: discovered)" in shown


def test_the_linkage_form_shows_each_specs_form_options():
    from mdmtui.screens import linkage_form

    fields = {key: systems for key, _label, systems, _secret in linkage_form.FIELDS}
    for option, systems in spec.system_options():
        if option.in_form:
            assert fields[option.name] == frozenset(s.system.value for s in systems)
        else:
            assert option.name not in fields
    assert [value for _label, value in linkage_form.SYSTEM_CHOICES] == ["intune", "mobileiron", "sdm"]
