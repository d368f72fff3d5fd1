"""Roles from OS groups: resolution from the test process's real groups, and every command's check in the
services (refused, audited with the OS user, nothing done)."""

from __future__ import annotations

import dataclasses
import grp
import logging
import os

import pytest
from control_helpers import FakeMdm, make_device, make_linkage

from mdmtui.config import RoleSettings
from mdmtui.storage.models import ApprovalRequest, AssetInfo, AuditEvent, Device, DeviceAction, Linkage
from mdmtui.records import Action
from mdmtui.services import approvals, collection, control, inventory, linkages, roles, schedule
from mdmtui.services.roles import PermissionDenied, Role


def my_groups() -> list[str]:
    """The names of this test process's own OS groups, as the OS reports them."""
    return sorted({grp.getgrgid(g).gr_name for g in set(os.getgroups()) | {os.getegid()}})


def as_user(ctx, user: str, **role_settings):
    """The same database, another OS user and another [roles] setting."""
    settings = ctx.settings.model_copy(update={"roles": RoleSettings(**role_settings)})
    return dataclasses.replace(ctx, os_user=user, settings=settings)


def me(ctx, **role_settings):
    return as_user(ctx, ctx.os_user, **role_settings)


# --- resolution -----------------------------------------------------------------------------------


def test_the_context_user_is_the_real_uid_not_a_variable(sqlite_ctx, monkeypatch):
    import pwd

    from mdmtui.services.context import current_os_user

    monkeypatch.setenv("USER", "someone-else")
    monkeypatch.setenv("LOGNAME", "someone-else")
    assert current_os_user() == pwd.getpwuid(os.getuid()).pw_name


def test_groups_are_the_processes_real_groups(sqlite_ctx):
    import subprocess

    said = subprocess.run(["id", "-Gn"], capture_output=True, text=True, check=True).stdout.split()
    assert set(roles.os_groups(sqlite_ctx.os_user)) == set(said)  # what the OS tells any tool


def test_another_users_groups_come_from_the_group_database(sqlite_ctx):
    import pwd

    other = next((e for e in pwd.getpwall() if e.pw_name != sqlite_ctx.os_user), None)
    if other is None:  # pragma: no cover - a system with one account
        pytest.skip("no second account on this system")
    primary = grp.getgrgid(other.pw_gid).gr_name
    assert primary in roles.os_groups(other.pw_name)
    assert roles.os_groups("no-such-user-xyz") == ()


def test_role_from_one_of_my_real_groups(sqlite_ctx):
    group = my_groups()[0]
    who = roles.identity(me(sqlite_ctx, groups={group: "operator", "no-such-group-x": "admin"}))
    assert who.role is Role.OPERATOR and who.source == f"group {group}"


def test_the_highest_role_of_several_groups_wins(sqlite_ctx):
    groups = my_groups()
    mapping = {name: "viewer" for name in groups} | {groups[-1]: "admin"}
    assert roles.identity(me(sqlite_ctx, groups=mapping)).role is Role.ADMIN


def test_a_user_mapping_wins_over_groups(sqlite_ctx):
    ctx = me(sqlite_ctx, groups={my_groups()[0]: "admin"}, users={sqlite_ctx.os_user: "viewer"})
    assert roles.identity(ctx).role is Role.VIEWER


def test_unmatched_user_gets_the_default_role(sqlite_ctx):
    ctx = me(sqlite_ctx, groups={"no-such-group-x": "admin"})
    assert roles.identity(ctx).role is Role.VIEWER and roles.identity(ctx).source == "default"
    ctx = me(sqlite_ctx, groups={"no-such-group-x": "admin"}, default="operator")
    assert roles.identity(ctx).role is Role.OPERATOR


def test_nothing_configured_means_admin_said_once(sqlite_ctx, caplog, monkeypatch):
    monkeypatch.setattr(roles, "_said_default", False)
    with caplog.at_level(logging.INFO, logger="mdmtui.services.roles"):
        for _ in range(3):
            assert roles.identity(sqlite_ctx).role is Role.ADMIN
    assert sum("roles are not configured" in r.message for r in caplog.records) == 1


def test_unknown_role_in_config_is_one_clear_line(tmp_path):
    from mdmtui.config import load_settings
    from mdmtui.errors import ConfigurationError

    path = tmp_path / "config" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text('[roles.groups]\nmdm-admins = "superuser"\n', encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"roles: .*unknown role 'superuser'"):
        load_settings()


def test_roles_from_the_config_file(tmp_path):
    from mdmtui.config import load_settings

    path = tmp_path / "config" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text('[roles]\ndefault = "viewer"\nrequest_expiry_hours = 8\n[roles.groups]\nmdm-ops = "operator"\n'
                    '[roles.two_person]\nlock = true\n', encoding="utf-8")
    settings = load_settings().roles
    assert settings.groups == {"mdm-ops": "operator"} and settings.request_expiry_hours == 8
    assert settings.two_person == {"lock": True}


# --- every command through the services -------------------------------------------------------------


@pytest.fixture
def world(sqlite_ctx):
    linkage = make_linkage("L1")
    device = make_device(linkage, "M", "dev-a")
    return sqlite_ctx, linkage, device


async def _act(ctx, device, action):
    return await control.act(ctx, [device.id], action, connector_factory=FakeMdm().factory)


COMMANDS = {
    "lock": (Role.OPERATOR, lambda ctx, d: _act(ctx, d, Action.LOCK)),
    "reset_passcode": (Role.OPERATOR, lambda ctx, d: _act(ctx, d, Action.RESET_PASSCODE)),
    "wipe": (Role.ADMIN, lambda ctx, d: _act(ctx, d, Action.WIPE)),
    "collect": (Role.OPERATOR, lambda ctx, d: collection.collect(ctx, "L1", connector_factory=FakeMdm().factory)),
    "collect_many": (Role.OPERATOR, lambda ctx, d: collection.collect_many(ctx, connector_factory=FakeMdm().factory)),
    "asset_edit": (Role.OPERATOR, lambda ctx, d: inventory.set_asset_info(ctx, d.id, asset_number="A-1")),
    "delete": (Role.ADMIN, lambda ctx, d: inventory.delete_devices(ctx, [d.id])),
    "linkage_create": (Role.ADMIN, lambda ctx, d: linkages.create(ctx, {
        "name": "L2", "system": "mobileiron", "server_url": "https://mi.example.test", "user": "u",
        "password": "p"})),
    "linkage_update": (Role.ADMIN, lambda ctx, d: linkages.update(ctx, "L1", timeout_s=30)),
    "linkage_remove": (Role.ADMIN, lambda ctx, d: linkages.remove(ctx, "L1", "keep")),
    "schedule": (Role.ADMIN, lambda ctx, d: schedule.set_schedule(ctx, "L1", None)),
    "request": (Role.ADMIN, lambda ctx, d: approvals.create(ctx, [d.id], Action.WIPE, "lost on the train")),
}
BELOW = {Role.OPERATOR: "viewer", Role.ADMIN: "operator"}


def state_of(device) -> tuple:
    """Everything a refused command must leave untouched."""
    return (DeviceAction.select().count(), AssetInfo.select().count(), Device.select().count(),
            [(lk.name, lk.timeout_s, lk.schedule_interval) for lk in Linkage.select().order_by(Linkage.id)],
            ApprovalRequest.select().count())


async def _call(fn, ctx, device):
    result = fn(ctx, device)
    if hasattr(result, "__await__"):
        result = await result
    return result


@pytest.mark.parametrize("name", sorted(COMMANDS))
async def test_a_role_below_the_command_is_refused_audited_and_changes_nothing(world, name):
    base, _, device = world
    needed, fn = COMMANDS[name]
    ctx = as_user(base, "mallory", users={"mallory": BELOW[needed]})
    before = state_of(device)
    with pytest.raises(PermissionDenied, match=rf"needs the {needed.label} role; mallory is {BELOW[needed]}"):
        await _call(fn, ctx, device)
    assert state_of(device) == before
    [entry] = AuditEvent.select().where(AuditEvent.category == "access")
    assert entry.os_user == "mallory" and entry.outcome == "refused" and "permission denied" in entry.message


@pytest.mark.parametrize("name", sorted(COMMANDS))
async def test_the_needed_role_passes_the_check(world, name):
    base, _, device = world
    needed, fn = COMMANDS[name]
    ctx = as_user(base, "alice", users={"alice": needed.label}, two_person={"wipe": False})
    try:
        await _call(fn, ctx, device)
    except PermissionDenied:  # pragma: no cover - the assertion below says which
        pytest.fail(f"{name} refused to a {needed.label}")
    except Exception:  # noqa: BLE001 - only the role check is under test (a fake linkage cannot collect)
        pass
    assert not AuditEvent.select().where(AuditEvent.category == "access").exists()


async def test_a_wipe_under_the_two_person_rule_is_refused_unsent(world):
    base, _, device = world
    ctx = as_user(base, "alice", users={"alice": "admin"})  # rule on by default once roles are configured
    mdm = FakeMdm()
    [out] = await control.act(ctx, [device.id], Action.WIPE, connector_factory=mdm.factory)
    assert out.outcome.value == "refused" and "second admin's approval" in out.result.message
    assert mdm.sent == []
    # a lock is not under the rule by default
    [out] = await control.act(ctx, [device.id], Action.LOCK, connector_factory=mdm.factory)
    assert out.outcome.value == "succeeded" and mdm.sent_ids("lock") == [device.mdm_device_id]


@pytest.mark.skipif(os.geteuid() != 0, reason="setting supplementary groups needs root")
def test_a_supplementary_group_gives_its_role(tmp_path):
    """A child process given one more OS group (setgroups) gets that group's role; the parent is untouched."""
    import subprocess
    import sys

    extra = next(g for g in grp.getgrall() if g.gr_gid != os.getegid())
    script = (
        "import os, sys\n"
        f"os.setgroups([os.getegid(), {extra.gr_gid}])\n"
        "from mdmtui.config import Settings, RoleSettings\n"
        "from mdmtui.services import roles\n"
        "from mdmtui.services.context import current_os_user\n"
        "class Ctx: pass\n"
        "ctx = Ctx(); ctx.os_user = current_os_user()\n"
        f"mapping = {{{extra.gr_name!r}: 'operator'}}\n"
        f"ctx.settings = Settings(data_dir={str(tmp_path)!r}, roles=RoleSettings(groups=mapping))\n"
        "who = roles.identity(ctx)\n"
        "print(who.role.label, who.source)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"operator group {extra.gr_name}"
    assert extra.gr_gid not in os.getgroups()  # this process kept its own groups
