"""Helpers for the connector tests: linkage configs and a recording sleep."""

from __future__ import annotations

from mdmtui.connectors import churn
from mdmtui.connectors.base import LinkageConfig
from mdmtui.secrets import Secret

GRAPH = "https://graph.test"
AUTHORITY = "https://login.test"
TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
CLIENT_SECRET = "s3cr3t~Value.That-Must-Never-Leak"
TOKEN_URL = f"{AUTHORITY}/{TENANT}/oauth2/v2.0/token"
FAST_RETRY = {"attempts": 4, "initial_s": 0.01, "max_backoff_s": 0.05, "jitter_s": 0.0, "max_retry_after_s": 60}


class Sleeps:
    """Records every wait instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def intune_config(**kw) -> LinkageConfig:
    """An Intune linkage pointing at the mocked Graph and authority."""
    base = dict(name="Intune test", system="intune", server_url=GRAPH, authority_url=AUTHORITY, tenant_id=TENANT,
                client_id=CLIENT_ID, client_secret=Secret(CLIENT_SECRET), timeout_s=5.0,
                extra={"retry": FAST_RETRY})
    base.update(kw)
    return LinkageConfig(**base)


def basic_config(system: str, server_url: str, **kw) -> LinkageConfig:
    """A MobileIron or SDM linkage with Basic credentials."""
    base = dict(name=f"{system} test", system=system, server_url=server_url, user="admin",
                password=Secret("pa55-w0rd-never-logged"), timeout_s=5.0, extra={"retry": FAST_RETRY})
    base.update(kw)
    return LinkageConfig(**base)


async def records_of(conn, known) -> dict:
    """Every record a connector's collection yields, by MDM device id (the connector closed after)."""
    out = {}
    async for page in conn.iter_device_pages(known):
        out.update((r.mdm_device_id, r) for r in page)
    await conn.aclose()
    return out


def pairs(software) -> list | None:
    """A record's software as sorted (name, version) pairs; None when it was not collected."""
    return None if software is None else sorted((s.name, s.version or "") for s in software)


def stored_marker(item: dict, now: float, refresh_days: float = 7) -> str:
    """An Intune device's change marker as an inventory holds it from the previous release (r1: no slot;
    a run upgrades it, churn.py)."""
    return churn.marker(item, item["id"], now, refresh_days)
