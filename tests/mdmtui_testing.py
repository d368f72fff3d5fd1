"""Helpers importable from any test module (``conftest`` is ambiguous: several folders have one)."""

from __future__ import annotations

from mdmtui.config import Settings


def make_settings(tmp_path, database_url: str | None = None, **extra) -> Settings:
    """Settings rooted in ``tmp_path``."""
    return Settings(data_dir=tmp_path / "data", config_dir=tmp_path / "config",
                    database_url=database_url, **extra)
