"""Fixtures for the connector tests."""

from __future__ import annotations

import pytest
from conn_helpers import Sleeps


@pytest.fixture
def sleeps() -> Sleeps:
    """A fake sleep for the HTTP layer: records every wait instead of waiting."""
    return Sleeps()
