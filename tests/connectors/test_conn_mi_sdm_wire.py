"""MobileIron and SDM request shapes pinned with respx: Basic auth, fields, device space, bodies, outcomes."""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx
from conn_helpers import basic_config

from mdmtui.connectors import churn
from mdmtui.connectors.mobileiron import DETAIL_KEYS, SEARCH_FIELDS, SUCCESS_KEY, MobileIronConnector
from mdmtui.connectors.sdm import SdmConnector
from mdmtui.errors import AuthenticationFailed, ConfigurationError, MdmRequestError, ProtocolError
from mdmtui.records import Action, ActionResult, DeviceRef, OsClass, Outcome, WipeOptions

MI = "https://core.test"
SDM = "https://sdm.test:26055"
SDM_API = f"{SDM}/sdm/api/v1"
BASIC = "Basic " + base64.b64encode(b"admin:pa55-w0rd-never-logged").decode()


def q(call) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(str(call.request.url)).query, keep_blank_values=True).items()}


def mi(sleeps, **kw) -> MobileIronConnector:
    conn = MobileIronConnector(basic_config("mobileiron", MI, device_space_id=3, **kw))
    conn.http.sleep = sleeps
    return conn


def sdm(sleeps, **kw) -> SdmConnector:
    conn = SdmConnector(basic_config("sdm", SDM, **kw))
    conn.http.sleep = sleeps
    if conn.software_http:
        conn.software_http.sleep = sleeps
    return conn


def mi_row(n: int) -> dict:
    return {"common.uuid": f"u-{n}", "common.status": "ACTIVE", "common.last_connected_at": "2026-11-20T10:00:00.000Z",
            "common.platform": "Android", "common.memory_capacity": 1 << 33, "common.memory_free": 1 << 30}


async def collect(conn, known=None):
    out = []
    async for page in conn.iter_device_pages(known or {}):
        out.extend(page)
    return out


@respx.mock
async def test_mi_search_shape_and_details_only_for_changed(sleeps):
    search = respx.get(f"{MI}/api/v2/devices").mock(side_effect=[
        httpx.Response(200, json={"results": [mi_row(1), mi_row(2)], "totalCount": 3, "resultCount": 2, "hasMore": True}),
        httpx.Response(200, json={"results": [mi_row(3)], "totalCount": 3, "resultCount": 1, "hasMore": False})])
    details = respx.get(url__regex=rf"{MI}/api/v2/devices/u-\d/details.*").mock(return_value=httpx.Response(
        200, json={"results": [{"name": "PasscodePresent", "value": "false"}, {"name": "imei", "value": "x"},
                               {"name": "total_ram_size_bytes", "value": str(1 << 33)}]}))
    conn = mi(sleeps, page_size=2)
    known = {"u-2": churn.marker(mi_row(2), "u-2", time.time(), 7)}
    records = await collect(conn, known)
    assert [r.mdm_device_id for r in records] == ["u-1", "u-2", "u-3"]
    first = q(search.calls[0])
    assert first["adminDeviceSpaceId"] == "3" and first["offset"] == "0" and first["limit"] == "2"
    assert first["fields"].split(",") == list(SEARCH_FIELDS) and not set(DETAIL_KEYS) & set(SEARCH_FIELDS)
    assert q(search.calls[1])["offset"] == "2"
    assert all(c.request.headers["authorization"] == BASIC for c in search.calls)
    assert sorted(urlsplit(str(c.request.url)).path for c in details.calls) == [
        "/api/v2/devices/u-1/details", "/api/v2/devices/u-3/details"]
    by_id = {r.mdm_device_id: r for r in records}
    assert by_id["u-1"].passcode_set is False and by_id["u-2"].passcode_set is None
    assert by_id["u-2"].unfetched == {"passcode_set", "ram_total_bytes", "ram_free_bytes"}
    assert by_id["u-1"].ram_total_bytes == 1 << 33 and by_id["u-1"].ram_free_bytes == 1 << 30
    assert "total_ram_size_bytes" not in first["fields"] and "common.memory_capacity" not in first["fields"]


@respx.mock
async def test_mi_device_space_is_discovered_when_not_set(sleeps):
    spaces = respx.get(f"{MI}/api/v2/device_spaces/mine").mock(
        return_value=httpx.Response(200, json={"results": [{"id": 9, "name": "Global"}]}))
    respx.get(f"{MI}/api/v2/ping").mock(return_value=httpx.Response(200, json={"results": {"apiVersion": 2.0}}))
    conn = MobileIronConnector(basic_config("mobileiron", MI))
    assert "device space 9" in await conn.test_connection() and spaces.call_count == 1


@respx.mock
async def test_mi_401_names_the_api_role(sleeps):
    respx.get(f"{MI}/api/v2/ping").mock(return_value=httpx.Response(401, json={"messages": [
        {"type": "Error", "messageKey": "x", "localizedMessage": "The user does not have the API role"}]}))
    with pytest.raises(AuthenticationFailed, match="API role"):
        await mi(sleeps).test_connection()


@respx.mock
async def test_mi_wipe_body_and_per_device_judgement(sleeps):
    route = respx.put(f"{MI}/api/v2/devices/wipe").mock(return_value=httpx.Response(200, json={
        "actionType": "WIPE_DEVICE", "successful": True,
        "deviceResults": {"u-1": "com.mobileiron.vsp.messages.device.action.failed.device.not.mdm.managed",
                          "u-2": SUCCESS_KEY}}))
    result = await mi(sleeps).wipe(DeviceRef("u-1", OsClass.M), WipeOptions(note="lost phone"))
    assert json.loads(route.calls[0].request.content) == {"deviceUuids": ["u-1"], "note": "lost phone"}
    assert q(route.calls[0])["adminDeviceSpaceId"] == "3"
    assert result.outcome is Outcome.FAILED and "profile was removed" in result.message  # despite successful: true
    assert result.mdm_code.endswith("not.mdm.managed")


@respx.mock
async def test_mi_passcode_clear_and_v1_lock_shapes(sleeps):
    action = respx.post(f"{MI}/api/v2/devices/action").mock(return_value=httpx.Response(200, json={
        "actionType": "UNLOCK_DEVICE_ONLY", "successful": True, "deviceResults": {"u-1": SUCCESS_KEY}}))
    respx.get(f"{MI}/api/v2/devices").mock(return_value=httpx.Response(200, json={"results": [
        {"common.uuid": "u-1", "common.status": "ACTIVE", "common.mdm_managed": True}], "totalCount": 1}))
    lock = respx.put(f"{MI}/api/v1/dm/devices/lock/u-1").mock(return_value=httpx.Response(
        200, json={"messages": {"message": "The lock command was sent to device u-1"}}))
    conn = mi(sleeps)
    cleared = await conn.reset_passcode(DeviceRef("u-1", OsClass.M))
    locked = await conn.lock(DeviceRef("u-1", OsClass.M))
    assert q(action.calls[0])["actionType"] == "UNLOCK_DEVICE_ONLY" and cleared.outcome is Outcome.SUCCEEDED
    assert cleared.new_passcode is None
    assert "reason" in q(lock.calls[0]) and locked.outcome is Outcome.SUCCEEDED and "sent" in locked.message


@respx.mock
@pytest.mark.parametrize("action", ["wipe", "reset_passcode"])
async def test_mi_success_key_for_a_device_without_profile_is_a_failure(sleeps, action):
    """Core 5.8+ answers success for a profile-removed device: the device's own state decides."""
    respx.put(f"{MI}/api/v2/devices/wipe").mock(return_value=httpx.Response(200, json={
        "actionType": "WIPE_DEVICE", "successful": True, "deviceResults": {"u-1": SUCCESS_KEY}}))
    respx.post(f"{MI}/api/v2/devices/action").mock(return_value=httpx.Response(200, json={
        "actionType": "UNLOCK_DEVICE_ONLY", "successful": True, "deviceResults": {"u-1": SUCCESS_KEY}}))
    search = respx.get(f"{MI}/api/v2/devices").mock(return_value=httpx.Response(200, json={"results": [
        {"common.uuid": "u-1", "common.status": "ACTIVE", "common.mdm_managed": False}], "totalCount": 1}))
    conn = mi(sleeps)
    ref = DeviceRef("u-1", OsClass.M)
    result = await (conn.wipe(ref, WipeOptions()) if action == "wipe" else conn.reset_passcode(ref))
    assert result.outcome is Outcome.FAILED and "no MDM profile" in result.message
    assert q(search.calls[0])["query"] == '"common.uuid" = "u-1"'


@respx.mock
@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_mi_wipe_answer_lost_as_5xx_is_unknown_and_sent_once(sleeps, status):
    wipe = respx.put(f"{MI}/api/v2/devices/wipe").mock(return_value=httpx.Response(status, json={"messages": [
        {"type": "Error", "messageKey": "x", "localizedMessage": "Bad gateway"}]}))
    result = await mi(sleeps).wipe(DeviceRef("u-1", OsClass.M), WipeOptions())
    assert result.outcome is Outcome.UNKNOWN and wipe.call_count == 1 and result.http_status == status


@respx.mock
async def test_mi_wipe_rejected_with_4xx_is_failed(sleeps):
    respx.put(f"{MI}/api/v2/devices/wipe").mock(return_value=httpx.Response(400, json={"messages": [
        {"type": "Error", "messageKey": "x", "localizedMessage": "Invalid device space id"}]}))
    result = await mi(sleeps).wipe(DeviceRef("u-1", OsClass.M), WipeOptions())
    assert result.outcome is Outcome.FAILED and "Invalid device space" in result.message


@respx.mock
@pytest.mark.parametrize("rows, gone", [([], True), ([{"common.uuid": "u-1"}], False)])
async def test_mi_device_gone_searches_by_uuid(sleeps, rows, gone):
    search = respx.get(f"{MI}/api/v2/devices").mock(return_value=httpx.Response(
        200, json={"results": rows, "totalCount": len(rows)}))
    assert await mi(sleeps).device_gone("u-1") is gone
    assert q(search.calls[0])["query"] == '"common.uuid" = "u-1"'


@respx.mock
async def test_mi_device_gone_raises_when_core_cannot_answer(sleeps):
    respx.get(f"{MI}/api/v2/devices").mock(return_value=httpx.Response(400, json={"messages": []}))
    with pytest.raises(MdmRequestError):
        await mi(sleeps).device_gone("u-1")


@respx.mock
async def test_mi_lock_answer_lost_is_unknown_and_sent_once(sleeps):
    lock = respx.put(f"{MI}/api/v1/dm/devices/lock/u-1").mock(side_effect=httpx.ReadTimeout("timed out"))
    result = await mi(sleeps).lock(DeviceRef("u-1", OsClass.M))
    assert result.outcome is Outcome.UNKNOWN and lock.call_count == 1


@respx.mock
async def test_sdm_listing_shape_and_software_only_for_changed(sleeps):
    devices = [{"deviceId": f"d{n}", "os": "Android", "lastContact": "2026-11-20T10:00:00Z",
                "managerVersion": "11-00-04", "listName": f"dev{n}"} for n in range(3)]
    listing = respx.get(f"{SDM_API}/devices").mock(return_value=httpx.Response(200, json={"total": 3, "devices": devices}))
    software = respx.get("http://db.test:36066/software").mock(return_value=httpx.Response(200, json={
        "total": 1, "items": [{"name": "Mail", "version": "1.2", "manufacturer": "Contoso"}]}))
    conn = sdm(sleeps, sdm_db_host="db.test", sdm_db_port=36066)
    known = {"d1": churn.marker(devices[1], "d1", time.time(), 7)}
    records = await collect(conn, known)
    assert q(listing.calls[0]) == {"offset": "0", "limit": "500"}
    assert listing.calls[0].request.headers["authorization"] == BASIC
    assert sorted(q(c)["deviceId"] for c in software.calls) == ["d0", "d2"]
    assert "authorization" not in software.calls[0].request.headers
    by_id = {r.mdm_device_id: r for r in records}
    assert by_id["d0"].software[0].vendor == "Contoso" and by_id["d1"].software is None


@respx.mock
async def test_sdm_without_software_database_reads_no_software(sleeps):
    respx.get(f"{SDM_API}/devices").mock(return_value=httpx.Response(200, json={"total": 1, "devices": [
        {"deviceId": "d0", "os": "iOS", "lastContact": None, "managerVersion": "11-00-04"}]}))
    conn = sdm(sleeps)
    [record] = await collect(conn)
    # no marker: once sdm_import.properties names the service, every device's software is read
    assert record.software is None and record.change_marker is None and record.last_alive_at is None
    assert any("software not collected" in w for w in conn.warnings)
    with pytest.raises(ConfigurationError, match="sdm_import.properties"):
        await conn.software(DeviceRef("d0", OsClass.SI))


@respx.mock
async def test_sdm_unknown_os_is_a_protocol_error(sleeps):
    respx.get(f"{SDM_API}/devices").mock(return_value=httpx.Response(200, json={"total": 1, "devices": [
        {"deviceId": "d0", "os": "Windows"}]}))
    with pytest.raises(ProtocolError, match="neither iOS"):
        await collect(sdm(sleeps))


@respx.mock
@pytest.mark.parametrize(("action", "kind"), [(Action.LOCK, "lock"), (Action.WIPE, "wipe"),
                                              (Action.RESET_PASSCODE, "passcodeReset")])
async def test_sdm_command_bodies(sleeps, action, kind):
    route = respx.post(f"{SDM_API}/devices/d0/commands").mock(
        return_value=httpx.Response(202, json={"commandId": "c-1", "state": "queued"}))
    conn = sdm(sleeps)
    ref = DeviceRef("d0", OsClass.SA)
    result = await (conn.wipe(ref, WipeOptions()) if action is Action.WIPE else getattr(conn, action.value)(ref))
    assert json.loads(route.calls[0].request.content) == {"type": kind}
    assert (result.outcome, result.reference, result.http_status) == (Outcome.PENDING, "c-1", 202)


@respx.mock
@pytest.mark.parametrize(("body", "outcome", "message"), [
    ({"commandId": "c-1", "state": "sent"}, Outcome.PENDING, "sent"),
    ({"commandId": "c-1", "state": "succeeded", "newPasscode": "482913"}, Outcome.SUCCEEDED, "succeeded"),
    ({"commandId": "c-1", "state": "failed", "error": "The MDM profile has been removed"}, Outcome.FAILED, "profile"),
])
async def test_sdm_follow_up_states(sleeps, body, outcome, message):
    respx.get(f"{SDM_API}/commands/c-1").mock(return_value=httpx.Response(200, json=body))
    pending = ActionResult("d0", Action.RESET_PASSCODE, Outcome.PENDING, reference="c-1")
    result = await sdm(sleeps).follow_up(DeviceRef("d0", OsClass.SA), pending)
    assert result.outcome is outcome and message in result.message
    assert result.new_passcode == body.get("newPasscode")
    assert "482913" not in repr(result)


@respx.mock
@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_sdm_command_answer_lost_as_5xx_is_unknown_and_sent_once(sleeps, status):
    route = respx.post(f"{SDM_API}/devices/d0/commands").mock(return_value=httpx.Response(status, json={"error": "x"}))
    result = await sdm(sleeps).wipe(DeviceRef("d0", OsClass.SA), WipeOptions())
    assert result.outcome is Outcome.UNKNOWN and route.call_count == 1
    assert result.request_id == route.calls[0].request.headers["client-request-id"]


@respx.mock
@pytest.mark.parametrize(("listed", "outcome", "reference"), [
    ([{"commandId": "c-0", "type": "wipe", "state": "succeeded", "clientRequestId": "older"},
      {"commandId": "c-1", "type": "wipe", "state": "failed", "clientRequestId": "req-1", "error": "profile gone"}],
     Outcome.FAILED, "c-1"),
    ([{"commandId": "c-0", "type": "wipe", "state": "succeeded", "clientRequestId": "older"}], Outcome.PENDING, None),
])
async def test_sdm_lost_command_is_found_by_its_client_request_id(sleeps, listed, outcome, reference):
    """An earlier command's result never settles the lost one: only its own request id matches."""
    respx.get(f"{SDM_API}/devices/d0/commands").mock(return_value=httpx.Response(200, json={"commands": listed}))
    lost = ActionResult("d0", Action.WIPE, Outcome.UNKNOWN, request_id="req-1")
    result = await sdm(sleeps).follow_up(DeviceRef("d0", OsClass.SA), lost)
    assert (result.outcome, result.reference) == (outcome, reference)


@respx.mock
@pytest.mark.parametrize(("status", "gone"), [(404, True), (200, False)])
async def test_sdm_device_gone_asks_for_the_device(sleeps, status, gone):
    route = respx.get(f"{SDM_API}/devices/d0").mock(return_value=httpx.Response(status, json={"deviceId": "d0"}))
    assert await sdm(sleeps).device_gone("d0") is gone and route.call_count == 1


@respx.mock
async def test_sdm_wrong_password(sleeps):
    respx.get(f"{SDM_API}/devices").mock(return_value=httpx.Response(401, json={"error": "Authentication failed"}))
    with pytest.raises(AuthenticationFailed, match="user ID"):
        await sdm(sleeps).test_connection()
