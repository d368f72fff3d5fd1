"""The context every service call runs in: settings, storage (the database), secret box and the acting admin."""

from __future__ import annotations

import getpass
import os
import pwd
import socket
from dataclasses import dataclass, field


from mdmtui.config import Settings, load_settings, private_dir
from mdmtui.storage import Database, Storage
from mdmtui.storage.interrupt import Interrupter as Interrupter  # stops statements running on ctx.db
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
    storage: Storage
    secrets: SecretBox
    os_user: str = field(default_factory=current_os_user)
    host: str = field(default_factory=socket.gethostname)

    @property
    def db(self) -> Database:
        """The storage's database (its connections are per thread: database work goes through
        ``storage.run`` / ``storage.call``)."""
        return self.storage.database

    def close(self) -> None:
        """End the storage's workers and close the database connections."""
        self.storage.close()

    @property
    def read_only(self) -> bool:
        """True when every state-changing command must be refused."""
        return self.settings.read_only


def open_context(settings: Settings | None = None) -> Context:
    """Load settings (unless given), open and migrate the database."""
    settings = settings or load_settings()
    private_dir(settings.data_dir)
    storage = Storage.open(settings.database)
    return Context(settings=settings, storage=storage, secrets=SecretBox(settings.key_file))
