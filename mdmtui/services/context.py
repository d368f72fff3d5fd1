"""The context every service call runs in: settings, database, secret box and the acting admin."""

from __future__ import annotations

import getpass
import os
import pwd
import socket
from dataclasses import dataclass, field

from peewee import Database

from mdmtui.config import Settings, load_settings, private_dir
from mdmtui.storage.db import init_database
from mdmtui.secrets import SecretBox


def current_os_user() -> str:
    """The OS user running mdmtui (the admin logged in over SSH), from the real uid.

    Not from $USER/$LOGNAME (getpass reads those first): roles and the audit log must not follow a
    variable anyone can set.
    """
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        pass
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return str(os.getuid())


@dataclass
class Context:
    """Shared by the CLI, the console and the daemon; services take it as their first argument."""

    settings: Settings
    db: Database
    secrets: SecretBox
    os_user: str = field(default_factory=current_os_user)
    host: str = field(default_factory=socket.gethostname)

    @property
    def read_only(self) -> bool:
        """True when every state-changing command must be refused."""
        return self.settings.read_only


def open_context(settings: Settings | None = None) -> Context:
    """Load settings (unless given), open and migrate the database."""
    settings = settings or load_settings()
    private_dir(settings.data_dir)
    db = init_database(settings.database)
    return Context(settings=settings, db=db, secrets=SecretBox(settings.key_file))
