"""Opening the database (SQLite by default, PostgreSQL by URL) and versioned migrations."""

from __future__ import annotations

import importlib.util
import logging
import os
import re
from pathlib import Path
from typing import cast
from urllib.parse import parse_qs, urlparse

from peewee import Database, DatabaseError, PostgresqlDatabase, SqliteDatabase
from playhouse.db_url import connect as url_connect

from mdmtui.config import private_dir
from mdmtui.errors import ConfigurationError
from mdmtui.storage import models
# the schema steps and their runner live in migrations.py (which never imports this module); named here too
from mdmtui.storage.migrations import CURRENT_VERSION as CURRENT_VERSION
from mdmtui.storage.migrations import MIGRATIONS as MIGRATIONS
from mdmtui.storage.migrations import migrate_schema as migrate
from mdmtui.storage.migrations import migrator_for as migrator_for
from mdmtui.storage.migrations import schema_version as schema_version

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 10
SQLITE_PRAGMAS = {
    "journal_mode": "wal",  # readers (the console) never block the collector
    "busy_timeout": BUSY_TIMEOUT_S * 1000,  # ms to wait on a writer instead of failing at once
    "foreign_keys": 1,
    "synchronous": "normal",  # safe with WAL, much faster commits
    "cache_size": -64_000,
}
PG_CONNECT_TIMEOUT_S = 10  # an unreachable server fails in seconds, not minutes

# SQLite's words for a file that is not an SQLite database, or one whose pages are damaged
_NOT_A_DATABASE = re.compile(r"not a database|malformed|file is encrypted", re.I)



def open_database(url: str) -> Database:
    """Create (not yet connect) the database object for ``url``."""
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        path = url.split("sqlite:///", 1)[-1] if url.startswith("sqlite:///") else ""
        if not path:
            raise ConfigurationError(f"SQLite URL {url!r} names no file: use sqlite:////absolute/path.db")
        if path != ":memory:" and not Path(path).is_absolute():
            # Refused rather than resolved: the console, the CLI and the daemon (started by systemd in /)
            # would otherwise each open a different file for the same setting.
            raise ConfigurationError(f"SQLite URL {url!r} names a relative path, which depends on the current "
                                     f"directory: give an absolute one, e.g. sqlite:///{Path(path).absolute()}")
        if path != ":memory:":
            _create_private_file(Path(path))
        return SqliteDatabase(path, pragmas=SQLITE_PRAGMAS, check_same_thread=False, timeout=BUSY_TIMEOUT_S)
    if scheme in {"postgresql", "postgres"}:
        _require_postgres_driver()
        extra = {} if "connect_timeout" in parse_qs(urlparse(url).query) else {
            "connect_timeout": PG_CONNECT_TIMEOUT_S}
        # playhouse ships no stubs: its connect() is Any
        return cast(Database, url_connect(url.replace("postgres://", "postgresql://", 1), **extra))
    raise ConfigurationError(f"unsupported database URL {redact_url(url)!r}: use sqlite:/// or postgresql://")


def _require_postgres_driver() -> None:
    """The driver is an extra (``mdmtui[postgres]``): say how to install it instead of Peewee's bare
    "Postgres driver not installed!" at the first query."""
    if importlib.util.find_spec("psycopg2") is None:
        raise ConfigurationError("a postgresql:// database needs the PostgreSQL driver, which is not installed: "
                                 "pip install 'mdmtui[postgres]' (or psycopg2-binary) into mdmtui's environment")


def _create_private_file(path: Path) -> None:
    """Create the SQLite file readable by its owner only (it holds personal data); SQLite's WAL follows."""
    private_dir(path.parent)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def redact_url(url: str) -> str:
    """The URL with any password replaced, for messages and logs."""
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@", 1)
    return url


def init_database(url: str, *, migrate_schema: bool = True) -> Database:
    """Open ``url``, bind the models to it and bring the schema up to date (``Storage.open`` does this
    for a context; this is for tools and tests that need the bare database)."""
    db = open_database(url)
    db.bind(models.ALL_MODELS)
    prepare_database(url, db, migrate_schema=migrate_schema)
    return db


def prepare_database(url: str, db: Database, *, migrate_schema: bool = True) -> None:
    """Connect ``db`` (opened from ``url``, the models bound to it) and bring its schema up to date."""
    try:
        db.connect(reuse_if_open=True)
        if migrate_schema:
            migrate(db)
    except DatabaseError as exc:  # OperationalError included
        raise _open_error(url, db, exc) from exc


def _open_error(url: str, db: Database, exc: DatabaseError) -> ConfigurationError:
    """One line that says what is wrong with the database and what to do."""
    detail = _first_line(exc)
    if not isinstance(db, PostgresqlDatabase) and _NOT_A_DATABASE.search(detail):
        return ConfigurationError(f"{db.database} is not an mdmtui database (or is corrupt): {detail}; point "
                                  "--database or MDMTUI_DATABASE_URL at the right file, or move this one away "
                                  "to start afresh", detail=str(exc))
    doing = "open" if db.is_closed() else "migrate"
    return ConfigurationError(f"cannot {doing} database {redact_url(url)}: {detail}{_hint(db, detail)}",
                              detail=str(exc))


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]


def _hint(db: Database, detail: str) -> str:
    if isinstance(db, PostgresqlDatabase):
        return " (is PostgreSQL running and reachable, and MDMTUI_DATABASE_URL right?)"
    if "locked" in detail or "busy" in detail:
        return f" (another mdmtui process may hold it longer than {BUSY_TIMEOUT_S} s; retry)"
    return " (check the path and that this user may read and write it and its directory)"
