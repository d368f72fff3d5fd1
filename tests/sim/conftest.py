"""Fixtures for the simulator tests: small fleets on loopback, faults cleared between tests."""

from __future__ import annotations

import httpx
import pytest

from mdmtui.sim import Simulator

SCOPE = "https://graph.microsoft.com/.default"


def graph_token(sim: Simulator, client: httpx.Client) -> str:
    """A valid bearer token from the sim's token endpoint."""
    i = sim.intune
    r = client.post(f"{i.base_url}/{i.tenant_id}/oauth2/v2.0/token",
                    data={"client_id": i.client_id, "client_secret": i.client_secret, "scope": SCOPE,
                          "grant_type": "client_credentials"})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


@pytest.fixture(scope="module")
def sim():
    """A shared read-mostly simulator: 2300 Intune devices (three pages), 120 MobileIron, 120 SDM."""
    s = Simulator(seed=7, intune=2300, mobileiron=120, sdm=120, scenario="demo")
    s.intune.action_delay = 0.2
    s.sdm.command_step = 0.1
    with s:
        yield s


@pytest.fixture
def fresh():
    """A simulator of its own, for tests that change devices."""
    s = Simulator(seed=11, intune=60, mobileiron=60, sdm=60, scenario="demo")
    s.intune.action_delay = 0.2
    s.sdm.command_step = 0.1
    with s:
        yield s


@pytest.fixture(autouse=True)
def _clear_faults(request):
    yield
    if "sim" in request.fixturenames:          # `fresh` sims die with their test
        request.getfixturevalue("sim").set_faults(None)


@pytest.fixture
def client():
    with httpx.Client(timeout=10) as c:
        yield c


@pytest.fixture
def graph(sim, client):
    """(client, headers, base url) for Graph calls on the shared sim."""
    return client, {"Authorization": "Bearer " + graph_token(sim, client)}, sim.intune.base_url


@pytest.fixture
def mi(sim):
    """An httpx client authenticated as the MobileIron API admin, based at the Core URL."""
    m = sim.mobileiron
    with httpx.Client(base_url=m.base_url, auth=(m.user, m.password), timeout=10) as c:
        yield c


@pytest.fixture
def sdm(sim):
    """An httpx client authenticated to the SDM, based at /sdm/api/v1."""
    s = sim.sdm
    with httpx.Client(base_url=s.base_url + "/sdm/api/v1", auth=(s.user, s.password), timeout=10) as c:
        yield c
