"""Microsoft Intune through Microsoft Graph, plus the Entra ID token endpoint, on one port."""

from __future__ import annotations

import asyncio
import base64
import bisect
import json
import random
import re
import secrets
import threading
import time
import uuid
from array import array
from dataclasses import dataclass, field
from datetime import datetime, UTC
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import intune_wire as wire
from .ids import stable_int
from .jsontext import jstr
from .exports import ExportJobs
from .web import Service, draw_of, dumps, json_response

READ = "DeviceManagementManagedDevices.Read.All"
READWRITE = "DeviceManagementManagedDevices.ReadWrite.All"
PRIVILEGED = "DeviceManagementManagedDevices.PrivilegedOperations.All"
ALL_PERMISSIONS = frozenset({READ, READWRITE, PRIVILEGED})
GRAPH_JSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
PAGE = 1000
BATCH_MAX = 20
WIPE_PARAMS = {"keepEnrollmentData": bool, "keepUserData": bool, "macOsUnlockCode": (str, type(None)),
               "persistEsimDataPlan": bool}
# obliterationBehavior and useProtectedWipe are documented for the beta wipe only (the v1.0 page and
# Clear-MgDeviceManagementManagedDevice list the four above): v1.0 refuses them.
BETA_WIPE_PARAMS = {**WIPE_PARAMS, "useProtectedWipe": bool, "obliterationBehavior": str}
ENUM_PARAMS = {"obliterationBehavior": ("default", "doNotObliterate", "obliterateWithWarning", "always")}
# Wipe and retire need PrivilegedOperations.All like lock (a Microsoft maintainer on
# microsoft-graph-docs#17172): ReadWrite.All is not enough.
ACTION_PERMS = {"remoteLock": {PRIVILEGED}, "resetPasscode": {PRIVILEGED}, "syncDevice": {PRIVILEGED},
                "retire": {PRIVILEGED}, "wipe": {PRIVILEGED}}
WIPE_ENDS = {"fail": "wipeFailed", "cancel": "wipeCanceled"}


@dataclass
class IntuneConfig:
    """Connection facts and knobs of the simulated tenant (`sim.intune`)."""

    base_url: str = ""
    tenant_id: str = ""
    tenant_domain: str = "contoso.onmicrosoft.com"
    client_id: str = ""
    client_secret: str = ""
    token_lifetime: int = 3599
    permissions: set[str] = field(default_factory=lambda: set(ALL_PERMISSIONS))
    licensed: bool = True
    action_delay: float = 2.0
    page_size: int = PAGE
    next_link_base: str = ""  # tests: next links name this base instead (a tampered answer's host)
    storage_url: str = ""  # the blob storage host export files are downloaded from (another origin)
    export_delay_s: float = 0.5  # an export job is inProgress this long, then completed (exports.py)
    export_url_ttl_s: float = 3600.0  # its download URL expires this long after completion (MDM clock)


@dataclass
class Result:
    """A Graph answer before it becomes HTTP (so $batch can reuse the handlers)."""

    status: int
    body: dict | None = None
    headers: dict = field(default_factory=dict)
    raw: bytes | None = None            # the body already as JSON text (device pages), instead of `body`


def intune_message(activity: str, url: str, text: str = "An error has occurred") -> str:
    """The JSON-in-a-string message the Intune service puts in Graph errors (\\r\\n and all)."""
    inner = {"_version": 3, "Message": f"{text} - Operation ID (for customer support): "
             f"00000000-0000-0000-0000-000000000000 - Activity ID: {activity} - Url: {url}",
             "CustomApiErrorPhrase": "", "RetryAfter": None, "ErrorSourceService": "", "HttpHeaders": "{}"}
    return json.dumps(inner, indent=2).replace("\n", "\r\n")


class IntuneService(Service):
    """Graph v1.0 and beta deviceManagement endpoints and the OAuth2 token endpoint."""

    mdm = "intune"

    def __init__(self, sim, cfg: IntuneConfig):
        super().__init__(sim, cfg)
        self.tokens: dict[str, float] = {}
        self._apps_cache: tuple[int, dict] | None = None
        self._apps_lock = threading.Lock()
        self._wiping: set[int] = set()  # slots with a wipe under way (their records go once it completes)
        self._wipe_lock = threading.Lock()
        self.exports = ExportJobs(self)  # report export jobs; their files are on the storage host

    # --- plumbing -----------------------------------------------------------------------------------
    def routes(self) -> list[Route]:
        return [
            self.route("/{tenant}/oauth2/v2.0/token", "token", self.token, ["POST"]),
            Route("/{ver:str}/$batch", self.endpoint("batch", self.batch), methods=["POST"]),
            Route("/{ver:str}/deviceManagement/{rest:path}", self.graph, methods=["GET", "POST"]),
        ]

    def ids(self, request: Request) -> tuple[str, str]:
        """(request-id, client-request-id) of this request."""
        state = request.state
        if not hasattr(state, "request_id"):
            state.request_id = str(uuid.uuid4())
        return state.request_id, request.headers.get("client-request-id", state.request_id)

    def decorate(self, request: Request, response: Response) -> None:
        rid, cid = self.ids(request)
        response.headers["request-id"] = rid
        response.headers["client-request-id"] = cid

    def error_body(self, request: Request | None, code: str, message: str) -> dict:
        """Graph's error JSON."""
        rid, cid = self.ids(request) if request is not None else (str(uuid.uuid4()),) * 2
        date = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return {"error": {"code": code, "message": message,
                          "innerError": {"date": date, "request-id": rid, "client-request-id": cid}}}

    def error(self, request, status, code, message, headers=None) -> Response:
        return Response(dumps(self.error_body(request, code, message)), status, headers, media_type=GRAPH_JSON)

    def to_response(self, request: Request, res: Result) -> Response:
        """Turn a Result into an HTTP answer."""
        if res.status == 204:
            return Response(status_code=204, headers=res.headers)
        body = res.raw if res.raw is not None else dumps(res.body)
        return Response(body, res.status, res.headers, media_type=GRAPH_JSON)

    def fail(self, request: Request | None, status: int, code: str, message: str, headers=None) -> Result:
        """A Result carrying Graph's error JSON."""
        return Result(status, self.error_body(request, code, message), headers or {})

    def intune_fail(self, request: Request | None, status: int, code: str, path: str, text: str = "An error has occurred") -> Result:
        """An error whose message is the Intune service's JSON string."""
        rid = self.ids(request)[0] if request is not None else str(uuid.uuid4())
        url = f"https://fef.msua06.manage.microsoft.com/DeviceFE/StatelessDeviceFEService/{path}?api-version=2024-01-01"
        return self.fail(request, status, code, intune_message(rid, url, text))

    # --- token endpoint (Entra ID) ------------------------------------------------------------------
    async def token(self, request: Request) -> Response:
        """POST /{tenant}/oauth2/v2.0/token: client credentials grant."""
        # url-encoded by the OAuth2 spec; parsed here so the sim needs no python-multipart
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
        basic = _basic(request.headers.get("authorization", ""))
        if basic:
            form.setdefault("client_id", basic[0])
            form.setdefault("client_secret", basic[1])
        tenant = request.path_params["tenant"]
        problem = self._token_problem(tenant, form)
        if problem:
            status, err, code, text = problem
            return json_response(_aad_error(err, code, text), status)
        tok = "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0." + secrets.token_urlsafe(48)
        self.tokens[tok] = time.time() + self.cfg.token_lifetime
        life = self.cfg.token_lifetime
        return json_response({"token_type": "Bearer", "expires_in": life, "ext_expires_in": life, "access_token": tok})

    def _token_problem(self, tenant: str, form: dict):
        cfg = self.cfg
        if tenant not in (cfg.tenant_id, cfg.tenant_domain, "organizations"):
            return 400, "invalid_request", 90002, (
                f"AADSTS90002: Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are "
                "signing into the correct cloud. Check with your subscription administrator, this may happen if there "
                "are no active subscriptions for the tenant.")
        if form.get("grant_type") != "client_credentials":
            if not form.get("grant_type"):
                return 400, "invalid_request", 900144, "AADSTS900144: The request body must contain the following parameter: 'grant_type'."
            return 400, "unsupported_grant_type", 70003, "AADSTS70003: The app requested an unsupported grant type."
        if form.get("client_id") != cfg.client_id:
            return 400, "unauthorized_client", 700016, (
                f"AADSTS700016: Application with identifier '{form.get('client_id')}' was not found in the directory "
                f"'{cfg.tenant_domain}'. This can happen if the application has not been installed by the administrator "
                "of the tenant or consented to by any user in the tenant. You may have sent your authentication request "
                "to the wrong tenant.")
        if not form.get("client_secret"):
            return 401, "invalid_client", 7000216, "AADSTS7000216: 'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type."
        if form.get("client_secret") != cfg.client_secret:
            return 401, "invalid_client", 7000215, (
                "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the "
                f"client secret value, not the client secret ID, for a secret added to app '{cfg.client_id}'.")
        scope = form.get("scope", "")
        if not scope.endswith("/.default"):
            return 400, "invalid_scope", 1002012, (
                f"AADSTS1002012: The provided value for scope {scope} is not valid. Client credential flows must have "
                "a scope value with /.default suffixed to the resource identifier (application ID URI).")
        return None

    # --- auth for Graph -----------------------------------------------------------------------------
    def auth_problem(self, request: Request) -> Result | None:
        """401 for a missing, unknown or expired token."""
        header = request.headers.get("authorization", "")
        tok = header[7:] if header.lower().startswith("bearer ") else ""
        hdr = {"WWW-Authenticate": 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"'}
        if not tok:
            return self.fail(request, 401, "InvalidAuthenticationToken", "Access token is empty.", hdr)
        expiry = self.tokens.get(tok)
        if expiry is None:
            return self.fail(request, 401, "InvalidAuthenticationToken", "CompactToken parsing failed with error code: 80049217", hdr)
        if time.time() >= expiry:
            return self.fail(request, 401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.", hdr)
        return None

    def perm_problem(self, request: Request | None, needed: set[str], path: str) -> Result | None:
        """403 when the app lacks every permission that would allow the call, or Intune is unlicensed."""
        if not self.cfg.licensed:
            return self.intune_fail(request, 403, "Forbidden", path,
                                    "Tenant is not licensed for Microsoft Intune. Assign an Intune license")
        if needed & self.cfg.permissions:
            return None
        text = ("Application is not authorized to perform this operation. Application must have one of the "
                f"following scopes: {', '.join(sorted(needed))}")
        return self.intune_fail(request, 403, "Forbidden", path, text)

    # --- dispatch -----------------------------------------------------------------------------------
    async def graph(self, request: Request) -> Response:
        """Every /{ver}/deviceManagement/... request, named for faults by what it asks for."""
        rest = request.path_params["rest"]
        name = _endpoint_name(request.method, rest)
        return await self.endpoint(name, self._graph)(request)

    async def _graph(self, request: Request) -> Response:
        ver = request.path_params["ver"]
        bad = self.auth_problem(request) if ver in ("v1.0", "beta") else self.fail(
            request, 400, "BadRequest", f"Invalid version: {ver}")
        if bad:
            return self.to_response(request, bad)
        body = await request.body() if request.method == "POST" else None
        query = dict(request.query_params)
        res = await self.dispatch(request, request.method, ver, request.path_params["rest"], query, body)
        return self.to_response(request, res)

    async def dispatch(self, request: Request | None, method: str, ver: str, rest: str, query: dict,
                       body: bytes | None) -> Result:
        """Route one Graph call below /deviceManagement/ (shared by plain requests and $batch)."""
        throttled = self.sim.meter.spend(self.cfg.client_id)      # budget.py: every call is one unit
        if throttled is not None:
            return self.fail(request, 429, "TooManyRequests", "Too many requests.", throttled)
        parts = _segments(rest)
        beta = ver == "beta"
        self.sweep_wipes()
        if parts and parts[0] == "managedDevices":
            if len(parts) == 1 and method == "GET":
                return self.list_devices(request, ver, query)
            if len(parts) == 2 and method == "GET":
                return self.get_device(request, ver, parts[1], query)
            if len(parts) == 3 and parts[2] == "detectedApps" and method == "GET" and beta:
                return await self.device_apps(request, ver, parts[1], query)
            if len(parts) == 3 and method == "POST" and parts[2] in wire.ACTION_NAMES:
                return self.action(request, ver, parts[1], parts[2], body)
        if parts[:2] == ["reports", "exportJobs"]:
            return await self.exports.dispatch(request, method, ver, parts, body)
        if parts == ["managedDeviceOverview"] and method == "GET":
            return self.device_overview(request, ver)
        if parts and parts[0] == "detectedApps" and method == "GET":
            if len(parts) == 1:
                return await self.list_apps(request, ver, query)
            if len(parts) == 3 and parts[2] == "managedDevices":
                return await self.app_devices(request, ver, parts[1], query)
        last = parts[-1] if parts else rest
        return self.fail(request, 400, "BadRequest", f"Resource not found for the segment '{last}'.")

    def device_overview(self, request, ver: str) -> Result:
        """GET managedDeviceOverview: the tenant's enrolled-device counts (Read.All, one request unit).

        The real summary excludes PCs managed by the legacy Intune PC agent, which this fleet has none of;
        the connector takes the count only as a size estimate (which route to collect by), never as truth.
        """
        bad = self.read_guard(request, ver, "deviceManagement/managedDeviceOverview")
        if bad:
            return bad
        counts: dict[str, int] = {}
        for slot in self.fleet.live_slots():
            name = self.fleet.os_of(slot)
            counts[name] = counts.get(name, 0) + 1
        total = sum(counts.values())
        summary = {"androidCount": counts.get("Android", 0), "iosCount": counts.get("iOS", 0) + counts.get("iPadOS", 0),
                   "macOSCount": counts.get("macOS", 0), "windowsMobileCount": 0,
                   "windowsCount": counts.get("Windows", 0), "unknownCount": 0}
        summary["unknownCount"] = total - sum(summary.values())
        return Result(200, {"@odata.context": f"{self.cfg.base_url}/{ver}/$metadata#deviceManagement/managedDeviceOverview/$entity",
                            "id": "managedDeviceOverview", "enrolledDeviceCount": total, "mdmEnrolledCount": total,
                            "dualEnrolledDeviceCount": 0, "deviceOperatingSystemSummary": summary})

    # --- managed devices ----------------------------------------------------------------------------
    def read_guard(self, request, ver: str, path: str) -> Result | None:
        return self.perm_problem(request, {READ, READWRITE}, path)

    def list_devices(self, request, ver: str, query: dict) -> Result:
        """GET managedDevices: server-driven paging, $select, $top, $filter."""
        bad = self.read_guard(request, ver, "deviceManagement/managedDevices")
        if bad:
            return bad
        try:
            select = _select(query, ver)
            top = _top(query, self.cfg.page_size)
            pred = _filter(self.fleet, query.get("$filter"))
        except ValueError as exc:
            return self.fail(request, 400, "BadRequest", str(exc))
        start, repeated, bad = self._position(request, query)
        if bad:
            return bad
        slots, nxt = self._page(start, top, pred)
        items = self._items(slots, ver == "beta", select)
        link = None
        if request is not None and draw_of(request).hit("repeat_page") and not repeated and slots:
            link = self._next_link(ver, "deviceManagement/managedDevices", query, start, True)
        elif nxt is not None:
            link = self._next_link(ver, "deviceManagement/managedDevices", query, nxt, False)
        return _page_result(f"{self.cfg.base_url}/{ver}/$metadata#deviceManagement/managedDevices", items, link)

    def _list_item(self, slot: int, now: float, beta: bool, select) -> dict:
        full = wire.device(self.fleet.profile(slot), self.fleet.id_of(slot), now, self.cfg.action_delay, beta)
        return wire.project(wire.list_item(full), select)

    def _items(self, slots: list[int], beta: bool, select: list[str] | None) -> list[bytes]:
        """The JSON text of list items: devices nothing changed through a template, others via dicts."""
        view = wire.VIEWS[beta, True, False, tuple(select) if select else None]
        fleet, now, out = self.fleet, time.time(), []
        pristine, id_of, render = fleet.pristine, fleet.id_of, view.render
        for slot in slots:
            p = pristine(slot)
            if p is not None:
                out.append(render(p, id_of(slot)).encode())
            else:
                out.append(dumps(self._list_item(slot, now, beta, select)))
        return out

    def _page(self, start: int, top: int, pred) -> tuple[list[int], int | None]:
        slots: list[int] = []
        for slot in self.fleet.live_slots(start):
            if pred is not None and not pred(slot):
                continue
            if len(slots) == top:
                return slots, slot
            slots.append(slot)
        return slots, None

    def _position(self, request, query: dict) -> tuple[int, bool, Result | None]:
        """Decode $skiptoken -> (start, was-a-repeat, error)."""
        token = query.get("$skiptoken")
        if token is None:
            return 0, False, None
        pos = self._untoken(token)
        expired = request is not None and draw_of(request).hit("expired_nextlink")
        if pos is None or expired:
            return 0, False, self.fail(request, 400, "BadRequest", "Invalid Skip Token")
        return pos[0], pos[1], None

    def _token(self, pos: int, repeat: bool) -> str:
        raw = f"{pos}:{int(repeat)}:{stable_int(self.sim.seed, 'skip', pos, repeat) & 0xFFFFFFFF:08x}"
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    def _untoken(self, token: str) -> tuple[int, bool] | None:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            pos_text, rep_text, _sig = raw.split(":")
            pos, rep = int(pos_text), bool(int(rep_text))
        except (ValueError, UnicodeDecodeError):
            return None
        return (pos, rep) if self._token(pos, rep) == token else None

    def _next_link(self, ver: str, path: str, query: dict, pos: int, repeat: bool) -> str:
        params = {k: v for k, v in query.items() if k != "$skiptoken"}
        params["$skiptoken"] = self._token(pos, repeat)
        qs = urlencode(params, safe="$,'()", quote_via=quote)
        return f"{self.cfg.next_link_base or self.cfg.base_url}/{ver}/{path}?{qs}"

    def get_device(self, request, ver: str, key: str, query: dict) -> Result:
        """GET managedDevices/{id}: real values only for what $select names (memory: beta only)."""
        ident = _key(key)
        bad = self.read_guard(request, ver, f"deviceManagement/managedDevices('{ident}')")
        if bad:
            return bad
        slot = self.fleet.slot_of(ident)
        if slot is None:
            return self.intune_fail(request, 404, "ResourceNotFound", f"deviceManagement/managedDevices('{ident}')",
                                    "Resource not found")
        try:
            select = _select(query, ver)
        except ValueError as exc:
            return self.fail(request, 400, "BadRequest", str(exc))
        context = f"{self.cfg.base_url}/{ver}/$metadata#deviceManagement/managedDevices/$entity"
        # memory only from beta, and only with hardwareInformation in the same $select (else 0)
        memory_zero = select is not None and bool(select) and not (ver == "beta" and "hardwareInformation" in select)
        p = self.fleet.pristine(slot)
        if p is not None:
            beta = ver == "beta"
            view = wire.VIEWS[beta, not select, memory_zero, tuple(select) if select else None]
            text = view.render(p, ident)
            head = '{"@odata.context":' + jstr(context)
            return Result(200, raw=(head + ("," + text[1:] if text != "{}" else "}")).encode())
        full = wire.device(self.fleet.profile(slot), ident, time.time(), self.cfg.action_delay, ver == "beta")
        if not select:
            out = wire.list_item(full)
        else:
            out = wire.project(full, select)
            if memory_zero and "physicalMemoryInBytes" in out:
                out["physicalMemoryInBytes"] = 0
        out = {"@odata.context": context, **out}
        return Result(200, out)

    # --- actions ------------------------------------------------------------------------------------
    def action(self, request, ver: str, key: str, name: str, body: bytes | None) -> Result:
        """POST managedDevices/{id}/{action}: 204 when accepted; the outcome shows in deviceActionResults."""
        ident = _key(key)
        path = f"deviceManagement/managedDevices('{ident}')/microsoft.management.services.api.{name}"
        bad = self.perm_problem(request, ACTION_PERMS[name], path)
        if bad:
            return bad
        slot = self.fleet.slot_of(ident)
        if slot is None:
            return self.intune_fail(request, 404, "ResourceNotFound", path, "Resource not found")
        problem = _action_params(name, body, BETA_WIPE_PARAMS if ver == "beta" else WIPE_PARAMS)
        if problem:
            return self.fail(request, 400, "BadRequest", problem)
        prof = self.fleet.profile(slot)
        if name in ("remoteLock", "resetPasscode") and prof["os"] in ("Windows", "macOS"):
            return self.intune_fail(request, 400, "BadRequest", path)
        self._apply(slot, prof, name)
        return Result(204)

    def _apply(self, slot: int, prof: dict, name: str) -> None:
        now = time.time()
        dead = bool(prof.get("profile_removed"))
        if name in ("wipe", "retire"):  # never in deviceActionResults: managementState only
            if name == "wipe":
                self._start_wipe(slot, prof, now)
            return
        actions = list(prof.get("actions", ())) + [{"name": name, "start": now, "fails": dead}]
        changes: dict = {"actions": actions}
        if name == "remoteLock" and not dead:
            changes["locked_at"] = now
        if name == "syncDevice" and not dead and not isinstance(prof.get("wiped"), dict):
            changes["last_sync"] = int(now)
        self.fleet.update(slot, **changes)

    # --- wipes: managementState, then the record goes -----------------------------------------------
    def _start_wipe(self, slot: int, prof: dict, now: float) -> None:
        """A wipe already pending or issued stays as it is; after a failed or cancelled one it starts again."""
        state = wire.management_state(prof, now, self.cfg.action_delay)
        if state in ("wipePending", "wipeIssued"):
            return
        end = prof.get("wipe_next_end")
        self.fleet.update(slot, wiped={"start": now, "end": end}, wipe_next_end=None)
        with self._wipe_lock:
            self._wiping.add(slot)
        # requests sweep lazily; the timer makes the record go on time for device_ids() and /_sim too
        timer = threading.Timer(2 * self.cfg.action_delay + 0.01, self.sweep_wipes)
        timer.daemon = True
        timer.start()

    def end_next_wipe(self, slot: int, how: str) -> None:
        """Admin: the device's current (or next) wipe ends as `how` ("fail" or "cancel")."""
        end = WIPE_ENDS.get(how)
        if end is None:
            raise ValueError(f"a wipe can be made to 'fail' or 'cancel', not {how!r}")
        prof = self.fleet.profile(slot)
        wipe = prof.get("wiped")
        if isinstance(wipe, dict) and wire.management_state(prof, time.time(), self.cfg.action_delay) in (
                "wipePending", "wipeIssued"):
            self.fleet.update(slot, wiped={**wipe, "end": end})
        else:
            self.fleet.update(slot, wipe_next_end=end)

    def sweep_wipes(self) -> None:
        """Remove the records of devices whose full wipe has completed (their GET becomes 404)."""
        if not self._wiping:
            return
        now, delay = time.time(), self.cfg.action_delay
        with self._wipe_lock:
            for slot in list(self._wiping):
                if not self.fleet.exists(slot):
                    self._wiping.discard(slot)
                    continue
                prof = self.fleet.profile(slot)
                if wire.wipe_completed(prof, now, delay):
                    self.fleet.remove(slot)
                    self._wiping.discard(slot)
                elif wire.management_state(prof, now, delay) in ("wipeFailed", "wipeCanceled"):
                    self._wiping.discard(slot)

    # --- $batch -------------------------------------------------------------------------------------
    async def batch(self, request: Request) -> Response:
        """POST /$batch: up to 20 requests, each answered (and possibly failing) on its own."""
        ver = request.path_params["ver"]
        bad = self.auth_problem(request)
        if bad:
            return self.to_response(request, bad)
        try:
            reqs = json.loads(await request.body())["requests"]
            assert isinstance(reqs, list)
        except (ValueError, KeyError, TypeError, AssertionError):
            return self.error(request, 400, "BadRequest", "Invalid batch payload format.")
        if len(reqs) > BATCH_MAX:
            return self.error(request, 400, "BadRequest", f"Number of requests in the batch exceeds the limit of {BATCH_MAX}.")
        draw = draw_of(request)
        out = [await self._batch_item(request, ver, item, draw) for item in reqs]
        order = list(range(len(out)))
        # Graph answers batch items in whatever order they finish: clients must match by id.
        random.Random(stable_int(self.sim.seed, "batch", draw.n)).shuffle(order)
        return Response(b'{"responses":[' + b",".join(out[i] for i in order) + b"]}", media_type=GRAPH_JSON)

    async def _batch_item(self, request: Request, ver: str, item: dict, draw) -> bytes:
        """One $batch answer as JSON text: {"id", "status", "headers"[, "body"]}."""
        rid = str(item.get("id", ""))
        url = str(item.get("url", ""))
        if draw.hit("batch_item_fail_rate"):
            return self._batch_failure(request, rid, draw)
        split = urlsplit(url if url.startswith("/") else "/" + url)
        path = split.path
        if not path.startswith("/deviceManagement/"):
            res = self.fail(request, 400, "BadRequest", f"Resource not found for the segment '{path.strip('/').split('/')[0]}'.")
        else:
            query = dict(parse_qsl(split.query, keep_blank_values=True))
            body = item.get("body")
            raw = dumps(body) if body is not None else b""
            res = await self.dispatch(request, str(item.get("method", "GET")).upper(), ver,
                                      path[len("/deviceManagement/"):], query, raw)
        headers = {} if res.status == 204 else {"Content-Type": GRAPH_JSON}
        entry = {"id": rid, "status": res.status, "headers": {**headers, **res.headers}}
        if res.raw is not None:
            return dumps(entry)[:-1] + b',"body":' + res.raw + b"}"
        if res.body is not None:
            entry["body"] = res.body
        return dumps(entry)

    def _batch_failure(self, request: Request, rid: str, draw) -> bytes:
        status = draw._rng.choice([429, 429, 500, 404])
        if status == 429:
            ra = draw.faults.retry_after
            headers = {"Retry-After": str(int(ra))} if ra is not None else {}
            body = self.error_body(request, "TooManyRequests", "Too many requests.")
        elif status == 500:
            headers, body = {}, self.error_body(request, "InternalServerError", "An internal server error has occurred.")
        else:
            headers, body = {}, self.error_body(request, "ResourceNotFound", "Resource not found")
        return dumps({"id": rid, "status": status, "headers": {"Content-Type": GRAPH_JSON, **headers}, "body": body})

    # --- detected apps ------------------------------------------------------------------------------
    def _aggregate(self) -> dict:
        """Tenant-wide detected apps, computed once per fleet membership (slow for big fleets)."""
        with self._apps_lock:
            version = self.fleet.membership
            if self._apps_cache and self._apps_cache[0] == version:
                return self._apps_cache[1]
            counts: dict[tuple[str, int, int], int] = {}
            holders: dict[tuple[str, int, int], array] = {}  # key -> its devices' slots, ascending
            os_of_family: dict[str, str] = {}
            for slot in self.fleet.live_slots():
                os_name = self.fleet.os_of(slot)
                fam = wire.family_of(os_name)
                os_of_family.setdefault(fam, os_name)
                for idx, ver in set(self.fleet.apps(slot)):
                    key = (fam, idx, ver)
                    counts[key] = counts.get(key, 0) + 1
                    having = holders.get(key)
                    if having is None:
                        having = holders[key] = array("q")
                    having.append(slot)
            keys = sorted(counts)
            by_id = {wire.app_id(k[0], k[1], k[2]): k for k in keys}
            agg = {"counts": counts, "keys": keys, "by_id": by_id, "os": os_of_family, "holders": holders}
            self._apps_cache = (version, agg)
            return agg

    async def aggregate(self) -> dict:
        """The aggregate, computed off the event loop."""
        return await asyncio.to_thread(self._aggregate)

    async def list_apps(self, request, ver: str, query: dict) -> Result:
        """GET detectedApps (tenant-wide, with deviceCount): one entry per platform family x app x version,
        paged by position in the current aggregate (as the real list is offset-paged, a page read after an
        app change is shifted: entries can repeat or be skipped), $top capped at 1,000."""
        bad = self.perm_problem(request, {READ, READWRITE}, "deviceManagement/detectedApps")
        if bad:
            return bad
        try:
            top = _top(query, self.cfg.page_size)
        except ValueError as exc:
            return self.fail(request, 400, "BadRequest", str(exc))
        agg = await self.aggregate()
        start, repeated, bad = self._position(request, query)
        if bad:
            return bad
        keys = agg["keys"][start:start + top]
        items = [wire.detected_app(agg["os"][k[0]], k[1], k[2], agg["counts"][k]) for k in keys]
        body = {"@odata.context": f"{self.cfg.base_url}/{ver}/$metadata#deviceManagement/detectedApps", "value": items}
        if start + top < len(agg["keys"]):
            body["@odata.nextLink"] = self._next_link(ver, "deviceManagement/detectedApps", query, start + top, False)
        return Result(200, body)

    async def app_devices(self, request, ver: str, app: str, query: dict) -> Result:
        """GET detectedApps/{id}/managedDevices: the devices that have this app."""
        path = f"deviceManagement/detectedApps('{_key(app)}')/managedDevices"
        bad = self.perm_problem(request, {READ, READWRITE}, path)
        if bad:
            return bad
        agg = await self.aggregate()
        key = agg["by_id"].get(_key(app))
        if key is None:
            return self.intune_fail(request, 404, "ResourceNotFound", path, "Resource not found")
        start, _, bad = self._position(request, query)
        if bad:
            return bad
        try:
            select = _select(query, ver)
            top = _top(query, self.cfg.page_size)
        except ValueError as exc:
            return self.fail(request, 400, "BadRequest", str(exc))
        # the aggregate's holders (slot order, as the device list pages): a page from `start` on
        having = agg["holders"][key]
        at = bisect.bisect_left(having, start)
        slots = list(having[at:at + top])
        nxt = having[at + top] if at + top < len(having) else None
        items = self._items(slots, ver == "beta", select)
        link = None
        if nxt is not None:
            link = self._next_link(ver, f"deviceManagement/detectedApps/{_key(app)}/managedDevices", query, nxt, False)
        return _page_result(f"{self.cfg.base_url}/{ver}/$metadata#deviceManagement/detectedApps('{_key(app)}')/managedDevices",
                            items, link)

    async def device_apps(self, request, ver: str, key: str, query: dict) -> Result:
        """GET beta managedDevices/{id}/detectedApps: one device's apps."""
        ident = _key(key)
        path = f"deviceManagement/managedDevices('{ident}')/detectedApps"
        bad = self.perm_problem(request, {READ, READWRITE}, path)
        if bad:
            return bad
        slot = self.fleet.slot_of(ident)
        if slot is None:
            return self.intune_fail(request, 404, "ResourceNotFound", path, "Resource not found")
        agg = await self.aggregate()
        start, _, bad = self._position(request, query)
        if bad:
            return bad
        top = _top(query, self.cfg.page_size)
        os_name = self.fleet.os_of(slot)
        fam = wire.family_of(os_name)
        apps = sorted(self.fleet.apps(slot))
        items = [wire.detected_app(os_name, i, v, agg["counts"].get((fam, i, v), 1)) for i, v in apps[start:start + top]]
        body = {"@odata.context": f"{self.cfg.base_url}/beta/$metadata#deviceManagement/managedDevices('{ident}')/detectedApps",
                "value": items}
        if start + top < len(apps):
            body["@odata.nextLink"] = self._next_link(ver, f"deviceManagement/managedDevices/{ident}/detectedApps", query, start + top, False)
        return Result(200, body)

    # --- for the Simulator facade -------------------------------------------------------------------
    def truth(self, slot: int) -> dict:
        """The full real representation (v1.0 properties and beta-only ones)."""
        self.sweep_wipes()
        if not self.fleet.exists(slot):
            raise KeyError("the device record was removed after its wipe completed")
        return wire.device(self.fleet.profile(slot), self.fleet.id_of(slot), time.time(), self.cfg.action_delay, True)


# --- helpers ------------------------------------------------------------------------------------------
def _page_result(context: str, items: list[bytes], next_link: str | None) -> Result:
    """A collection page as JSON text: {"@odata.context", "value"[, "@odata.nextLink"]}."""
    tail = "]" if next_link is None else '],"@odata.nextLink":' + jstr(next_link)
    head = '{"@odata.context":' + jstr(context) + ',"value":['
    return Result(200, raw=b"".join((head.encode(), b",".join(items), tail.encode(), b"}")))


def _aad_error(err: str, code: int, text: str) -> dict:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
    return {"error": err, "error_description": f"{text} Trace ID: {trace} Correlation ID: {corr} Timestamp: {now}",
            "error_codes": [code], "timestamp": now, "trace_id": trace, "correlation_id": corr,
            "error_uri": f"https://login.microsoftonline.com/error?code={code}"}


def _basic(header: str) -> tuple[str, str] | None:
    if not header.lower().startswith("basic "):
        return None
    try:
        user, _, pwd = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return None
    return unquote(user), unquote(pwd)


def _segments(rest: str) -> list[str]:
    """Split a path, turning managedDevices('x') into managedDevices/x."""
    rest = re.sub(r"^(managedDevices|detectedApps)\('([^']*)'\)", r"\1/\2", rest.strip("/"))
    rest = re.sub(r"^reports/exportJobs\('([^']*)'\)", r"reports/exportJobs/\1", rest)
    return [p for p in rest.split("/") if p]


def _key(key: str) -> str:
    return key.strip("'").lower() if re.fullmatch(r"'?[0-9a-fA-F-]{36}'?", key) else key.strip("'")




def _endpoint_name(method: str, rest: str) -> str:
    """The fault-switch name of a Graph path."""
    parts = _segments(rest)
    if parts[:1] == ["detectedApps"]:
        return "detectedApps"
    if parts[:2] == ["reports", "exportJobs"]:
        return "exportJobs"
    if parts[:1] == ["managedDeviceOverview"]:
        return "managedDeviceOverview"
    if parts[:1] == ["managedDevices"]:
        if len(parts) == 1:
            return "managedDevices"
        if len(parts) == 2:
            return "managedDevice"
        return "deviceDetectedApps" if parts[2] == "detectedApps" else "actions"
    return "deviceManagement"


def _select(query: dict, ver: str) -> list[str] | None:
    """The $select names; a name the version does not have is refused (v1.0 knows no beta-only one)."""
    raw = query.get("$select")
    if raw is None:
        return None
    names = [n.strip() for n in raw.split(",") if n.strip()]
    known = set(wire.LIST_QUIRK) | (_KNOWN - set(wire.BETA_ONLY)) | (set(wire.BETA_ONLY) if ver == "beta" else set())
    for n in names:
        if n not in known:
            raise ValueError(f"Could not find a property named '{n}' on type 'microsoft.graph.managedDevice'.")
    return names


def _top(query: dict, default: int) -> int:
    raw = query.get("$top")
    if raw is None:
        return default
    try:
        top = int(raw)
    except ValueError:
        raise ValueError(f"Invalid value '{raw}' for $top query option found.") from None
    if top < 1:
        raise ValueError(f"Invalid value '{raw}' for $top query option found.")
    return min(top, PAGE)


_CLAUSE = re.compile(r"^\s*(\w+)\s+(eq|ne|gt|ge|lt|le)\s+(.+?)\s*$")


def _filter(fleet, text: str | None):
    """Compile $filter (lastSyncDateTime comparisons, operatingSystem eq/ne, joined by 'and')."""
    if not text:
        return None
    tests = [_clause(fleet, c) for c in re.split(r"\s+and\s+", text.strip())]
    return lambda slot: all(t(slot) for t in tests)


def _clause(fleet, clause: str):
    m = _CLAUSE.match(clause)
    if not m:
        raise ValueError(f"Invalid filter clause: {clause}")
    prop, op, raw = m.groups()
    cmp = {"eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "gt": lambda a, b: a > b,
           "ge": lambda a, b: a >= b, "lt": lambda a, b: a < b, "le": lambda a, b: a <= b}[op]
    if prop == "lastSyncDateTime":
        if raw.startswith("'"):  # OData: a DateTimeOffset literal is bare; quoted it is a string (Graph: 400)
            raise ValueError("A binary operator with incompatible types was detected. Found operand types "
                             f"'Edm.DateTimeOffset' and 'Edm.String' for operator kind '{op}'.")
        when = _parse_time(raw)
        return lambda s: cmp(fleet.last_sync(s) or -62135596800, when)
    if prop == "operatingSystem" and op in ("eq", "ne") and raw.startswith("'"):
        want = raw.strip("'").lower()
        return lambda s: cmp(fleet.os_of(s).lower(), want)
    raise ValueError(f"Invalid filter clause: the filter on '{prop}' with operator '{op}' is not supported.")


def _parse_time(raw: str) -> float:
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ValueError(f"The DateTimeOffset text '{raw}' should be in format 'yyyy-mm-ddThh:mm:ss('.'s+)?(zzzzzz)?'.") from None


def _action_params(name: str, body: bytes | None, wipe_params: dict) -> str | None:
    """Validate an action's body the way OData does; returns the error message or None."""
    if not body or not body.strip():
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return "The request payload is not valid JSON."
    if not isinstance(data, dict):
        return "The request payload must be a JSON object."
    allowed = wipe_params if name == "wipe" else {}
    for key, value in data.items():
        if key not in allowed:
            return f"The parameter '{key}' in the request payload is not a valid parameter for the operation '{name}'."
        if not isinstance(value, allowed[key]) or (allowed[key] is bool and not isinstance(value, bool)):
            kind = "Edm.Boolean" if allowed[key] is bool else "Edm.String"
            return f"Cannot convert the literal '{value}' to the expected type '{kind}'."
        if key in ENUM_PARAMS and value not in ENUM_PARAMS[key]:
            return f"The value '{value}' is not valid for the enum type 'microsoft.graph.{key}'."
    return None


def _known_props() -> set[str]:
    p = {"os": "iOS", "supervised": True, "enrolled": 0, "login": "x", "user_id": "", "device_name": "", "upn": "",
         "user_name": "", "email": "", "owner": "", "os_version": "", "model": "", "manufacturer": "", "serial": "",
         "imei": "", "meid": "", "phone": "", "carrier": None, "wifi_mac": "", "eth_mac": None, "iccid": "",
         "udid": "", "ram": 0, "storage_total": 0, "storage_free": 0, "last_sync": None, "compliance": "",
         "jailbroken": "", "encrypted": True, "aad_id": "", "eas_id": "", "security_patch": None, "ip": ""}
    return set(wire.device(p, "", 0, 0, True)) - {"@odata.type"}


_KNOWN = _known_props()
