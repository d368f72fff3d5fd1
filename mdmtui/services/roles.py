"""Roles from the operating system: which OS users may do what, checked in the services.

mdmtui keeps no passwords of its own. ``[roles]`` in config.toml maps OS groups and users to
*viewer* (read, export), *operator* (+ collect, lock, passcode reset, asset edits) and *admin*
(+ wipe, delete device information, linkages, schedules, settings, approving requests). With nothing
mapped every OS user is admin (said once in the log). Every service that changes something calls
``require`` first, so the CLI, the console and the daemon obey the same rule; each refusal is audited.
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Any

from mdmtui.errors import ActionRefused
from mdmtui.services.context import Context

log = logging.getLogger(__name__)


class Role(IntEnum):
    """The roles in rising order: each can do what the ones below it can."""

    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        """The name config.toml uses."""
        return self.name.lower()


class Permission(Enum):
    """What a command needs; the value is how messages and the audit log name it."""

    READ = "read"
    EXPORT = "export"
    COLLECT = "collect"
    LOCK = "lock"
    RESET_PASSCODE = "reset_passcode"
    ASSET_EDIT = "asset_edit"
    WIPE = "wipe"
    DELETE = "delete"
    LINKAGES = "linkages"
    SCHEDULES = "schedules"
    SETTINGS = "settings"
    APPROVE = "approve"


NEEDED: dict[Permission, Role] = {
    Permission.READ: Role.VIEWER, Permission.EXPORT: Role.VIEWER,
    Permission.COLLECT: Role.OPERATOR, Permission.LOCK: Role.OPERATOR,
    Permission.RESET_PASSCODE: Role.OPERATOR, Permission.ASSET_EDIT: Role.OPERATOR,
    Permission.WIPE: Role.ADMIN, Permission.DELETE: Role.ADMIN, Permission.LINKAGES: Role.ADMIN,
    Permission.SCHEDULES: Role.ADMIN, Permission.SETTINGS: Role.ADMIN, Permission.APPROVE: Role.ADMIN,
}
_TEXT = {Permission.COLLECT: "collection", Permission.RESET_PASSCODE: "passcode reset",
         Permission.ASSET_EDIT: "asset edits",
         Permission.DELETE: "deleting device information", Permission.LINKAGES: "changing linkages",
         Permission.SCHEDULES: "changing schedules", Permission.SETTINGS: "changing settings",
         Permission.APPROVE: "approving requests"}

_said_default = False


class PermissionDenied(ActionRefused):
    """The OS user's role does not allow the command (nothing was done)."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who runs mdmtui, as the OS knows them, and the role that gives them."""

    user: str
    groups: tuple[str, ...]
    role: Role
    source: str  # why: "roles not configured", "user alice", "group mdm-admins", "default"


def os_groups(user: str) -> tuple[str, ...]:
    """The names of ``user``'s OS groups: the process's own groups when ``user`` runs this process."""
    if user == _process_user():
        gids = set(os.getgroups()) | {os.getegid()}
    else:
        try:
            entry = pwd.getpwnam(user)
        except KeyError:  # a user the OS does not know has no groups
            return ()
        gids = set(os.getgrouplist(user, entry.pw_gid))
    return tuple(sorted(_group_name(gid) for gid in gids))


def _process_user() -> str | None:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return None


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:  # a gid without a name (containers): match it by number
        return str(gid)


def identity(ctx: Context) -> Identity:
    """The acting OS user, their groups and their role under ``[roles]``."""
    settings = ctx.settings.roles
    if not settings.configured:
        _say_default_once()
        return Identity(ctx.os_user, (), Role.ADMIN, "roles not configured")
    groups = os_groups(ctx.os_user)
    if ctx.os_user in settings.users:
        return Identity(ctx.os_user, groups, _role(settings.users[ctx.os_user]), f"user {ctx.os_user}")
    matched = [(name, _role(settings.groups[name])) for name in groups if name in settings.groups]
    if matched:
        name, role = max(matched, key=lambda pair: pair[1])
        return Identity(ctx.os_user, groups, role, f"group {name}")
    return Identity(ctx.os_user, groups, _role(settings.default), "default")


def _role(name: str) -> Role:
    return Role[name.upper()]


def _say_default_once() -> None:
    global _said_default
    if not _said_default:
        _said_default = True
        log.info("roles are not configured ([roles] in config.toml): every OS user is admin")


def refusal(ctx: Context, permission: Permission) -> str | None:
    """Why the acting OS user may not do ``permission``, or None when they may."""
    who = identity(ctx)
    needed = NEEDED[permission]
    if who.role >= needed:
        return None
    what = _TEXT.get(permission, permission.value)
    return (f"permission denied: {what} needs the {needed.label} role; "
            f"{who.user} is {who.role.label} ({who.source})")


def require(ctx: Context, permission: Permission, *, target: str | None = None, device: Any = None,
            linkage_name: str | None = None) -> None:
    """Refuse (audited, PermissionDenied) unless the acting OS user's role allows ``permission``."""
    reason = refusal(ctx, permission)
    if reason is None:
        return
    from mdmtui.services import audit  # audit imports nothing of ours; late to keep this module light

    audit.record(ctx, category="access", action=permission.value, outcome="refused", device=device,
                 linkage_name=linkage_name, message=reason + (f": {target}" if target else ""))
    raise PermissionDenied(reason)


def two_person(ctx: Context, action: str) -> bool:
    """Whether ``action`` (wipe, lock, reset_passcode) needs a second admin's approval."""
    settings = ctx.settings.roles
    if action in settings.two_person:
        return settings.two_person[action]
    return action == "wipe" and settings.configured


def approval_refusal(ctx: Context, action: str) -> str | None:
    """Why ``action`` may not be sent directly (the two-person rule), or None."""
    if not two_person(ctx, action):
        return None
    return (f"{action.replace('_', ' ')} needs a second admin's approval (two-person rule): ask for it with "
            f"mdmtui requests create {action.replace('_', '-')} DEVICE --justification TEXT, or from the console")
