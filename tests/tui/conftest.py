"""Fixtures for the console tests: a context on a fresh SQLite database, a fixed time zone."""

from __future__ import annotations

import os
import time

import pytest

from mdmtui.config import Settings
from mdmtui.services.context import open_context


def make_settings(tmp_path, **extra) -> Settings:
    """Settings rooted in ``tmp_path`` (SQLite: the console's dialect does not matter here)."""
    return Settings(data_dir=tmp_path / "data", config_dir=tmp_path / "config", **extra)


@pytest.fixture(autouse=True)
def _tokyo(monkeypatch):
    """Dates on screen are in the server's local zone: make it a fixed one."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.delenv("TZ", raising=False)
    time.tzset()


@pytest.fixture
def tui_ctx(tmp_path):
    """A service context on a fresh SQLite database."""
    ctx = open_context(make_settings(tmp_path))
    yield ctx
    ctx.db.close()


@pytest.fixture
def ro_ctx(tmp_path):
    """The same, in read-only mode."""
    ctx = open_context(make_settings(tmp_path, read_only=True))
    yield ctx
    ctx.db.close()
