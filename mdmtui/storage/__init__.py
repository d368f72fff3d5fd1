"""The storage room: models, the database factory, migrations and queries, and the ``Storage`` object
(``core.py``) through which every context reaches its database, off the event loop."""

from __future__ import annotations

from mdmtui.storage.core import Serial, Storage, WrongThread

__all__ = ["Serial", "Storage", "WrongThread"]
