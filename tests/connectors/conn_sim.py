"""Helpers for the end-to-end connector tests: linkage configs for a running simulator and collection."""

from __future__ import annotations

from mdmtui.connectors.base import LinkageConfig, connector_for
from mdmtui.records import StoredSoftware
from mdmtui.secrets import Secret

E2E_RETRY = {"attempts": 6, "initial_s": 0.02, "max_backoff_s": 0.2, "jitter_s": 0.02, "max_retry_after_s": 5}


def sim_config(sim, system: str, **kw) -> LinkageConfig:
    """A linkage pointing at one of the simulator's MDMs."""
    extra = {"retry": E2E_RETRY, **kw.pop("extra", {})}
    timeout = kw.pop("timeout_s", 10.0)
    if system == "intune":
        base = dict(server_url=sim.intune.base_url, authority_url=sim.intune.base_url, tenant_id=sim.intune.tenant_id,
                    client_id=sim.intune.client_id, client_secret=Secret(sim.intune.client_secret))
    elif system == "mobileiron":
        base = dict(server_url=sim.mobileiron.base_url, user=sim.mobileiron.user,
                    password=Secret(sim.mobileiron.password))
    else:
        base = dict(server_url=sim.sdm.base_url, user=sim.sdm.user, password=Secret(sim.sdm.password),
                    sdm_db_host=sim.sdm.db_host, sdm_db_port=sim.sdm.db_port)
    base.update(kw)
    return LinkageConfig(name=f"sim {system}", system=system, timeout_s=timeout, extra=extra, **base)


def stored_software(records, before: dict | None = None) -> StoredSoftware:
    """What the inventory holds after the runs that gave ``records`` (software None: the earlier one's)."""
    held = {mdm_id: list(apps) for mdm_id, apps in (before or {}).items()}
    for r in records:
        if r.software is not None:
            held[r.mdm_device_id] = [(s.name, s.version) for s in r.software]
    out = StoredSoftware()
    for mdm_id, apps in held.items():
        for name, version in apps:
            out.add(mdm_id, name, version)
    return out


async def collect(sim, system: str, known=None, stored: StoredSoftware | None = None, **kw) -> tuple[list, object]:
    """Every record of one collection, and the connector (closed) for its warnings. ``stored``: the
    inventory's software, handed over as the collection service does (Intune's tenant-wide apps)."""
    conn = connector_for(sim_config(sim, system, **kw))
    if stored is not None:
        async def load() -> StoredSoftware:
            return stored
        conn.stored_software = load
    out = []
    try:
        async for page in conn.iter_device_pages(known or {}):
            out.extend(page)
    finally:
        await conn.aclose()
    return out, conn
