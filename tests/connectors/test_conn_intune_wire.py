"""Intune request shapes pinned with respx: token, auth header, $select, nextLink, $batch, actions."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, UTC
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx
from conn_helpers import AUTHORITY, CLIENT_ID, CLIENT_SECRET, GRAPH, TENANT, TOKEN_URL, intune_config, stored_marker

from mdmtui.connectors import intune
from mdmtui.connectors.intune import ENRICH_SELECT, LIST_SELECT, IntuneConnector
from mdmtui.errors import AuthenticationFailed, ProtocolError
from mdmtui.records import Action, ActionResult, DeviceRef, OsClass, Outcome, WipeOptions

LIST_URL = f"{GRAPH}/v1.0/deviceManagement/managedDevices"
BATCH_URL = f"{GRAPH}/beta/$batch"


def device(n: int, os_name: str = "iOS", sync: str = "2026-11-20T10:00:00Z") -> dict:
    """A list item as Graph sends it, with the LIST quirk's placeholders."""
    return {"id": f"dev-{n:04d}", "deviceName": f"Phone {n}", "operatingSystem": os_name, "osVersion": "18.5",
            "manufacturer": "Apple", "model": "iPhone 15", "serialNumber": f"SN{n}", "imei": "", "phoneNumber": "",
            "subscriberCarrier": None, "wiFiMacAddress": "a1b2c3d4e5f6", "totalStorageSpaceInBytes": 1 << 37,
            "freeStorageSpaceInBytes": 1 << 36, "lastSyncDateTime": sync, "userDisplayName": "U",
            "jailBroken": "False", "isEncrypted": True, "complianceState": "compliant",
            "iccid": "", "udid": "", "ethernetMacAddress": None, "physicalMemoryInBytes": 0}


def token_route(*tokens: str, expires_in: int = 3599):
    small_tenant()
    return respx.post(TOKEN_URL).mock(side_effect=[
        httpx.Response(200, json={"token_type": "Bearer", "expires_in": expires_in, "ext_expires_in": expires_in,
                                  "access_token": t}) for t in tokens])


def small_tenant(count: int = 3):
    """Intune's device overview, asked once by a full run on auto below the export threshold: a small
    tenant, so these tests pin the list route."""
    return respx.get(f"{GRAPH}/v1.0/deviceManagement/managedDeviceOverview").mock(
        return_value=httpx.Response(200, json={"id": "managedDeviceOverview", "enrolledDeviceCount": count}))


def batch_answer(request: httpx.Request) -> httpx.Response:
    """Answer every inner GET with real values, in reverse order (clients must match by id)."""
    reqs = json.loads(request.content)["requests"]
    out = []
    for r in reqs:
        ident = r["url"].split("/")[-1].split("?")[0]
        out.append({"id": r["id"], "status": 200, "headers": {},
                    "body": {"id": ident, "iccid": f"ICC-{ident}", "udid": f"UDID-{ident}",
                             "ethernetMacAddress": None, "physicalMemoryInBytes": 6 << 30}})
    return httpx.Response(200, json={"responses": out[::-1]})


def connector(sleeps, **kw) -> IntuneConnector:
    conn = IntuneConnector(intune_config(**kw))
    conn.http.sleep = sleeps
    return conn


async def collect(conn, known=None) -> list:
    out = []
    async for page in conn.iter_device_pages(known or {}):
        out.extend(page)
    return out


@respx.mock
async def test_token_request_and_bearer_header(sleeps):
    tok = token_route("tok-1")
    listing = respx.get(LIST_URL).mock(return_value=httpx.Response(200, json={"value": []}))
    conn = connector(sleeps)
    await conn.test_connection()
    form = parse_qs(tok.calls[0].request.content.decode())
    assert form == {"client_id": [CLIENT_ID], "client_secret": [CLIENT_SECRET], "grant_type": ["client_credentials"],
                    "scope": [f"{GRAPH}/.default"]}
    assert tok.calls[0].request.url == TOKEN_URL and AUTHORITY in TOKEN_URL and TENANT in TOKEN_URL
    assert listing.calls[0].request.headers["authorization"] == "Bearer tok-1"


@respx.mock
async def test_listing_selects_only_needed_properties_and_follows_next_link_verbatim(sleeps):
    token_route("tok-1")
    next_link = f"{GRAPH}/v1.0/deviceManagement/managedDevices?$select=id&$skiptoken=Zm9vOjE6YWJj%3D%3D"
    route = respx.get(url__startswith=LIST_URL).mock(side_effect=[
        httpx.Response(200, json={"value": [device(1)], "@odata.nextLink": next_link}),
        httpx.Response(200, json={"value": [device(2)]})])
    respx.post(BATCH_URL).mock(side_effect=batch_answer)
    respx.get(url__regex=r".*/detectedApps.*").mock(return_value=httpx.Response(200, json={"value": []}))
    records = await collect(connector(sleeps))
    assert [r.mdm_device_id for r in records] == ["dev-0001", "dev-0002"]
    first = parse_qs(urlsplit(str(route.calls[0].request.url)).query)
    assert first["$select"] == [",".join(LIST_SELECT)] and first["$top"] == ["1000"]
    assert not set(first["$select"][0].split(",")) & {"iccid", "udid", "ethernetMacAddress", "physicalMemoryInBytes"}
    assert str(route.calls[1].request.url) == next_link


@respx.mock
async def test_batch_only_for_changed_devices_twenty_per_request(sleeps):
    token_route("tok-1")
    items = [device(n) for n in range(50)]
    respx.get(url__startswith=LIST_URL).mock(return_value=httpx.Response(200, json={"value": items}))
    batches = respx.post(BATCH_URL).mock(side_effect=batch_answer)
    respx.get(url__regex=r".*/detectedApps.*").mock(return_value=httpx.Response(200, json={"value": []}))
    conn = connector(sleeps, extra={"retry": {"attempts": 2}, "collect_software": False})
    known = {i["id"]: stored_marker(i, time.time()) for i in items[:5]}  # five unchanged devices
    records = await collect(conn, known)
    sent = [json.loads(c.request.content)["requests"] for c in batches.calls]
    assert sorted(len(s) for s in sent) == [5, 20, 20]
    urls = [r["url"] for s in sent for r in s]
    assert urls[0].startswith("/deviceManagement/managedDevices/dev-") and urls[0].endswith(
        "?$select=" + ",".join(ENRICH_SELECT))
    assert {u.split("/")[-1].split("?")[0] for u in urls} == {f"dev-{n:04d}" for n in range(5, 50)}
    assert all(c.request.headers["authorization"] == "Bearer tok-1" for c in batches.calls)
    by_id = {r.mdm_device_id: r for r in records}
    assert by_id["dev-0007"].iccid == "ICC-dev-0007" and by_id["dev-0007"].ram_total_bytes == 6 << 30
    unchanged = by_id["dev-0001"]
    assert unchanged.iccid is None and unchanged.udid is None and unchanged.ram_total_bytes is None
    assert unchanged.unfetched == {"iccid", "udid", "ram_total_bytes"} and unchanged.software is None
    assert by_id["dev-0007"].unfetched == frozenset()


@respx.mock
async def test_batch_items_throttled_on_their_own_are_retried_after_their_retry_after(sleeps):
    token_route("tok-1")
    respx.get(url__startswith=LIST_URL).mock(return_value=httpx.Response(200, json={"value": [device(1), device(2)]}))
    first = True

    def answer(request):
        nonlocal first
        if not first:
            return batch_answer(request)
        first = False
        reqs = json.loads(request.content)["requests"]
        ok = json.loads(batch_answer(request).content)["responses"]
        ok = [r for r in ok if r["id"] == reqs[0]["id"]]
        throttled = {"id": reqs[1]["id"], "status": 429, "headers": {"Retry-After": "4"},
                     "body": {"error": {"code": "TooManyRequests", "message": "Too many requests."}}}
        return httpx.Response(200, json={"responses": ok + [throttled]})

    batches = respx.post(BATCH_URL).mock(side_effect=answer)
    conn = connector(sleeps, extra={"retry": {"attempts": 3}, "collect_software": False})
    records = await collect(conn)
    assert batches.call_count == 2 and sleeps.waits == [4.0]
    assert len(json.loads(batches.calls[1].request.content)["requests"]) == 1
    assert all(r.iccid and not r.unfetched for r in records)


@respx.mock
async def test_batch_items_failing_for_good_keep_stored_values_and_are_fetched_next_time(sleeps):
    token_route("tok-1")
    respx.get(url__startswith=LIST_URL).mock(return_value=httpx.Response(200, json={"value": [device(1)]}))
    respx.post(BATCH_URL).mock(return_value=httpx.Response(200, json={"responses": [
        {"id": "0", "status": 500, "headers": {}, "body": {"error": {"code": "InternalServerError"}}}]}))
    conn = connector(sleeps, extra={"retry": {"attempts": 2}, "collect_software": False})
    [record] = await collect(conn)
    assert record.unfetched == {"iccid", "udid", "ram_total_bytes"} and record.change_marker is None
    assert conn.warnings and "fetched again" in conn.warnings[0]


@respx.mock
async def test_token_renewed_before_expiry(sleeps, monkeypatch):
    tok = token_route("tok-1", "tok-2")
    listing = respx.get(LIST_URL).mock(return_value=httpx.Response(200, json={"value": []}))
    conn = connector(sleeps)
    clock = [1000.0]
    monkeypatch.setattr(intune.time, "monotonic", lambda: clock[0])
    await conn.test_connection()
    clock[0] += 3599 - intune.TOKEN_LEEWAY_S - 1  # still inside the leeway: same token
    await conn.test_connection()
    clock[0] += 2  # within the leeway of expiry: renewed before it expires
    await conn.test_connection()
    assert tok.call_count == 2
    assert [c.request.headers["authorization"] for c in listing.calls] == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]


@respx.mock
async def test_401_renews_the_token_once(sleeps):
    tok = token_route("tok-1", "tok-2")
    listing = respx.get(LIST_URL).mock(side_effect=[httpx.Response(401), httpx.Response(200, json={"value": []})])
    await connector(sleeps).test_connection()
    assert tok.call_count == 2 and listing.calls[1].request.headers["authorization"] == "Bearer tok-2"


@respx.mock
async def test_401_after_renewal_fails(sleeps):
    token_route("tok-1", "tok-2")
    respx.get(LIST_URL).mock(return_value=httpx.Response(401))
    with pytest.raises(AuthenticationFailed, match="freshly issued token"):
        await connector(sleeps).test_connection()


@respx.mock
async def test_bad_client_secret_names_what_to_check(sleeps):
    respx.post(TOKEN_URL).mock(return_value=httpx.Response(401, json={
        "error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}))
    with pytest.raises(AuthenticationFailed, match="AADSTS7000215.*client secret") as info:
        await connector(sleeps).test_connection()
    assert CLIENT_SECRET not in str(info.value)


@respx.mock
async def test_403_on_action_names_the_privileged_permission_and_license(sleeps):
    token_route("tok-1")
    respx.post(f"{LIST_URL}/dev-1/remoteLock").mock(return_value=httpx.Response(403, json={
        "error": {"code": "Forbidden", "message": "Application is not authorized"}}))
    with pytest.raises(AuthenticationFailed, match="PrivilegedOperations.All.*Intune license"):
        await connector(sleeps).lock(DeviceRef("dev-1", OsClass.IS))


@respx.mock
async def test_403_on_the_batch_names_the_read_permission(sleeps):
    """A $batch is a POST but only reads: asking for PrivilegedOperations would mislead the admin."""
    token_route("tok-1")
    respx.get(url__startswith=LIST_URL).mock(return_value=httpx.Response(200, json={"value": [device(1)]}))
    respx.post(BATCH_URL).mock(return_value=httpx.Response(403, json={
        "error": {"code": "Forbidden", "message": "Application is not authorized to perform this operation."}}))
    with pytest.raises(AuthenticationFailed, match="DeviceManagementManagedDevices.Read.All"):
        await collect(connector(sleeps, extra={"collect_software": False}))


@respx.mock
async def test_wipe_body_and_pending_result(sleeps):
    token_route("tok-1")
    route = respx.post(f"{LIST_URL}/dev-1/wipe").mock(return_value=httpx.Response(204))
    result = await connector(sleeps).wipe(DeviceRef("dev-1", OsClass.IP), WipeOptions())
    assert json.loads(route.calls[0].request.content) == {"keepEnrollmentData": False, "keepUserData": False,
                                                          "persistEsimDataPlan": False}
    assert (result.outcome, result.reference, result.http_status) == (Outcome.PENDING, "wipe", 204)
    assert result.request_id == route.calls[0].request.headers["client-request-id"]


@respx.mock
async def test_wipe_whose_answer_is_lost_is_unknown_and_sent_once(sleeps):
    token_route("tok-1")
    route = respx.post(f"{LIST_URL}/dev-1/wipe").mock(side_effect=httpx.ReadTimeout("timed out"))
    result = await connector(sleeps).wipe(DeviceRef("dev-1", OsClass.IS), WipeOptions(keep_user_data=True))
    assert result.outcome is Outcome.UNKNOWN and route.call_count == 1
    assert "may have been carried out" in result.message
    assert json.loads(route.calls[0].request.content)["keepUserData"] is True


@respx.mock
async def test_actions_intune_cannot_take_are_not_sent(sleeps):
    route = respx.route().mock(return_value=httpx.Response(500))
    conn = connector(sleeps)
    locked = await conn.lock(DeviceRef("dev-1", OsClass.IP))
    reset = await conn.reset_passcode(DeviceRef("dev-1", OsClass.IS))
    assert locked.outcome is Outcome.REFUSED and reset.outcome is Outcome.REFUSED and route.call_count == 0


@respx.mock
@pytest.mark.parametrize(("status", "body", "outcome", "code", "text"), [
    (404, {"error": {"code": "ResourceNotFound", "message": "Resource not found"}}, Outcome.FAILED,
     "ResourceNotFound", "no longer exists"),
    (400, {"error": {"code": "BadRequest", "message": "Not supported"}}, Outcome.FAILED, "BadRequest", "Not supported"),
    (503, {"error": {"code": "ServiceUnavailable", "message": "busy"}}, Outcome.UNKNOWN, "ServiceUnavailable",
     "may or may not"),
])
async def test_refused_actions_carry_the_mdm_code_and_message(sleeps, status, body, outcome, code, text):
    token_route("tok-1")
    respx.post(f"{LIST_URL}/dev-1/remoteLock").mock(return_value=httpx.Response(status, json=body))
    result = await connector(sleeps).lock(DeviceRef("dev-1", OsClass.IS))
    assert (result.outcome, result.mdm_code, result.http_status) == (outcome, code, status)
    assert text in result.message


@respx.mock
@pytest.mark.parametrize(("state", "outcome"), [("pending", Outcome.PENDING), ("done", Outcome.SUCCEEDED),
                                                ("failed", Outcome.FAILED), ("notSupported", Outcome.FAILED)])
async def test_follow_up_reads_device_action_results(sleeps, state, outcome):
    token_route("tok-1")
    route = respx.get(f"{LIST_URL}/dev-1").mock(return_value=httpx.Response(200, json={
        "id": "dev-1", "deviceActionResults": [
            {"actionName": "remoteLock", "actionState": "failed", "startDateTime": "2026-01-01T00:00:00Z"},
            {"actionName": "remoteLock", "actionState": state, "startDateTime": "2026-11-20T00:00:00Z"},
            {"actionName": "resetPasscode", "actionState": "done", "startDateTime": "2026-11-21T00:00:00Z"}]}))
    pending = ActionResult("dev-1", Action.LOCK, Outcome.PENDING, reference="remoteLock")
    result = await connector(sleeps).follow_up(DeviceRef("dev-1", OsClass.IS), pending)
    assert result.outcome is outcome and result.mdm_code == state
    assert parse_qs(urlsplit(str(route.calls[0].request.url)).query)["$select"] == ["id,deviceActionResults"]


WIPE_STATE_URL = f"{GRAPH}/beta/deviceManagement/managedDevices/dev-1"


def wipe_state(state: str | None):
    """The beta single GET of managementState; None: the record is gone (404)."""
    if state is None:
        return respx.get(WIPE_STATE_URL).mock(return_value=httpx.Response(404, json={
            "error": {"code": "ResourceNotFound", "message": "Resource not found"}}))
    return respx.get(WIPE_STATE_URL).mock(return_value=httpx.Response(200, json={
        "id": "dev-1", "managementState": state}))


SENT = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


@respx.mock
@pytest.mark.parametrize(("before", "seen", "state", "outcome", "code"), [
    (Outcome.PENDING, None, "wipePending", Outcome.PENDING, "wipePending"),
    (Outcome.PENDING, "wipePending", "wipeIssued", Outcome.PENDING, "wipeIssued"),   # issued is not done
    (Outcome.PENDING, "wipeIssued", None, Outcome.SUCCEEDED, "removed"),             # gone after under way
    (Outcome.PENDING, None, None, Outcome.UNKNOWN, None),                            # gone, never seen under way
    (Outcome.PENDING, "wipeIssued", "wipeFailed", Outcome.FAILED, "wipeFailed"),
    (Outcome.PENDING, None, "wipeCanceled", Outcome.FAILED, "wipeCanceled"),
    (Outcome.PENDING, None, "managed", Outcome.PENDING, None),
    (Outcome.PENDING, "wipeIssued", "managed", Outcome.UNKNOWN, "managed"),          # back, record kept
    (Outcome.UNKNOWN, None, "wipeFailed", Outcome.PENDING, None),                    # lost: a stale failure?
    (Outcome.UNKNOWN, "wipePending", None, Outcome.SUCCEEDED, "removed"),
])
async def test_wipe_is_followed_through_beta_management_state(sleeps, before, seen, state, outcome, code):
    """Intune lists no wipe in deviceActionResults: managementState and the record's removal tell."""
    token_route("tok-1")
    route = wipe_state(state)
    known = ActionResult("dev-1", Action.WIPE, before, reference="wipe", mdm_code=seen, sent_at=SENT)
    result = await connector(sleeps).follow_up(DeviceRef("dev-1", OsClass.IS), known)
    assert (result.outcome, result.mdm_code) == (outcome, code), result
    assert parse_qs(urlsplit(str(route.calls[0].request.url)).query)["$select"] == ["id,managementState"]
    if outcome is Outcome.SUCCEEDED:
        assert result.message == "done — the device record was removed by Intune after the wipe"


@respx.mock
@pytest.mark.parametrize("state", ["wipePending", "wipeIssued", "wipeFailed", None])
async def test_wipe_sent_while_an_earlier_one_was_open_is_never_settled_by_it(sleeps, state):
    """Issue 11 #3 for wipe: managementState has no time, so an earlier open wipe makes it ambiguous."""
    token_route("tok-1")
    wipe_state(state)
    known = ActionResult("dev-1", Action.WIPE, Outcome.UNKNOWN, reference="wipe", mdm_code="wipePending",
                         sent_at=SENT, earlier_sent_at=SENT - timedelta(seconds=40), earlier_open=True)
    result = await connector(sleeps).follow_up(DeviceRef("dev-1", OsClass.IS), known)
    assert result.outcome in (Outcome.PENDING, Outcome.UNKNOWN) and result.mdm_code is None
    assert "earlier wipe" in result.message


@respx.mock
async def test_repeated_lock_within_the_clock_skew_is_not_settled_by_the_earlier_lock(sleeps):
    """Issue 11 #3: lock A done at 03:00:05, lock B sent 03:01:00 and lost: A's entry is not B's."""
    token_route("tok-1")
    entries = [{"actionName": "remoteLock", "actionState": "done", "startDateTime": "2026-11-27T03:00:05Z"}]
    route = respx.get(f"{LIST_URL}/dev-1").mock(return_value=httpx.Response(200, json={
        "id": "dev-1", "deviceActionResults": entries}))
    conn = connector(sleeps)
    lost = ActionResult("dev-1", Action.LOCK, Outcome.UNKNOWN, reference="remoteLock",
                        sent_at=SENT + timedelta(seconds=60), earlier_sent_at=SENT, earlier_open=False)
    assert (await conn.follow_up(DeviceRef("dev-1", OsClass.IS), lost)).outcome is Outcome.PENDING
    entries.append({"actionName": "remoteLock", "actionState": "done", "startDateTime": "2026-11-27T03:03:30Z"})
    route.mock(return_value=httpx.Response(200, json={"id": "dev-1", "deviceActionResults": entries}))
    assert (await conn.follow_up(DeviceRef("dev-1", OsClass.IS), lost)).outcome is Outcome.SUCCEEDED  # B's own


@respx.mock
async def test_enrichment_selects_hardware_information_on_the_beta_batch(sleeps):
    """physicalMemoryInBytes is 0 on beta unless hardwareInformation is in the same $select."""
    token_route("tok-1")
    respx.get(url__startswith=LIST_URL).mock(return_value=httpx.Response(200, json={"value": [device(1, "Windows")]}))
    batches = respx.post(BATCH_URL).mock(side_effect=batch_answer)
    v1_batch = respx.post(f"{GRAPH}/v1.0/$batch").mock(return_value=httpx.Response(500))
    await collect(connector(sleeps, extra={"retry": {"attempts": 1}, "collect_software": False}))
    [req] = json.loads(batches.calls[0].request.content)["requests"]
    select = parse_qs(urlsplit(req["url"]).query)["$select"][0].split(",")
    assert {"hardwareInformation", "physicalMemoryInBytes"} <= set(select) and not v1_batch.called
    assert req["method"] == "GET" and req["url"].startswith("/deviceManagement/managedDevices/dev-0001?")


def _evil_page(link: str) -> httpx.Response:
    return httpx.Response(200, json={"value": [device(1)], "@odata.nextLink": link})


@respx.mock
@pytest.mark.parametrize("link", [
    "https://evil.test/v1.0/deviceManagement/managedDevices?$skiptoken=x",
    "http://graph.test/v1.0/deviceManagement/managedDevices?$skiptoken=x",        # scheme
    "https://graph.test:8443/v1.0/deviceManagement/managedDevices?$skiptoken=x",  # port
    "https://graph.test.evil.test/v1.0/deviceManagement/managedDevices",
    "https://graph.test@evil.test/v1.0/deviceManagement/managedDevices",
    "https://user:pw@graph.test/v1.0/deviceManagement/managedDevices",            # userinfo
    "/v1.0/deviceManagement/managedDevices?$skiptoken=x",                         # relative
])
async def test_a_next_link_to_another_host_is_not_followed_and_gets_no_token(sleeps, link):
    """Issue 11 #4: the bearer token must not go to a host a tampered @odata.nextLink names."""
    token_route("tok-1")
    respx.get(LIST_URL).mock(return_value=_evil_page(link))
    respx.post(BATCH_URL).mock(side_effect=batch_answer)
    elsewhere = respx.route(host__regex=r"^(?!graph\.test$|login\.test$).*").mock(
        return_value=httpx.Response(200, json={"value": []}))
    other_port = respx.route(port=8443).mock(return_value=httpx.Response(200, json={"value": []}))
    plain = respx.route(scheme="http").mock(return_value=httpx.Response(200, json={"value": []}))
    with pytest.raises(ProtocolError, match=r"next link \(@odata.nextLink\) of the device list points to another host"):
        await collect(connector(sleeps, extra={"retry": {"attempts": 1}, "collect_software": False}))
    assert not elsewhere.called and not other_port.called and not plain.called
    listed = [c for c in respx.calls if c.request.url.path.endswith("/managedDevices")]
    assert len(listed) == 1  # only the first page, from the linkage's own Graph


@respx.mock
async def test_a_detected_apps_next_link_to_another_host_stops_the_run(sleeps):
    token_route("tok-1")
    respx.get(LIST_URL).mock(return_value=httpx.Response(200, json={"value": [device(1)]}))
    respx.post(BATCH_URL).mock(side_effect=batch_answer)
    respx.get(url__regex=r".*graph\.test/beta/.*/detectedApps.*").mock(return_value=httpx.Response(200, json={
        "value": [], "@odata.nextLink": "https://evil.test/beta/apps?$skiptoken=1"}))
    evil = respx.route(host="evil.test").mock(return_value=httpx.Response(200, json={"value": []}))
    with pytest.raises(ProtocolError, match="points to another host"):
        await collect(connector(sleeps))
    assert not evil.called


@respx.mock
async def test_follow_up_ignores_results_older_than_the_request(sleeps):
    """A month-old "done" lock says nothing about a lock whose answer was just lost."""
    from datetime import datetime

    token_route("tok-1")
    respx.get(f"{LIST_URL}/dev-1").mock(return_value=httpx.Response(200, json={
        "id": "dev-1", "deviceActionResults": [
            {"actionName": "remoteLock", "actionState": "done", "startDateTime": "2026-10-01T00:00:00Z"}]}))
    lost = ActionResult("dev-1", Action.LOCK, Outcome.UNKNOWN, reference="remoteLock",
                        sent_at=datetime(2026, 11, 27, 3, 0, tzinfo=UTC))
    conn = connector(sleeps)
    result = await conn.follow_up(DeviceRef("dev-1", OsClass.IS), lost)
    assert result.outcome is Outcome.PENDING and "no remoteLock result yet" in result.message
    lost.sent_at = datetime(2026, 10, 1, 0, 1, tzinfo=UTC)  # within the clock-skew allowance
    assert (await conn.follow_up(DeviceRef("dev-1", OsClass.IS), lost)).outcome is Outcome.SUCCEEDED


@respx.mock
async def test_expired_next_link_restarts_without_duplicates(sleeps):
    token_route("tok-1")
    link = f"{GRAPH}/v1.0/deviceManagement/managedDevices?$skiptoken=abc"
    respx.get(url__startswith=LIST_URL).mock(side_effect=[
        httpx.Response(200, json={"value": [device(1)], "@odata.nextLink": link}),
        httpx.Response(400, json={"error": {"code": "BadRequest", "message": "Invalid Skip Token"}}),
        httpx.Response(200, json={"value": [device(1)], "@odata.nextLink": link + "2"}),
        httpx.Response(200, json={"value": [device(2)]})])
    conn = connector(sleeps, extra={"retry": {"attempts": 2}, "collect_software": False})
    respx.post(BATCH_URL).mock(side_effect=batch_answer)
    assert [r.mdm_device_id for r in await collect(conn)] == ["dev-0001", "dev-0002"]


@respx.mock
async def test_a_page_that_is_not_a_device_list_is_a_protocol_error(sleeps):
    token_route("tok-1")
    respx.get(url__startswith=LIST_URL).mock(return_value=httpx.Response(200, json={"values": []}))
    with pytest.raises(ProtocolError, match="no 'value' list"):
        await collect(connector(sleeps))
