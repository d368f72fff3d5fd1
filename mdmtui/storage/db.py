"""Opening the database (SQLite by default, PostgreSQL by URL) and versioned migrations."""

from __future__ import annotations

import importlib.util
import logging
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast
from urllib.parse import parse_qs, urlparse

from peewee import Database, DatabaseError, PostgresqlDatabase, SqliteDatabase
from playhouse.db_url import connect as url_connect
from playhouse.migrate import PostgresqlMigrator, SchemaMigrator, SqliteMigrator

from mdmtui.storage import models
from mdmtui.config import private_dir
from mdmtui.errors import ConfigurationError

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
# Any constant: serialises concurrent migrations (console and daemon starting together)
_PG_MIGRATION_LOCK = 0x6D646D74

# SQLite's words for a file that is not an SQLite database, or one whose pages are damaged
_NOT_A_DATABASE = re.compile(r"not a database|malformed|file is encrypted", re.I)

Migration = Callable[[Database, SchemaMigrator], None]
MIGRATIONS: dict[int, Migration] = {}  # version -> step from version-1; see migrations.py
CURRENT_VERSION = 11


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


def schema_version(db: Database) -> int | None:
    """The stored schema version, or None for a database without mdmtui tables."""
    if not db.table_exists(models.SchemaVersion._meta.table_name):
        return None
    row = models.SchemaVersion.select().order_by(models.SchemaVersion.version.desc()).first()
    return row.version if row else None


def migrator_for(db: Database) -> SchemaMigrator:
    """The Peewee schema migrator of ``db``'s dialect."""
    if isinstance(db, PostgresqlDatabase):
        return PostgresqlMigrator(db)
    return SqliteMigrator(db)


@contextmanager
def _migration_transaction(db: Database) -> Iterator[None]:
    """One transaction that only one process at a time can hold for migrating."""
    if isinstance(db, PostgresqlDatabase):
        with db.atomic():
            db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_PG_MIGRATION_LOCK,))
            yield
    else:
        with db.atomic("IMMEDIATE"):  # takes SQLite's write lock at once
            yield


def migrate(db: Database) -> int:
    """Create a fresh schema or upgrade an older one; returns the version reached."""
    from mdmtui.storage import migrations

    _check_steps()
    with _migration_transaction(db):
        version = schema_version(db)
        if version is None:
            migrations.create_missing(db)
            models.SchemaVersion.delete().execute()
            models.SchemaVersion.create(version=CURRENT_VERSION)
            return CURRENT_VERSION
        if version > CURRENT_VERSION:
            raise ConfigurationError(
                f"the database schema is version {version}, newer than this mdmtui understands "
                f"({CURRENT_VERSION}): upgrade mdmtui")
        for target in sorted(v for v in MIGRATIONS if v > version):
            log.info("migrating schema to version %s", target)
            MIGRATIONS[target](db, migrator_for(db))
            models.SchemaVersion.update(version=target).execute()
    return CURRENT_VERSION


def _check_steps() -> None:
    # Parallel branches are each given a step number, so a number may be unused (none shipped).
    steps = sorted(MIGRATIONS)
    if not steps or steps[-1] != CURRENT_VERSION or steps[0] < 2:
        raise RuntimeError(f"migration steps {steps} do not lead to version {CURRENT_VERSION}")

