"""Shared fixtures: an isolated settings/data dir and a database on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import os
import sys
import uuid

import pytest

from mdmtui.services.context import Context, open_context
from mdmtui_testing import make_settings

POSTGRES_URL = os.environ.get("MDMTUI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    """No test reads the developer's own config, data or secret key."""
    for key in list(os.environ):
        if key.startswith("MDMTUI_") and key != "MDMTUI_TEST_POSTGRES_URL":
            monkeypatch.delenv(key)
    monkeypatch.setenv("MDMTUI_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("MDMTUI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "home" / ".local" / "share"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))


@pytest.fixture
def tokyo(monkeypatch):
    """The server's local time zone is Asia/Tokyo for this test (times shown locally)."""
    import time

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(autouse=True)
def _restore_logging():
    """A CLI test's setup_logging (file only, no propagation) must not hide later tests' caplog."""
    logger = logging.getLogger("mdmtui")
    saved = logger.propagate, logger.level
    yield
    logger.propagate, logger.level = saved[0], saved[1]


@pytest.fixture(autouse=True)
def _forget_sdm_software_services():
    """collect_helpers.sdm_software_service points a linkage name at one test's simulator: forget it after
    that test, or a later test's linkage of the same name (in whatever file a worker runs next) collects
    from a simulator that is gone."""
    yield
    helpers = sys.modules.get("collect_helpers")
    if helpers is not None:
        helpers._SDM_DB.clear()


def _postgres_schema_url() -> tuple[str, str]:
    import psycopg2

    schema = f"t_{uuid.uuid4().hex[:12]}"
    base = POSTGRES_URL
    try:
        conn = psycopg2.connect(base, connect_timeout=3)
    except psycopg2.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {base}: {exc} (run .ci/run, which starts it)")
    conn.autocommit = True
    conn.cursor().execute(f'CREATE SCHEMA "{schema}"')
    conn.close()
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", schema


def _drop_schema(schema: str) -> None:
    import psycopg2

    conn = psycopg2.connect(POSTGRES_URL)
    conn.autocommit = True
    conn.cursor().execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """A fresh, empty database URL: SQLite file, and a private schema on the real PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'mdmtui.db'}"
        return
    url, schema = _postgres_schema_url()
    yield url  # whoever opened it closed it (the ctx fixture closes its context first)
    _drop_schema(schema)


@pytest.fixture
def ctx(db_url, tmp_path) -> Context:
    """A service context on a fresh database (runs on SQLite and PostgreSQL)."""
    context = open_context(make_settings(tmp_path, db_url))
    yield context
    context.close()


@pytest.fixture
def sqlite_ctx(tmp_path) -> Context:
    """A service context on a fresh SQLite database only (for tests where the dialect is irrelevant)."""
    context = open_context(make_settings(tmp_path))
    yield context
    context.close()
