"""The storage room: models, the database factory, migrations and queries, and the ``Storage`` object
(``core.py``) through which every context reaches its database, off the event loop."""

from __future__ import annotations

from peewee import Database  # the type of a storage's connection, for callers' annotations

from mdmtui.storage.core import Dedicated, Serial, Storage, WrongThread

__all__ = ["Database", "Dedicated", "Serial", "Storage", "WrongThread"]
