"""HTTP plumbing shared by the MDM services: JSON answers, fault injection, request log, admin routes."""

from __future__ import annotations

import asyncio
import json
import logging
from email.utils import formatdate
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .faults import Draw, Faults

Handler = Callable[[Request], Awaitable[Response]]


def dumps(obj) -> bytes:
    """Compact UTF-8 JSON, as the services send it (non-ASCII names stay readable)."""
    try:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
    except UnicodeEncodeError:  # a lone surrogate (hostile data): JSON's \ud800 escape, as Java and .NET write it
        return json.dumps(obj, separators=(",", ":")).encode()


def json_response(obj, status: int = 200, headers: dict | None = None,
                  media_type: str = "application/json") -> Response:
    """A JSON answer serialised once."""
    return Response(dumps(obj), status_code=status, headers=headers, media_type=media_type)


class ConnectionReset(Exception):
    """Raised after part of a body went out, so the server drops the connection mid-page."""


class _QuietReset(logging.Filter):
    """Keep deliberate resets, and hung answers cancelled at shutdown, out of uvicorn's error log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "timeout graceful shutdown exceeded" in record.getMessage():
            return False
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, (ConnectionReset, asyncio.CancelledError)):
                return False
            exc = exc.__cause__ or exc.__context__
        return True


logging.getLogger("uvicorn.error").addFilter(_QuietReset())


class BrokenBodyResponse(Response):
    """A 200 whose body is damaged: cut off with the connection dropped, short, or not JSON."""

    def __init__(self, body: bytes, headers, mode: str, media_type: str | None):
        super().__init__(body, status_code=200, headers=dict(headers), media_type=media_type)
        self.mode = mode

    async def __call__(self, scope, receive, send) -> None:
        body = bytes(self.body)  # starlette types it bytes | memoryview; bytes() of bytes is the same object
        if self.mode == "truncated":
            body = body[: max(1, len(body) // 2)]
        elif self.mode == "malformed":
            body = b"<html><body>Gateway error</body></html>" if len(body) < 64 else body.replace(b'":', b'"=', 1)
        headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]
        headers.append((b"content-length", str(len(self.body if self.mode == "reset" else body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if self.mode == "reset":
            await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
            raise ConnectionReset("simulated connection reset mid-page")
        await send({"type": "http.response.body", "body": body})


class Service:
    """One MDM's HTTP service. Subclasses define routes and the MDM's error body."""

    mdm = "?"

    def __init__(self, sim, cfg):
        self.sim = sim
        self.cfg = cfg
        self.fleet = sim.fleets[self.mdm]

    # --- overridden by each MDM -------------------------------------------------------------------
    def error(self, request: Request, status: int, code: str, message: str,
              headers: dict | None = None) -> Response:
        """The MDM's error answer."""
        return json_response({"error": message}, status, headers)

    def decorate(self, request: Request, response: Response) -> None:
        """Add the headers the MDM puts on every answer."""

    def routes(self) -> list[Route]:
        """The MDM's routes."""
        return []

    # --- fault-aware endpoint wrapper ---------------------------------------------------------------
    def endpoint(self, name: str, handler: Handler) -> Handler:
        """Wrap a handler: count it, inject the configured faults, log it."""

        async def run(request: Request) -> Response:
            faults = self.sim.faults.effective(self.mdm, name)
            n, rng = self.sim.faults.tick(self.mdm, name) if faults else (0, None)
            draw = Draw(faults, n, rng)
            request.state.draw = draw
            response = await self._before(request, draw, faults) if faults else None
            if response is None:
                response = await handler(request)
                if faults and response.status_code < 300 and draw.hit("rate_5xx_after"):
                    response = self._server_error(request, faults)   # carried out, answer lost
                elif faults and response.status_code == 200:
                    response = self._damage(response, draw)
            self.decorate(request, response)
            # the MDM's clock, which advance() moves ahead of the wall clock (connectors read it)
            response.headers["date"] = formatdate(self.fleet.clock(), usegmt=True)
            self.sim.meter.count(self.mdm, getattr(request.state, "kind", name))
            self.sim.log(self.mdm, request.method, request.url.path, response.status_code)
            return response

        return run

    async def _before(self, request: Request, draw: Draw, f: Faults) -> Response | None:
        if f.latency_ms:
            await asyncio.sleep(f.latency_ms / 1000)
        if f.hang_s and draw.hit("rate_hang"):
            await asyncio.sleep(f.hang_s)
        if draw.burst() or draw.hit("rate_429"):
            return self.throttled(request, f.retry_after)
        if draw.hit("rate_5xx"):
            return self._server_error(request, f)
        if f.page_latency_ms and request.query_params.get("offset", "0") not in ("", "0"):
            await asyncio.sleep(f.page_latency_ms / 1000)
        return None

    def _server_error(self, request: Request, f: Faults) -> Response:
        headers = {"Retry-After": _secs(f.retry_after)} if f.status_5xx == 503 and f.retry_after is not None else None
        return self.error(request, f.status_5xx, "ServiceUnavailable" if f.status_5xx == 503 else "InternalServerError",
                          "The service is temporarily unavailable." if f.status_5xx == 503 else "An internal server error has occurred.",
                          headers)

    def throttled(self, request: Request, retry_after: float | None) -> Response:
        """The MDM's 429 answer."""
        headers = {"Retry-After": _secs(retry_after)} if retry_after is not None else None
        return self.error(request, 429, "TooManyRequests", "Too many requests.", headers)

    def _damage(self, response: Response, draw: Draw) -> Response:
        for mode, field in (("reset", "reset_mid_page"), ("truncated", "truncated_json"), ("malformed", "malformed_json")):
            if draw.hit(field):
                media = response.headers.get("content-type")
                headers = {k: v for k, v in response.headers.items() if k not in ("content-type", "content-length")}
                return BrokenBodyResponse(bytes(response.body), headers, mode, media)
        return response

    def route(self, path: str, name: str, handler: Handler, methods: list[str]) -> Route:
        """A Starlette route whose handler goes through the fault wrapper."""
        return Route(path, self.endpoint(name, handler), methods=methods)


def _secs(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def draw_of(request: Request) -> Draw:
    """The fault draw of the current request."""
    return request.state.draw
