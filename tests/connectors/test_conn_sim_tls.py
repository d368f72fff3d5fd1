"""TLS against the simulator: the linkage's CA bundle is trusted; without it the error says what to set."""

from __future__ import annotations

import pytest
from conn_sim import collect, sim_config

from mdmtui.connectors.base import connector_for
from mdmtui.errors import ConnectionFailed
from mdmtui.sim import Simulator


@pytest.fixture(scope="module")
def tls_sim():
    with Simulator(seed=3, intune=30, mobileiron=30, sdm=30, tls=True) as simulator:
        yield simulator


@pytest.mark.parametrize("system", ["intune", "mobileiron"])
async def test_collects_over_tls_with_the_ca_bundle(tls_sim, system):
    records, _ = await collect(tls_sim, system, ca_bundle=tls_sim.ca_bundle, extra={"collect_software": False})
    assert {r.mdm_device_id for r in records} == set(tls_sim.device_ids(system))


@pytest.mark.parametrize("system", ["intune", "mobileiron", "sdm"])
async def test_untrusted_certificate_names_the_fix(tls_sim, system):
    conn = connector_for(sim_config(tls_sim, system))
    try:
        with pytest.raises(ConnectionFailed, match="CA bundle"):
            await conn.test_connection()
    finally:
        await conn.aclose()
    assert conn.http.requests_sent == 1  # not retried: asking again cannot make it trusted
