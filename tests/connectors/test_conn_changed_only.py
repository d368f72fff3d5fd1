"""Changed-only listings pinned with respx: the filter each MDM is sent, and the MDM clock kept as the run's start."""

from __future__ import annotations

from datetime import datetime, UTC
from email.utils import format_datetime
from urllib.parse import parse_qs, urlsplit

import httpx
import respx
from conn_helpers import GRAPH, TOKEN_URL, basic_config, intune_config

from mdmtui.connectors.intune import IntuneConnector
from mdmtui.connectors.mobileiron import MobileIronConnector
from mdmtui.connectors.sdm import SdmConnector

SINCE = datetime(2026, 11, 30, 1, 50, 0, 250000, tzinfo=UTC).timestamp()
MDM_NOW = datetime(2026, 11, 30, 4, 0, 5, tzinfo=UTC)      # hours off this machine's clock, as an MDM may be
DATE = {"date": format_datetime(MDM_NOW, usegmt=True)}


def query(call) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(str(call.request.url)).query, keep_blank_values=True).items()}


async def listed(conn) -> list:
    out = []
    async for page in conn.iter_device_pages({}):
        out.extend(page)
    return out


def prepared(conn, sleeps):
    conn.http.sleep = sleeps
    return conn


@respx.mock
async def test_intune_filters_on_last_sync_and_keeps_graphs_clock(sleeps):
    respx.post(TOKEN_URL).mock(return_value=httpx.Response(200, json={"token_type": "Bearer", "expires_in": 3599,
                                                                       "access_token": "t"}))
    route = respx.get(url__startswith=f"{GRAPH}/v1.0/deviceManagement/managedDevices").mock(
        return_value=httpx.Response(200, json={"value": []}, headers=DATE))
    conn = prepared(IntuneConnector(intune_config(extra={"changed_since": SINCE})), sleeps)
    assert await listed(conn) == []
    assert query(route.calls[0])["$filter"] == "lastSyncDateTime gt 2026-11-30T01:50:00Z"
    assert conn.listed_at == MDM_NOW.timestamp()


@respx.mock
async def test_intune_full_listing_sends_no_filter(sleeps):
    respx.post(TOKEN_URL).mock(return_value=httpx.Response(200, json={"token_type": "Bearer", "expires_in": 3599,
                                                                       "access_token": "t"}))
    route = respx.get(url__startswith=f"{GRAPH}/v1.0/deviceManagement/managedDevices").mock(
        return_value=httpx.Response(200, json={"value": []}))
    overview = respx.get(f"{GRAPH}/v1.0/deviceManagement/managedDeviceOverview").mock(
        return_value=httpx.Response(200, json={"enrolledDeviceCount": 3}))  # a small tenant: the list route
    await listed(prepared(IntuneConnector(intune_config()), sleeps))
    assert "$filter" not in query(route.calls[0]) and overview.call_count == 1


@respx.mock
async def test_mobileiron_queries_last_connected_at_in_cores_own_format(sleeps):
    route = respx.get("https://core.test/api/v2/devices").mock(return_value=httpx.Response(200, json={
        "results": [], "totalCount": 0, "resultCount": 0, "hasMore": False,
        "currentServerTimeMilliseconds": MDM_NOW.timestamp() * 1000}))
    conn = prepared(MobileIronConnector(basic_config("mobileiron", "https://core.test", device_space_id=3,
                                                     extra={"changed_since": SINCE})), sleeps)
    await listed(conn)
    assert query(route.calls[0])["query"] == '"common.last_connected_at" > "2026-11-30T01:50:00.250Z"'
    assert conn.listed_at == MDM_NOW.timestamp()


@respx.mock
async def test_sdm_sends_changed_since(sleeps):
    route = respx.get("https://sdm.test:26055/sdm/api/v1/devices").mock(
        return_value=httpx.Response(200, json={"total": 0, "devices": []}, headers=DATE))
    conn = prepared(SdmConnector(basic_config("sdm", "https://sdm.test:26055", extra={"changed_since": SINCE})),
                    sleeps)
    await listed(conn)
    assert query(route.calls[0]) == {"offset": "0", "limit": query(route.calls[0])["limit"],
                                     "changedSince": "2026-11-30T01:50:00Z"}
    assert conn.listed_at == MDM_NOW.timestamp()
