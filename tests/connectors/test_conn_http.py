"""The shared HTTP layer: retries, Retry-After, request ids, failures as the error family, no secret in logs."""

from __future__ import annotations

import logging
import ssl
import uuid

import httpx
import pytest
import respx
from conn_helpers import basic_config

from mdmtui.connectors.http import AnswerLost, ForeignLink, HttpLayer, build_client, check_same_origin, retry_after_seconds
from mdmtui.errors import ConnectionFailed, MdmRequestError, ProtocolError, Throttled
from mdmtui.secrets import Secret

BASE = "https://mdm.test"
URL = f"{BASE}/api/things"


def layer(sleeps, **kw) -> HttpLayer:
    config = basic_config("sdm", BASE, **kw)
    return HttpLayer(config, mdm="SDM", auth=httpx.BasicAuth("admin", config.password.reveal()), sleep=sleeps)


@respx.mock
async def test_429_waits_exactly_retry_after_then_succeeds(sleeps):
    route = respx.get(URL).mock(side_effect=[httpx.Response(429, headers={"Retry-After": "3"}),
                                             httpx.Response(200, json={"ok": 1})])
    reply = await layer(sleeps).request("GET", URL)
    assert reply.body == {"ok": 1} and reply.attempts == 2
    assert sleeps.waits == [3.0]
    ids = [call.request.headers["client-request-id"] for call in route.calls]
    assert len(set(ids)) == 2 and all(uuid.UUID(i) for i in ids)
    assert reply.request_id == ids[-1]


@respx.mock
async def test_503_with_retry_after_is_honoured(sleeps):
    respx.get(URL).mock(side_effect=[httpx.Response(503, headers={"Retry-After": "7"}), httpx.Response(200, json={})])
    await layer(sleeps).request("GET", URL)
    assert sleeps.waits == [7.0]


@respx.mock
async def test_without_retry_after_backs_off_exponentially(sleeps):
    respx.get(URL).mock(side_effect=[httpx.Response(502), httpx.Response(502), httpx.Response(429),
                                     httpx.Response(200, json={})])
    await layer(sleeps).request("GET", URL)
    assert len(sleeps.waits) == 3 and sleeps.waits[0] < sleeps.waits[1] <= sleeps.waits[2]


@respx.mock
async def test_429_storm_ends_in_throttled(sleeps):
    route = respx.get(URL).mock(return_value=httpx.Response(429, headers={"Retry-After": "1"}))
    with pytest.raises(Throttled, match="kept throttling") as info:
        await layer(sleeps).request("GET", URL)
    assert route.call_count == 4 and info.value.retry_after == 1.0


@respx.mock
async def test_retry_after_beyond_the_limit_fails_at_once(sleeps):
    route = respx.get(URL).mock(return_value=httpx.Response(429, headers={"Retry-After": "3600"}))
    with pytest.raises(Throttled, match="3600 s") as info:
        await layer(sleeps).request("GET", URL)
    assert route.call_count == 1 and info.value.retry_after == 3600 and sleeps.waits == []


@respx.mock
async def test_persistent_5xx_is_an_mdm_request_error(sleeps):
    respx.get(URL).mock(return_value=httpx.Response(500, json={"error": "boom"}))
    with pytest.raises(MdmRequestError, match="kept failing with HTTP 500") as info:
        await layer(sleeps).request("GET", URL)
    assert info.value.status == 500


@respx.mock
async def test_malformed_json_is_asked_again_then_a_protocol_error(sleeps):
    route = respx.get(URL).mock(return_value=httpx.Response(200, content=b"<html>Gateway error</html>"))
    with pytest.raises(ProtocolError, match="not JSON"):
        await layer(sleeps).request("GET", URL)
    assert route.call_count == 4


@respx.mock
async def test_one_malformed_answer_is_recovered(sleeps):
    respx.get(URL).mock(side_effect=[httpx.Response(200, content=b'{"value": [1,'), httpx.Response(200, json={"v": 2})])
    assert (await layer(sleeps).request("GET", URL)).body == {"v": 2}


@respx.mock
async def test_hung_read_retried_then_connection_failed_naming_the_timeout(sleeps):
    route = respx.get(URL).mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(ConnectionFailed, match="no answer within 5 s; raise the linkage's timeout"):
        await layer(sleeps).request("GET", URL)
    assert route.call_count == 4


@respx.mock
async def test_reset_mid_body_is_retried(sleeps):
    respx.get(URL).mock(side_effect=[httpx.RemoteProtocolError("peer closed connection"), httpx.Response(200, json={})])
    assert (await layer(sleeps).request("GET", URL)).status == 200


@respx.mock
async def test_action_whose_answer_is_lost_is_never_resent(sleeps):
    route = respx.post(URL).mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(AnswerLost, match="may have been carried out") as info:
        await layer(sleeps).request("POST", URL, idempotent=False, json_body={"type": "wipe"})
    assert route.call_count == 1
    assert info.value.request_id == route.calls[0].request.headers["client-request-id"]


@respx.mock
async def test_action_that_never_reached_the_server_is_retried(sleeps):
    route = respx.post(URL).mock(side_effect=[httpx.ConnectError("refused"), httpx.Response(202, json={"id": 1})])
    reply = await layer(sleeps).request("POST", URL, idempotent=False)
    assert reply.status == 202 and route.call_count == 2


@respx.mock
async def test_action_503_is_not_resent(sleeps):
    route = respx.post(URL).mock(return_value=httpx.Response(503, json={"error": "busy"}))
    reply = await layer(sleeps).request("POST", URL, idempotent=False)
    assert reply.status == 503 and route.call_count == 1


@respx.mock
async def test_connect_failure_message_is_actionable(sleeps):
    respx.get(URL).mock(side_effect=httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"))
    with pytest.raises(ConnectionFailed, match="not trusted: set the linkage's CA bundle"):
        await layer(sleeps).request("GET", URL)


@respx.mock
async def test_no_secret_in_logs(sleeps, caplog):
    caplog.set_level(logging.DEBUG)
    route = respx.get(URL).mock(side_effect=[httpx.Response(429, headers={"Retry-After": "1"}),
                                             httpx.Response(200, json={})])
    http = layer(sleeps)
    await http.request("GET", URL, params={"q": "x"})
    sent = route.calls[0].request.headers["authorization"]
    assert "pa55-w0rd-never-logged" not in caplog.text and sent.split()[1] not in caplog.text
    assert "client-request-id" in caplog.text  # every request is logged with its id
    assert "pa55" not in repr(http.config)


@pytest.mark.parametrize("url", [
    "https://mdm.test/next?x=1", "https://MDM.test:443/next", "https://mdm.test/a/b"])
def test_same_origin_links_pass_unchanged(url):
    assert check_same_origin(url, BASE, what="next link", mdm="SDM") == url


@pytest.mark.parametrize("url", [
    "https://evil.test/next", "http://mdm.test/next", "https://mdm.test:8443/next", "https://mdm.test.evil.test/",
    "https://mdm.test@evil.test/", "https://u:p@mdm.test/", "/relative?x=1", "https://[not-a-host/", ""])
def test_links_elsewhere_are_refused_with_a_clear_message(url):
    with pytest.raises(ForeignLink) as caught:
        check_same_origin(url, BASE, what="next link", mdm="SDM")
    assert isinstance(caught.value, ProtocolError) and "nothing was sent" in str(caught.value)
    assert "points to another host" in str(caught.value) or "not a valid URL" in str(caught.value)


@respx.mock
async def test_download_sends_no_credentials_and_keeps_the_bytes(sleeps):
    """Export files may be on a storage host: neither the client's Basic auth nor a header goes there."""
    zip_url = "https://blob.storage.test/export/abc.zip?sig=SAS"
    route = respx.get(zip_url).mock(return_value=httpx.Response(200, content=b"PK\x03\x04 not json"))
    http = layer(sleeps)
    reply = await http.download(zip_url)
    assert reply.raw == b"PK\x03\x04 not json" and reply.body is None and reply.ok
    sent = route.calls[0].request.headers
    assert "authorization" not in sent and "client-request-id" in sent
    with pytest.raises(ValueError):
        await http.request("GET", zip_url, credentials=False, headers_fn=lambda: None)
    plain = await http.request("GET", zip_url, credentials=False, headers={"Authorization": "Bearer t"}, raw=True)
    assert plain.ok and "authorization" not in route.calls[-1].request.headers
    await http.request("GET", zip_url, raw=True)  # the ordinary path still authenticates
    assert route.calls[-1].request.headers["authorization"].startswith("Basic ")


def test_retry_after_forms():
    assert retry_after_seconds(httpx.Headers({"Retry-After": "2.5"})) == 2.5
    assert retry_after_seconds(httpx.Headers({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0
    assert retry_after_seconds(httpx.Headers({})) is None


async def test_client_settings_from_the_linkage(tmp_path):
    config = basic_config("sdm", BASE, proxy_url="http://proxy.test:8080", proxy_user="pu",
                          proxy_password=Secret("proxy-pw"), timeout_s=42, max_concurrency=3)
    client = build_client(config)
    assert client.timeout.read == 42 and client.timeout.connect == 30
    pool = client._transport._pool
    assert pool._max_connections == 4
    proxied = client._mounts  # the proxy is mounted for every URL
    assert proxied and all(t is not None for t in proxied.values())
    await client.aclose()


def test_ca_bundle_problems_are_configuration_level(tmp_path):
    with pytest.raises(ConnectionFailed, match="CA bundle .* cannot be read"):
        build_client(basic_config("sdm", BASE, ca_bundle=str(tmp_path / "missing.pem")))


def test_ca_bundle_builds_a_context(tmp_path):
    from mdmtui.connectors.http import tls_verify

    assert tls_verify(basic_config("sdm", BASE, verify_tls=False)) is False
    assert tls_verify(basic_config("sdm", BASE)) is True
    ctx = tls_verify(basic_config("sdm", BASE, ca_bundle=ssl.get_default_verify_paths().cafile or _any_ca(tmp_path)))
    assert isinstance(ctx, ssl.SSLContext) and ctx.verify_mode == ssl.CERT_REQUIRED


def _any_ca(tmp_path) -> str:
    import certifi

    return certifi.where()


@pytest.mark.parametrize("victim", ["d005", "d199", "d300"])
async def test_offset_listing_that_shrinks_mid_read_skips_no_device(victim):
    """A device retired while the list is read shifts the rest back; none may be skipped (found in review)."""
    from mdmtui.connectors.http import offset_pages

    devices = [f"d{i:03d}" for i in range(400)]
    calls = []

    async def fetch(offset):
        calls.append(offset)
        if len(calls) == 2:  # retired between the first and the second page
            devices.remove(victim)
        return [{"id": d} for d in devices[offset:offset + 200]], len(devices)

    read = [row["id"] for page in [p async for p in offset_pages(fetch, "id", "MDM")] for row in page]
    assert len(read) == len(set(read))
    assert set(devices) <= set(read)  # every device the MDM still lists was read


@respx.mock
async def test_a_host_name_that_does_not_resolve_is_tried_twice_and_said_so(sleeps):
    route = respx.get(URL).mock(side_effect=httpx.ConnectError("[Errno -2] Name or service not known"))
    with pytest.raises(ConnectionFailed, match=r"^SDM \(mdm.test\): cannot resolve host mdm.test: check the host"):
        await layer(sleeps).request("GET", URL)
    assert route.call_count == 2 and len(sleeps.waits) == 1
