"""Opening the database (SQLite by default, PostgreSQL by URL) and versioned migrations."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

from peewee import Database, OperationalError, PostgresqlDatabase, SqliteDatabase
from playhouse.db_url import connect as url_connect
from playhouse.migrate import PostgresqlMigrator, SchemaMigrator, SqliteMigrator

from mdmtui import models
from mdmtui.errors import ConfigurationError

log = logging.getLogger(__name__)

SQLITE_PRAGMAS = {
    "journal_mode": "wal",  # readers (the console) never block the collector
    "busy_timeout": 10_000,  # ms to wait on a writer instead of failing at once
    "foreign_keys": 1,
    "synchronous": "normal",  # safe with WAL, much faster commits
    "cache_size": -64_000,
}

Migration = Callable[[Database, SchemaMigrator], None]
MIGRATIONS: dict[int, Migration] = {}  # version -> step from version-1; see migrations.py
CURRENT_VERSION = 1


def open_database(url: str) -> Database:
    """Create (not yet connect) the database object for ``url``."""
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        path = url.split("sqlite:///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return SqliteDatabase(path or ":memory:", pragmas=SQLITE_PRAGMAS,
                              check_same_thread=False, timeout=10)
    if scheme in {"postgresql", "postgres"}:
        return url_connect(url.replace("postgres://", "postgresql://", 1), autorollback=True)
    raise ConfigurationError(f"unsupported database URL {redact_url(url)!r}: use sqlite:/// or postgresql://")


def redact_url(url: str) -> str:
    """The URL with any password replaced, for messages and logs."""
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@", 1)
    return url


def init_database(url: str, *, migrate_schema: bool = True) -> Database:
    """Open ``url``, bind the models to it and bring the schema up to date."""
    db = open_database(url)
    models.database.initialize(db)
    try:
        db.connect(reuse_if_open=True)
    except OperationalError as exc:
        raise ConfigurationError(f"cannot open database {redact_url(url)}: {exc}") from exc
    if migrate_schema:
        migrate(db)
    return db


def schema_version(db: Database) -> int | None:
    """The stored schema version, or None for a database without mdmtui tables."""
    if not db.table_exists(models.SchemaVersion._meta.table_name):
        return None
    row = models.SchemaVersion.select().first()
    return row.version if row else None


def migrator_for(db: Database) -> SchemaMigrator:
    """The Peewee schema migrator of ``db``'s dialect."""
    if isinstance(db, PostgresqlDatabase):
        return PostgresqlMigrator(db)
    return SqliteMigrator(db)


def migrate(db: Database) -> int:
    """Create a fresh schema or upgrade an older one; returns the version reached."""
    from mdmtui import migrations  # noqa: F401  (registers MIGRATIONS)

    version = schema_version(db)
    if version is None:
        with db.atomic():
            db.create_tables(models.ALL_MODELS, safe=True)
            models.SchemaVersion.delete().execute()
            models.SchemaVersion.create(version=CURRENT_VERSION)
        return CURRENT_VERSION
    if version > CURRENT_VERSION:
        raise ConfigurationError(
            f"the database schema is version {version}, newer than this mdmtui ({CURRENT_VERSION}): upgrade mdmtui")
    for target in range(version + 1, CURRENT_VERSION + 1):
        log.info("migrating schema %s -> %s", target - 1, target)
        with db.atomic():
            MIGRATIONS[target](db, migrator_for(db))
            models.SchemaVersion.update(version=target).execute()
    return CURRENT_VERSION
