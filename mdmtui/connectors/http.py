"""The one HTTP layer every connector uses: an ``httpx.AsyncClient`` built from a ``LinkageConfig``.

It owns TLS/CA, proxy, timeout and connection limits; bounded concurrency; a fresh
``client-request-id`` on every request (logged and returned); and the retry policy (tenacity:
exponential backoff with jitter, ``Retry-After`` honoured on 429/503). Failures come out as the
``mdmtui.errors`` family with a message an admin can act on. No header, body or secret is logged.
"""

from __future__ import annotations

import asyncio
import json
import random
import logging
import re
import socket
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type
from tenacity.wait import wait_exponential_jitter

from mdmtui.connectors import pacing
from mdmtui.connectors.base import LinkageConfig
from mdmtui.errors import ConnectionFailed, MdmRequestError, ProtocolError, Throttled

# one decoded JSON object off the wire (its shape is the MDM's; a connector reads it into records)
Json = dict[str, Any]

log = logging.getLogger("mdmtui.connectors.http")

REQUEST_ID_HEADER = "client-request-id"
THROTTLE_STATUSES = frozenset({429, 503})
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
# Errors raised before a single byte of the request could reach the server: safe to retry anything.
NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)
# A name that does not resolve now rarely resolves a few seconds later: one retry (a resolver hiccup), not six
DNS_ATTEMPTS = 2
_DNS_FAILURE = re.compile(r"name or service not known|nodename nor servname|name resolution|getaddrinfo failed|"
                          r"no address associated with hostname", re.I)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard the layer tries before it gives up."""

    attempts: int = 6
    initial_s: float = 0.5  # first exponential backoff step
    max_backoff_s: float = 30.0
    jitter_s: float = 0.5
    max_retry_after_s: float = 120.0  # a longer Retry-After fails at once with Throttled


@dataclass(slots=True)
class Reply:
    """One answer: status, parsed JSON (None for an empty body), headers and our request id."""

    status: int
    body: Any
    headers: httpx.Headers
    request_id: str
    url: str
    elapsed_ms: float = 0.0
    attempts: int = 1
    raw: bytes = field(default=b"", repr=False)

    @property
    def text(self) -> str:
        """The body as text (for error messages)."""
        return self.raw.decode("utf-8", "replace")

    @property
    def ok(self) -> bool:
        """True for 2xx."""
        return 200 <= self.status < 300


class AnswerLost(ConnectionFailed):
    """A request that changes state was sent but its answer never came (it may have been carried out)."""

    def __init__(self, message: str, request_id: str) -> None:
        super().__init__(message)
        self.request_id = request_id


class ForeignLink(ProtocolError):
    """A server-given URL (a next link) points somewhere other than the linkage's own server."""


_DEFAULT_PORTS = {"https": 443, "http": 80}


def _origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of an absolute URL as httpx, which would send the request, reads it."""
    parsed = httpx.URL(url)
    scheme = parsed.scheme.lower()
    return scheme, parsed.host.lower(), parsed.port or _DEFAULT_PORTS.get(scheme)


def check_same_origin(url: str, base: str, *, what: str, mdm: str) -> str:
    """``url`` unchanged when its scheme, host and port are those of ``base``; else ``ForeignLink``.

    A URL the server hands out (``@odata.nextLink``) is followed with the linkage's credentials, so
    an answer rewritten on the way must not be able to send them to a host of its choosing. User
    info in the URL is refused too: it would become an Authorization header of its own.
    """
    try:
        parsed, want = httpx.URL(url), _origin(base)
        got = _origin(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise ForeignLink(f"{mdm}'s {what} is not a valid URL: nothing was sent; the answer was not "
                          "the MDM's own (check a proxy between mdmtui and the MDM)") from None
    if got != want or parsed.userinfo:
        shown = f"{got[0]}://{got[1]}:{got[2]}" if got[1] else "a relative or hostless URL"
        raise ForeignLink(f"{mdm}'s {what} points to another host ({shown!r} instead of "
                          f"{want[0]}://{want[1]}:{want[2]}): nothing was sent there and the run stops; "
                          "check the linkage's server URL and any proxy that rewrites answers")
    return url


class _Retry(Exception):
    """Internal: this attempt failed in a way worth another try."""

    def __init__(self, reason: str, *, reply: Reply | None = None, exc: BaseException | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.reply, self.exc, self.retry_after = reason, reply, exc, retry_after


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """Retry-After in seconds (delta-seconds or an HTTP date), or None when absent or unreadable."""
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        return max(0.0, parsedate_to_datetime(raw).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class _Wait:
    """Retry-After when the server gave one, else exponential backoff with jitter."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._backoff = wait_exponential_jitter(multiplier=policy.initial_s, max=policy.max_backoff_s,
                                                jitter=policy.jitter_s)

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retry) and exc.retry_after is not None:
            return exc.retry_after
        return self._backoff(state)


def tls_verify(config: LinkageConfig) -> ssl.SSLContext | bool:
    """The ``verify`` argument: a context trusting the linkage's CA bundle, the default, or False."""
    if config.ca_bundle:
        try:
            return ssl.create_default_context(cafile=config.ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            raise ConnectionFailed(f"the CA bundle {config.ca_bundle} of linkage {config.name!r} cannot be "
                                   f"read ({exc.__class__.__name__}): fix the path or the file") from None
    if not config.verify_tls:
        log.warning("linkage %r: TLS certificate verification is switched off", config.name)
        return False
    return True


def proxy_of(config: LinkageConfig) -> httpx.Proxy | None:
    """The linkage's proxy, with its credentials when set (never logged)."""
    if not config.proxy_url:
        return None
    auth = None
    if config.proxy_user:
        auth = (config.proxy_user, config.proxy_password.reveal() if config.proxy_password else "")
    return httpx.Proxy(config.proxy_url, auth=auth)


def build_client(config: LinkageConfig, *, auth: httpx.Auth | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` with the linkage's TLS, proxy, timeout and connection limits."""
    conns = max(2, config.max_concurrency + 1)  # the semaphore bounds requests; +1 for a prefetched page
    return httpx.AsyncClient(
        verify=tls_verify(config),
        proxy=proxy_of(config) if transport is None else None,
        timeout=httpx.Timeout(config.timeout_s, connect=min(config.timeout_s, 30.0)),
        limits=httpx.Limits(max_connections=conns, max_keepalive_connections=conns),
        auth=auth,
        transport=transport,
        follow_redirects=False,
        trust_env=False,  # the linkage's own proxy setting decides, not the daemon's environment
        headers={"Accept": "application/json", "User-Agent": "mdmtui"},
    )


Sleep = Callable[[float], Awaitable[None]]


class HttpLayer:
    """Requests with retries, bounded concurrency and request ids, for one linkage."""

    def __init__(self, config: LinkageConfig, *, mdm: str, auth: httpx.Auth | None = None,
                 policy: RetryPolicy | None = None, transport: httpx.AsyncBaseTransport | None = None,
                 sleep: Sleep | None = None) -> None:
        self.config = config
        self.mdm = mdm
        self.policy = policy or RetryPolicy(**config.extra.get("retry", {}))
        self.client = build_client(config, auth=auth, transport=transport)
        self._sem = asyncio.Semaphore(max(1, config.max_concurrency))
        self.sleep = sleep or asyncio.sleep  # injectable: tests record the waits
        self.requests_sent = 0  # attempts, for tests and progress
        self.pacer = pacing.Pacer.for_sleep(sleep)  # the linkage's adaptive send rate (pacing.py)
        self.sleep = self.pacer.sleep

    async def pause(self, retry_after: float | None, attempt: int) -> None:
        """Wait before retrying work the caller retries itself (e.g. failed items of a batch)."""
        if retry_after is None:
            retry_after = min(self.policy.max_backoff_s, self.policy.initial_s * 2 ** (attempt - 1))
            retry_after += random.uniform(0, self.policy.jitter_s)
        await self.sleep(min(retry_after, self.policy.max_retry_after_s))

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()

    async def download(self, url: str) -> Reply:
        """GET a URL the MDM handed out for download (an export file, possibly on a storage host)
        WITHOUT the linkage's credentials: no Authorization header and no client auth go with it.
        The body is kept as bytes (``Reply.raw``), not decoded as JSON."""
        return await self.request("GET", url, credentials=False, raw=True)

    async def request(self, method: str, url: str, *, idempotent: bool = True, params: Any = None,
                      json_body: Any = None, data: Any = None, headers: dict[str, str] | None = None,
                      headers_fn: Callable[[], Awaitable[dict[str, str]]] | None = None, credentials: bool = True,
                      raw: bool = False) -> Reply:
        """Send one logical request, retrying transient failures; non-2xx answers are returned.

        ``idempotent=False`` (actions): only failures that provably did not reach the server
        (connection errors) and explicit throttling (429: not carried out) are retried; a lost
        answer raises ``AnswerLost`` instead of sending the action again. ``credentials=False``
        sends neither the client's auth nor any Authorization header; ``raw=True`` leaves the body
        undecoded.
        """
        if not credentials and headers_fn is not None:
            raise ValueError("a request without credentials takes no header callback")
        retrying = AsyncRetrying(stop=self._stop, wait=_Wait(self.policy),
                                 retry=retry_if_exception_type(_Retry), sleep=self.sleep, reraise=True,
                                 before_sleep=self._log_retry)
        try:
            async for attempt in retrying:
                with attempt:
                    extra = await headers_fn() if headers_fn else {}
                    sent = {**(headers or {}), **extra}
                    if not credentials:
                        sent = {k: v for k, v in sent.items() if k.lower() != "authorization"}
                    reply = await self._attempt(method, url, idempotent, params, json_body, data, sent,
                                                credentials, raw)
                    reply.attempts = attempt.retry_state.attempt_number
                    return reply
        except _Retry as failure:
            raise self._exhausted(method, url, failure) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(self, method: str, url: str, idempotent: bool, params: Any, json_body: Any,
                       data: Any, headers: dict[str, str], credentials: bool = True, raw: bool = False) -> Reply:
        request_id = str(uuid.uuid4())
        headers[REQUEST_ID_HEADER] = request_id
        units = pacing.request_units(url, json_body)
        started = time.monotonic()
        # auth=None switches the client's own auth (MobileIron's Basic) off for this request
        auth = httpx.USE_CLIENT_DEFAULT if credentials else None
        async with self._sem:
            await self.pacer.acquire(units)  # inside: what queued before the first 429 is paced too
            self.requests_sent += 1
            try:
                response = await self.client.request(method, url, params=params, json=json_body, data=data,
                                                     headers=headers, auth=auth)
            except httpx.HTTPError as exc:
                self._log(method, url, None, started, request_id, exc)
                raise self._transport_failure(exc, idempotent, request_id, url) from None
        reply = self._reply(response, started, request_id)
        self.pacer.observe(reply.url, reply.status, reply.raw, retry_after_seconds(reply.headers), units)
        self._log(method, url, reply.status, started, request_id)
        return self._judge(reply, idempotent, raw)

    def _reply(self, response: httpx.Response, started: float, request_id: str) -> Reply:
        return Reply(status=response.status_code, body=None, headers=response.headers, request_id=request_id,
                     url=str(response.request.url), elapsed_ms=(time.monotonic() - started) * 1000,
                     raw=response.content)

    def _judge(self, reply: Reply, idempotent: bool, raw: bool = False) -> Reply:
        if reply.status in TRANSIENT_STATUSES and (idempotent or reply.status == 429):
            wait = retry_after_seconds(reply.headers) if reply.status in THROTTLE_STATUSES else None
            if wait is not None and wait > self.policy.max_retry_after_s:
                raise Throttled(f"{self._who()} asks to wait {wait:.0f} s before the next request "
                                "(Retry-After): try the collection again later", retry_after=wait)
            raise _Retry(f"HTTP {reply.status}", reply=reply, retry_after=wait)
        reply.body = None if raw else self._decode(reply, idempotent)
        return reply

    def _decode(self, reply: Reply, idempotent: bool) -> Any:
        if not reply.raw.strip():
            return None
        try:
            return json.loads(reply.raw)
        except ValueError:
            if reply.ok and idempotent:  # a damaged 200 (proxy hiccup, cut body): ask again
                raise _Retry("answer is not JSON", reply=reply) from None
            if reply.ok:
                raise ProtocolError(f"{self._who()} answered HTTP {reply.status} with a body that is not "
                                    f"JSON (client-request-id {reply.request_id})") from None
            return None  # an error page from a proxy: the status says enough

    def _transport_failure(self, exc: httpx.HTTPError, idempotent: bool, request_id: str,
                           url: str) -> Exception:
        if _untrusted(exc):  # asking again cannot make the certificate trusted
            return ConnectionFailed(f"{self._who()}: {_describe(exc, self.config)}")
        if isinstance(exc, NOT_SENT_ERRORS) or idempotent:
            return _Retry(exc.__class__.__name__, exc=exc)
        return AnswerLost(f"the answer from {self._who()} was lost ({_describe(exc, self.config)}); "
                          "the request may have been carried out: check its state before sending it again",
                          request_id)

    def _stop(self, state: RetryCallState) -> bool:
        """Give up after the policy's attempts; after DNS_ATTEMPTS when the host name does not resolve."""
        exc = state.outcome.exception() if state.outcome else None
        unresolved = isinstance(exc, _Retry) and _unresolved(exc.exc)
        return state.attempt_number >= (min(DNS_ATTEMPTS, self.policy.attempts) if unresolved else self.policy.attempts)

    def _exhausted(self, method: str, url: str, failure: _Retry) -> Exception:
        tries = self.policy.attempts
        if _unresolved(failure.exc):
            return ConnectionFailed(f"{self._who()}: cannot resolve host {self._resolved_host()}: check the host name "
                                    "and the DNS settings of this server")
        reply = failure.reply
        if reply is not None and reply.status in THROTTLE_STATUSES:
            return Throttled(f"{self._who()} kept throttling requests (HTTP {reply.status}) after {tries} "
                             "tries: try again later or collect fewer linkages at once",
                             retry_after=retry_after_seconds(reply.headers))
        if reply is not None and not reply.ok:
            return MdmRequestError(f"{self._who()} kept failing with HTTP {reply.status} after {tries} tries "
                                   f"({method} {_path(url)}): check the MDM server's health",
                                   status=reply.status, request_id=reply.request_id)
        if reply is not None:
            return ProtocolError(f"{self._who()} answered {_path(url)} with something that is not JSON "
                                 f"{tries} times in a row: check the server URL or a proxy in between")
        return ConnectionFailed(f"{self._who()}: {_describe(failure.exc, self.config)} after {tries} tries")

    def _resolved_host(self) -> str:
        """The host this layer looks up: the proxy's when there is one, else the server's."""
        return urlsplit(self.config.proxy_url or self.config.server_url).hostname or self.config.server_url

    def _who(self) -> str:
        return f"{self.mdm} ({urlsplit(self.config.server_url).netloc or self.config.server_url})"

    async def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0
        log.info("%s: retry %d after %s, waiting %.1f s", self.mdm, state.attempt_number,
                 getattr(exc, "reason", exc.__class__.__name__ if exc else "?"), wait)

    def _log(self, method: str, url: str, status: int | None, started: float, request_id: str,
             exc: BaseException | None = None) -> None:
        ms = (time.monotonic() - started) * 1000
        outcome = status if exc is None else exc.__class__.__name__
        log.debug("%s %s %s -> %s in %.0f ms [client-request-id %s]", self.mdm, method, _path(url), outcome,
                  ms, request_id)


def _unresolved(exc: BaseException | None) -> bool:
    """True when a connection failed because the host name did not resolve (getaddrinfo failed)."""
    seen = exc
    while seen is not None:
        if isinstance(seen, socket.gaierror):
            return True
        seen = seen.__cause__ or seen.__context__
    return isinstance(exc, httpx.ConnectError) and bool(_DNS_FAILURE.search(str(exc)))


def _untrusted(exc: BaseException | None) -> bool:
    """True when the connection failed because the server's certificate is not trusted."""
    text = str(exc) if isinstance(exc, httpx.ConnectError) else ""
    return "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text


def _path(url: str) -> str:
    """The path of a URL, without host or query (nothing in a log line that could carry a token)."""
    return urlsplit(url).path or url


def _describe(exc: BaseException | None, config: LinkageConfig) -> str:
    """What went wrong on the wire, in words an admin can act on."""
    if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout)):
        return (f"no answer within {config.timeout_s:.0f} s; raise the linkage's timeout if the MDM or a "
                "proxy is slow with many devices")
    if isinstance(exc, httpx.ConnectTimeout):
        return f"could not connect within {min(config.timeout_s, 30.0):.0f} s: check the host, port and proxy"
    if isinstance(exc, httpx.ProxyError):
        return "the proxy refused the connection: check the proxy URL and its credentials"
    if _untrusted(exc):
        return "the server's TLS certificate is not trusted: set the linkage's CA bundle"
    if isinstance(exc, httpx.ConnectError):
        return "cannot connect: check the host name, port and network/proxy settings"
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        return "the connection broke while the answer was being read"
    return exc.__class__.__name__ if exc else "unknown failure"


PageFetch = Callable[[int], Awaitable[tuple[list[Any], int | None]]]
MAX_REFETCH = 3


async def offset_pages(fetch: PageFetch, id_key: str, what: str) -> AsyncIterator[list[Json]]:
    """Offset-paged listing (MobileIron, SDM) without repeats or silent gaps, prefetching the next page.

    ``fetch(offset)`` returns (rows, total). A page made only of devices already read (the server
    served an earlier page again) is asked for again; if that keeps happening, or fewer distinct
    devices than the final total came back, a ``ProtocolError`` says so rather than returning a
    truncated list. When the total shrinks, devices before the page left the list and the rest slid
    back: the listing steps back by as many rows, so the device that slid onto the previous page is
    not skipped (it would otherwise be marked missing while the MDM still has it).
    """
    seen: set[str] = set()
    page_offset, total, last_total, refetches, stepped_back = 0, None, None, 0, False
    task: asyncio.Future[tuple[list[Any], int | None]] | None = asyncio.ensure_future(fetch(0))
    try:
        while task is not None:
            rows, total = await task
            task = None
            fresh = _fresh_rows(rows, seen, id_key, what)
            shrink = last_total - total if last_total is not None and total is not None else 0
            last_total = total if total is not None else last_total
            if shrink > 0 and page_offset > 0:
                next_offset, stepped_back = max(0, page_offset - shrink), True
            elif rows and not fresh and not stepped_back:
                refetches += 1
                if refetches > MAX_REFETCH:
                    raise ProtocolError(f"{what} served the same devices again at offset {page_offset} "
                                        f"{refetches} times: the list cannot be read completely; try again later")
                task = asyncio.ensure_future(fetch(page_offset))
                continue
            else:
                next_offset, refetches, stepped_back = page_offset + len(rows), 0, False
            if rows and (total is None or next_offset < total):
                page_offset = next_offset
                task = asyncio.ensure_future(fetch(next_offset))
            if fresh:
                yield fresh
    finally:
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    if total is not None and len(seen) < total:
        raise ProtocolError(f"{what} reported {total} devices but only {len(seen)} distinct ones could be read "
                            "(the list changed while it was read): run the collection again")


def _fresh_rows(rows: list[Any], seen: set[str], id_key: str, what: str) -> list[Json]:
    fresh = []
    for row in rows:
        ident = row.get(id_key) if isinstance(row, dict) else None
        if not isinstance(ident, str) or not ident:
            raise ProtocolError(f"{what} sent a device without {id_key}: the answer is not a device list")
        if ident not in seen:
            seen.add(ident)
            fresh.append(row)
    return fresh
