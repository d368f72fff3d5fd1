"""MobileIron Core (Ivanti EPMM): the v2 API (search, details, wipe, actions) and the v1 lock."""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime
import time
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .catalog import catalog_for
from .ids import colon_mac
from .jsontext import HHMM, Template, iso_day, jtext, views_cache
from .web import Service, draw_of, dumps, json_response

MSG = "com.mobileiron.vsp.messages"
OK_KEY = f"{MSG}.device.action.successful"
# The failure key follows the documented success key's style; the exact string is not public.
NOT_FOUND_KEY = f"{MSG}.device.action.failed.device.not.found"
# States in which the device still carries Core's MDM profile (docs/mobileiron-core-api.md): retired,
# wiped and never-completed registrations (VERIFIED, EXPIRED) have none, so commands cannot reach them.
MANAGED_STATUSES = frozenset({"ACTIVE", "LOST", "BLOCKED"})
MAX_FIELDS = 512
MAX_LIMIT = 5000
APPINV_MAX = 25
ACTION_TYPES = {"UNLOCK_DEVICE_ONLY", "FORCE_CHECKIN"}
API_ROLE = "API"
DEVICE_ACTIONS_ROLE = "DEVICE_ACTIONS"

VALID_FIELDS = (
    "common.uuid common.id common.imei common.imsi common.SerialNumber common.status common.owner "
    "common.registration_date common.last_connected_at common.mdm_managed common.model common.manufacturer "
    "common.platform common.platform_name common.os_version common.client_version common.compliant "
    "common.quarantined common.noncompliance_reasons common.security_state common.device_is_compromised "
    "common.device_encrypted common.current_phone_number common.home_operator_name common.wifi_mac_address "
    "common.ethernet_mac common.ip_address common.storage_capacity common.storage_free common.memory_capacity "
    "common.memory_free common.language common.locale common.home_country_name common.creation_date "
    "common.battery_level common.client_name common.comment common.device_space_name common.quarantined_reasons "
    "user.user_id user.display_name user.email_address ios.iPhone UDID ios.iPhone ICCID ios.iPhone MAC_ADDRESS_EN0 "
    "ios.DeviceName ios.iPhone VERSION ios.DataRoamingEnabled android.security_patch android.afw_capable"
)
# Split on the field boundaries (names contain spaces): a new name starts with a known prefix.
FIELD_NAMES = tuple(re.findall(r"(?:common|user|ios|android)\.[^ ]+(?: (?!common\.|user\.|ios\.|android\.)[^ ]+)*", VALID_FIELDS))


@dataclass
class MobileIronConfig:
    """Connection facts of the simulated Core (`sim.mobileiron`)."""

    base_url: str = ""
    user: str = "api_admin"
    password: str = ""
    device_space_id: int = 1
    # user -> (password, roles); the default API user has every role; `noapi` lacks the API role.
    users: dict = field(default_factory=dict)


def _iso_ms(ts: float | None) -> str:
    if ts is None:
        return ""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts * 1000) % 1000:03d}Z"


def wire_fields(p: dict, uuid: str, slot: int, space: str) -> dict:
    """Every v2 search field of one device ("" where the device has no value, as Core sends)."""
    apple = p["manufacturer"] == "Apple"
    status = status_of(p)
    compromised = p["jailbroken"] == "True"
    f = {
        "common.uuid": uuid, "common.id": 100000 + slot, "common.imei": p["imei"], "common.imsi": p["imsi"],
        "common.SerialNumber": p["serial"], "common.status": status,
        "common.owner": "COMPANY" if p["owner"] == "company" else "EMPLOYEE",
        "common.registration_date": _iso_ms(p["enrolled"]), "common.last_connected_at": _iso_ms(p["last_sync"]),
        "common.mdm_managed": mdm_managed(p), "common.model": p["model"], "common.manufacturer": p["manufacturer"],
        "common.platform": "iOS" if apple else "Android",
        "common.platform_name": f"{'iOS' if apple else 'Android'} {p['os_version']}",
        "common.os_version": p["os_version"], "common.client_version": "12.11.0" if not apple else "",
        "common.compliant": p["compliance"] == "compliant" and not compromised,
        "common.quarantined": False,
        "common.noncompliance_reasons": (["DEVICE_COMPROMISED"] if compromised else [])
        + (["POLICY_OUT_OF_DATE"] if p["compliance"] == "noncompliant" else []),
        "common.security_state": "Compromised" if compromised else "Ok",
        "common.device_is_compromised": compromised, "common.device_encrypted": p["encrypted"],
        "common.current_phone_number": p["phone"], "common.home_operator_name": p["carrier"] or "",
        "common.wifi_mac_address": colon_mac(p["wifi_mac"] or ""), "common.ethernet_mac": colon_mac(p["eth_mac"] or ""),
        "common.ip_address": p["ip"], "common.storage_capacity": p["storage_total"],
        "common.storage_free": p["storage_free"], "common.memory_capacity": "",
        "common.memory_free": p["ram_free"], "common.language": "ja", "common.locale": "ja_JP",
        "common.home_country_name": "Japan", "common.creation_date": _iso_ms(p["enrolled"]),
        "common.battery_level": 20 + p["hw"] % 80, "common.client_name": "Mobile@Work" if not apple else "",
        "common.comment": "", "common.device_space_name": space, "common.quarantined_reasons": [],
        "user.user_id": p["login"], "user.display_name": p["user_name"], "user.email_address": p["email"],
        "ios.iPhone UDID": p["udid"] if apple else "", "ios.iPhone ICCID": p["iccid"] if apple else "",
        "ios.iPhone MAC_ADDRESS_EN0": colon_mac(p["wifi_mac"] or "") if apple else "",
        "ios.DeviceName": p["device_name"] if apple else "", "ios.iPhone VERSION": p["os_version"] if apple else "",
        "ios.DataRoamingEnabled": False if apple else "",
        "android.security_patch": p["security_patch"] or "", "android.afw_capable": True if not apple else "",
    }
    return f


def status_of(p: dict) -> str:
    """common.status: WIPED once wiped, else the generated state (ACTIVE for most devices)."""
    return "WIPED" if p.get("wiped") else p.get("mdm_status", "ACTIVE")


def mdm_managed(p: dict) -> bool:
    """common.mdm_managed: false once the user removed the profile or the state leaves none."""
    return not p.get("profile_removed") and status_of(p) in MANAGED_STATUSES


# --- fast path: JSON text of devices without an overlay -------------------------------------------------
# Not wiped and with their MDM profile, such devices differ only in the fragments below; a View renders
# the fields a search asked for. Changed devices go through wire_fields() and json.dumps.

_SS_MS = [f"{s:02d}.000Z" for s in range(60)]


def _iso_ms_fast(ts: int | None) -> str:
    if ts is None:
        return ""
    if type(ts) is int and ts >= 0:
        day, secs = divmod(ts, 86_400)
        minute, sec = divmod(secs, 60)
        return iso_day(day) + HHMM[minute] + _SS_MS[sec]
    return _iso_ms(ts)


def _colon(mac: str) -> str:
    """colon_mac of a 12-hex-digit MAC (or "")."""
    if not mac:
        return ""
    m = mac.lower()
    return f"{m[0:2]}:{m[2:4]}:{m[4:6]}:{m[6:8]}:{m[8:10]}:{m[10:12]}"


_B = {True: "true", False: "false"}
_REASONS = {(False, False): "[]", (True, False): '["DEVICE_COMPROMISED"]', (False, True): '["POLICY_OUT_OF_DATE"]',
            (True, True): '["DEVICE_COMPROMISED","POLICY_OUT_OF_DATE"]'}
# (field, quoted) in fragments() order; quoted fragments are bare string content
_SPEC = (("common.uuid", True), ("common.id", False), ("common.imei", True), ("common.imsi", True),
         ("common.SerialNumber", True), ("common.owner", True), ("common.registration_date", True),
         ("common.last_connected_at", True), ("common.model", True), ("common.manufacturer", True),
         ("common.platform", True), ("common.platform_name", True), ("common.os_version", True),
         ("common.client_version", True), ("common.compliant", False), ("common.noncompliance_reasons", False),
         ("common.security_state", True), ("common.device_is_compromised", False),
         ("common.device_encrypted", False), ("common.current_phone_number", True),
         ("common.home_operator_name", True), ("common.wifi_mac_address", True), ("common.ethernet_mac", True),
         ("common.ip_address", True), ("common.storage_capacity", False), ("common.storage_free", False),
         ("common.memory_free", False), ("common.creation_date", True),
         ("common.battery_level", False), ("common.client_name", True), ("common.device_space_name", True),
         ("user.user_id", True), ("user.display_name", True), ("user.email_address", True),
         ("ios.iPhone UDID", True), ("ios.iPhone ICCID", True), ("ios.iPhone MAC_ADDRESS_EN0", True),
         ("ios.DeviceName", True), ("ios.iPhone VERSION", True), ("ios.DataRoamingEnabled", False),
         ("android.security_patch", True), ("android.afw_capable", False), ("common.status", True),
         ("common.mdm_managed", False))
_VAR_INDEX = {name: i for i, (name, _) in enumerate(_SPEC)}
_QUOTED = {name for name, quoted in _SPEC if quoted}


def fragments(p: dict, uuid: str, slot: int, space: str) -> tuple:
    """Every variable field of a device without an overlay, in _SPEC order (see wire_fields)."""
    apple = p["manufacturer"] == "Apple"
    compromised = p["jailbroken"] == "True"
    compliance = p["compliance"]
    platform = "iOS" if apple else "Android"
    enrolled = _iso_ms_fast(p["enrolled"])
    wifi = _colon(p["wifi_mac"])
    return (
        uuid, 100000 + slot, p["imei"], p["imsi"], p["serial"], "COMPANY" if p["owner"] == "company" else "EMPLOYEE",
        enrolled, _iso_ms_fast(p["last_sync"]), p["model"], p["manufacturer"], platform,
        platform + " " + p["os_version"], p["os_version"], "" if apple else "12.11.0",
        _B[compliance == "compliant" and not compromised], _REASONS[compromised, compliance == "noncompliant"],
        "Compromised" if compromised else "Ok", _B[compromised], _B[p["encrypted"]], p["phone"], p["carrier"] or "",
        wifi, _colon(p["eth_mac"]), p["ip"], p["storage_total"], p["storage_free"], p["ram_free"],
        enrolled, 20 + p["hw"] % 80, "" if apple else "Mobile@Work", space, p["login"], p["user_name"], p["email"],
        p["udid"] if apple else "", p["iccid"] if apple else "", wifi if apple else "",
        p["device_name"] if apple else "", p["os_version"] if apple else "", "false" if apple else '""',
        p["security_patch"] or "", '""' if apple else "true", status_of(p), _B[mdm_managed(p)],
    )


def _constants() -> dict[str, str]:
    """JSON text of the fields that are constant for devices without an overlay (off the dict path)."""
    p = {"manufacturer": "Apple", "jailbroken": "False", "owner": "company", "enrolled": 0, "last_sync": None,
         "model": "", "os_version": "", "compliance": "", "encrypted": True, "phone": "", "carrier": None,
         "wifi_mac": "", "eth_mac": None, "ip": "", "storage_total": 0, "storage_free": 0, "ram": 0, "ram_free": 0,
         "hw": 0, "login": "", "user_name": "", "email": "", "udid": "", "iccid": "", "device_name": "",
         "security_patch": None, "imei": "", "imsi": "", "serial": ""}
    full = wire_fields(p, "", 0, "")
    assert set(_VAR_INDEX) <= set(full) and len(full) == len(FIELD_NAMES)
    return {k: jtext(v) for k, v in full.items() if k not in _VAR_INDEX}


_CONST = _constants()


def _view(fields: tuple[str, ...]) -> Template:
    """The template of a search row: each asked field once, in the order asked; unknown ones ""."""
    members = []
    for k in dict.fromkeys(fields):
        i = _VAR_INDEX.get(k)
        members.append((k, _CONST.get(k, '""') if i is None else (i,) if k in _QUOTED else i))
    return Template(members)


VIEWS = views_cache(_view)
"""VIEWS[tuple of fields] -> Template."""


def details(p: dict) -> list[dict]:
    """The device-details name/value list (values are strings, as Core shows them)."""
    apple = p["manufacturer"] == "Apple"
    pairs = [("SerialNumber", p["serial"]), ("PasscodePresent", str(p["passcode"]).lower()),
             ("imei", p["imei"]), ("Number", p["phone"]),
             ("total_storage_size_bytes", str(p["storage_total"])), ("total_ram_size_bytes", str(p["ram"]))]
    if apple:
        pairs += [("udid", p["udid"]), ("iPhone ICCID", p["iccid"]), ("DeviceName", p["device_name"])]
    return [{"name": n, "value": v} for n, v in pairs]


class MobileIronService(Service):
    """Core's API on one port, Basic auth with the API role."""

    mdm = "mobileiron"

    def __init__(self, sim, cfg) -> None:
        super().__init__(sim, cfg)
        # (query, fleet version, id notation) -> the slots it matches (see _matches)
        self._match_cache: dict[tuple[str, int, bool], list[int]] = {}

    def routes(self) -> list[Route]:
        r = self.route
        return [
            r("/api/v2/ping", "ping", self.ping, ["GET"]),
            r("/api/v2/device_spaces/mine", "device_spaces", self.spaces, ["GET"]),
            r("/api/v2/devices", "devices", self.search, ["GET"]),
            r("/api/v2/devices/count", "count", self.count, ["GET"]),
            r("/api/v2/devices/appinventory", "appinventory", self.appinventory, ["GET"]),
            r("/api/v2/devices/wipe", "wipe", self.wipe, ["PUT"]),
            r("/api/v2/devices/action", "action", self.action, ["POST"]),
            r("/api/v2/devices/{uuid}/details", "details", self.details, ["GET"]),
            r("/api/v1/dm/devices/lock/{uuid}", "lock", self.lock, ["PUT"]),
            r("/api/v1/dm/devices/unlock/{uuid}", "unlock", self.unlock, ["PUT"]),
        ]

    # --- errors and auth ----------------------------------------------------------------------------
    def error(self, request, status, code, message, headers=None) -> Response:
        if request.url.path.startswith("/api/v1/"):
            return json_response({"messages": {"message": message}}, status, headers)
        key = f"{MSG}.http.{status}"
        return json_response({"messages": [{"type": "Error", "messageKey": key, "localizedMessage": message}]},
                             status, headers)

    def auth(self, request: Request, role: str | None = None) -> Response | None:
        """401 without valid credentials or the API role; 403 without the call's own role."""
        creds = _basic(request.headers.get("authorization", ""))
        hdr = {"WWW-Authenticate": 'Basic realm="MobileIron"'}
        entry = self.cfg.users.get(creds[0]) if creds else None
        if creds is None or entry is None or entry[0] != creds[1]:
            return self.error(request, 401, "Unauthorized", "Unauthorized", hdr)
        if API_ROLE not in entry[1]:
            return self.error(request, 401, "Unauthorized", "The user does not have the API role", hdr)
        if role and role not in entry[1]:
            return self.error(request, 403, "Forbidden", "Access is denied: the administrator lacks the required role")
        return None

    def space(self, request: Request) -> Response | None:
        raw = request.query_params.get("adminDeviceSpaceId")
        if raw is None:
            return self.error(request, 400, "BadRequest", "Required parameter 'adminDeviceSpaceId' is not present")
        if raw != str(self.cfg.device_space_id):
            return self.error(request, 400, "BadRequest", f"Invalid device space id: {raw}")
        return None

    def guard(self, request: Request, role: str | None = None, space: bool = True) -> Response | None:
        return self.auth(request, role) or (self.space(request) if space else None)

    # --- read endpoints -----------------------------------------------------------------------------
    async def ping(self, request: Request) -> Response:
        """GET /api/v2/ping."""
        return self.auth(request) or json_response({"results": {"apiVersion": 2.0, "vspVersion": ""}})

    async def spaces(self, request: Request) -> Response:
        """GET /api/v2/device_spaces/mine."""
        bad = self.auth(request)
        return bad or json_response({"results": [{"id": self.cfg.device_space_id, "name": "Global"}]})

    async def count(self, request: Request) -> Response:
        """GET /api/v2/devices/count."""
        bad = self.guard(request)
        if bad:
            return bad
        try:
            pred = _query(request.query_params.get("query", ""))
        except ValueError as exc:
            return self.error(request, 400, "BadRequest", str(exc))
        total = self.fleet.count() if pred is None else len(self._matches(request.query_params.get("query", ""), pred))
        return json_response({"totalCount": total})

    async def search(self, request: Request) -> Response:
        """GET /api/v2/devices: fields, query, limit/offset paging with hasMore and totalCount."""
        bad = self.guard(request)
        if bad:
            return bad
        q = request.query_params
        request.state.kind = search_kind(q.get("query", ""))
        started = time.perf_counter()
        try:
            fields = _fields_param(q.get("fields"))
            limit, offset = _int(q, "limit", 50, 1, MAX_LIMIT), _int(q, "offset", 0, 0, 10**8)
            pred = _query(q.get("query", ""))
        except ValueError as exc:
            return self.error(request, 400, "BadRequest", str(exc))
        if pred is None:
            rows, total = self._plain_page(request, offset, limit, fields)
        else:
            rows, total = self._filtered_page(offset, limit, fields, pred, q.get("query", ""))
        tail = {"totalCount": total, "resultCount": len(rows), "searchTimeMillis": int((time.perf_counter() - started) * 1000),
                "currentServerTimeMilliseconds": self.fleet.clock() * 1000, "hasMore": offset + len(rows) < total}
        body = b"".join((b'{"results":[', b",".join(rows), b"],", dumps(tail)[1:]))
        return Response(body, media_type="application/json")

    def _fields(self, slot: int) -> dict:
        return wire_fields(self.fleet.profile(slot), self.fleet.id_of(slot), slot, "Global")

    def _plain_page(self, request, offset: int, limit: int, fields: list[str]) -> tuple[list[bytes], int]:
        """Rows as JSON text: devices nothing changed through the template, others via dicts."""
        if offset and draw_of(request).hit("repeat_page"):
            offset = max(0, offset - limit)   # the same records again, as when the set shifts under a client
        rows: list[bytes] = []
        fleet = self.fleet
        template = VIEWS[tuple(fields)]
        first = fleet.nth_slot(offset)
        if first is not None:
            pristine, id_of, render = fleet.pristine, fleet.id_of, template.render
            for slot in fleet.live_slots(first):
                if len(rows) == limit:
                    break
                p = pristine(slot)
                if p is not None:
                    rows.append(render(fragments(p, id_of(slot), slot, "Global")).encode())
                else:
                    full = self._fields(slot)
                    rows.append(dumps({k: full[k] if k in full else "" for k in fields}))
        return rows, fleet.count()

    def _filtered_page(self, offset: int, limit: int, fields: list[str], pred, text: str) -> tuple[list[bytes], int]:
        slots = self._matches(text, pred)
        rows = []
        for slot in slots[offset:offset + limit]:
            full = self._fields(slot)
            rows.append(dumps({k: full[k] if k in full else "" for k in fields}))
        return rows, len(slots)

    def _matches(self, text: str, pred) -> list[int]:
        """The live slots a query matches, in listing order. A uuid clause names at most one device (a
        connector's status lookup: no walk of the fleet); other queries walk the fleet once per fleet
        version, so paging through a filtered search is not one walk per page."""
        fleet = self.fleet
        uuid = _uuid_clause(text)
        if uuid is not None:
            slot = fleet.slot_of(uuid)
            return [slot] if slot is not None and pred(self._fields(slot)) else []
        key = (text, fleet.version, fleet.grouped_ids)
        slots = self._match_cache.get(key)
        if slots is None:
            slots = [s for s in fleet.live_slots() if pred(self._fields(s))]
            if len(self._match_cache) >= 8:
                self._match_cache.clear()
            self._match_cache[key] = slots
        return slots

    async def details(self, request: Request) -> Response:
        """GET /api/v2/devices/{uuid}/details."""
        bad = self.guard(request)
        if bad:
            return bad
        slot = self.fleet.slot_of(request.path_params["uuid"])
        if slot is None:
            return self.error(request, 404, "NotFound", f"Device not found: {request.path_params['uuid']}")
        return json_response({"results": details(self.fleet.profile(slot))})

    async def appinventory(self, request: Request) -> Response:
        """GET /api/v2/devices/appinventory?deviceUuids=u1,u2 (at most 25)."""
        bad = self.guard(request)
        if bad:
            return bad
        uuids = [u for u in request.query_params.get("deviceUuids", "").split(",") if u]
        if not uuids or len(uuids) > APPINV_MAX:
            return self.error(request, 400, "BadRequest", f"deviceUuids must list 1 to {APPINV_MAX} devices")
        results = []
        for u in uuids:
            slot = self.fleet.slot_of(u)
            if slot is None:
                return self.error(request, 404, "NotFound", f"Device not found: {u}")
            os_name = self.fleet.os_of(slot)
            cat = catalog_for(os_name)
            results.append({"appInventory": [{"name": cat[i].name, "version": cat[i].versions[v]}
                                             for i, v in sorted(self.fleet.apps(slot))]})
        return json_response({"results": results})

    # --- actions ------------------------------------------------------------------------------------
    async def wipe(self, request: Request) -> Response:
        """PUT /api/v2/devices/wipe: per-device results."""
        return await self._bulk(request, "WIPE_DEVICE")

    async def action(self, request: Request) -> Response:
        """POST /api/v2/devices/action?actionType=UNLOCK_DEVICE_ONLY (clear passcode)."""
        kind = request.query_params.get("actionType", "")
        if kind not in ACTION_TYPES:
            bad = self.guard(request, DEVICE_ACTIONS_ROLE)
            return bad or self.error(request, 400, "BadRequest", f"Invalid actionType: {kind}")
        return await self._bulk(request, kind)

    async def _bulk(self, request: Request, kind: str) -> Response:
        bad = self.guard(request, DEVICE_ACTIONS_ROLE)
        if bad:
            return bad
        try:
            body = json.loads(await request.body())
            uuids = body["deviceUuids"]
            assert isinstance(uuids, list) and uuids and all(isinstance(u, str) for u in uuids)
        except (ValueError, KeyError, TypeError, AssertionError):
            return self.error(request, 400, "BadRequest", "Request body must carry a non-empty deviceUuids list")
        results = {u: self._act(u, kind) for u in uuids}
        return json_response({"actionType": kind, "deviceResults": results,
                              "successful": any(v == OK_KEY for v in results.values())})

    def _act(self, uuid: str, kind: str) -> str:
        slot = self.fleet.slot_of(uuid)
        if slot is None:
            return NOT_FOUND_KEY
        if not mdm_managed(self.fleet.profile(slot)):
            # Core 5.8+: the command never reaches a device without the profile, yet Core answers
            # success for it (MDM-APIS.md section 2); the device's state stays as it was
            return OK_KEY
        now = int(time.time())
        if kind == "WIPE_DEVICE":
            self.fleet.update(slot, wiped=True)
        elif kind == "UNLOCK_DEVICE_ONLY":
            self.fleet.update(slot, passcode=False, passcode_cleared_at=now)
        else:
            self.fleet.update(slot, last_sync=now)
        return OK_KEY

    async def lock(self, request: Request) -> Response:
        """PUT /api/v1/dm/devices/lock/{uuid}?reason=..."""
        return await self._v1(request, "lock")

    async def unlock(self, request: Request) -> Response:
        """PUT /api/v1/dm/devices/unlock/{uuid}?reason=..."""
        return await self._v1(request, "unlock")

    async def _v1(self, request: Request, verb: str) -> Response:
        bad = self.auth(request, DEVICE_ACTIONS_ROLE)
        if bad:
            return bad
        uuid = request.path_params["uuid"]
        slot = self.fleet.slot_of(uuid)
        if slot is None:
            return self.error(request, 404, "NotFound", f"Device with uuid {uuid} not found")
        if not mdm_managed(self.fleet.profile(slot)):
            return self.error(request, 400, "BadRequest", f"Device {uuid} is not MDM managed; the {verb} command cannot be sent")
        self.fleet.update(slot, locked_at=int(time.time()) if verb == "lock" else None)
        return json_response({"messages": {"message": f"The {verb} command was sent to device {uuid}"}})

    def truth(self, slot: int) -> dict:
        """All search fields plus the details list."""
        return {**self._fields(slot), "details": details(self.fleet.profile(slot))}


# --- helpers ------------------------------------------------------------------------------------------
def _basic(header: str) -> tuple[str, str] | None:
    if not header.lower().startswith("basic "):
        return None
    try:
        user, _, pwd = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return None
    return user, pwd


def _fields_param(raw: str | None) -> list[str]:
    if not raw or not raw.strip():
        raise ValueError("Required parameter 'fields' is not present")
    names = [n.strip() for n in raw.split(",") if n.strip()]
    if len(names) > MAX_FIELDS:
        raise ValueError(f"Too many fields requested: {len(names)} (at most {MAX_FIELDS})")
    for n in names:
        if len(n) > 320 or (n not in FIELD_NAMES and not n.startswith("custom.")):
            raise ValueError(f"Invalid field: {n}")
    return names


def _int(q, name: str, default: int, low: int, high: int) -> int:
    raw = q.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"Invalid value for '{name}': {raw}") from None
    if not low <= value <= high:
        raise ValueError(f"'{name}' must be between {low} and {high}")
    return value


_COND = re.compile(r'^\s*"?([\w.]+(?: [\w]+)?)"?\s*(=|!=|>|<)\s*"([^"]*)"\s*$')


def _uuid_clause(text: str) -> str | None:
    """The value of a `common.uuid = "…"` clause of a valid query, else None."""
    for clause in re.split(r"\s+AND\s+", (text or "").strip(), flags=re.I):
        m = _COND.match(clause)
        if m and m.group(1) == "common.uuid" and m.group(2) == "=":
            return m.group(3)
    return None


def search_kind(text: str) -> str:
    """The meter's name for a search: the plain listing ("devices"), a status check of one device by its
    uuid ("devices:uuid"), or another query ("devices:query", e.g. a changed-only listing)."""
    if not text or not text.strip():
        return "devices"
    return "devices:uuid" if _uuid_clause(text) is not None else "devices:query"


def _query(text: str):
    """Compile a search query: `field = "value"` clauses joined by AND (others: 400)."""
    if not text or not text.strip():
        return None
    tests = []
    for clause in re.split(r"\s+AND\s+", text.strip(), flags=re.I):
        m = _COND.match(clause)
        if not m or m.group(1) not in FIELD_NAMES:
            raise ValueError(f"Invalid query: {clause}")
        name, op, value = m.groups()
        tests.append((name, op, _query_value(name, op, value, clause)))

    def pred(row: dict) -> bool:
        for name, op, value in tests:
            if isinstance(value, float):  # a time comparison: compared as instants, never-seen ("") never matches
                when = _instant(str(row.get(name) or ""))
                if when is None or not (when > value if op == ">" else when < value):
                    return False
                continue
            got = str(row.get(name, "")).lower() if not isinstance(row.get(name), bool) else str(row[name]).lower()
            want = value.lower()
            ok = {"=": got == want, "!=": got != want, ">": got > want, "<": got < want}[op]
            if not ok:
                return False
        return True

    return pred


_TIME_FIELDS = ("common.last_connected_at", "common.registration_date")
_ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _query_value(name: str, op: str, value: str, clause: str):
    """A time field compared with < or > takes the field's own format (ISO 8601 UTC with milliseconds);
    anything else is refused: Core's documentation gives no looser form, so the harsher reading holds."""
    if name not in _TIME_FIELDS or op not in ("<", ">"):
        return value
    when = _instant(value) if _ISO_MS.match(value) else None
    if when is None:
        raise ValueError(f"Invalid query: {clause} (a date must be written as yyyy-MM-ddTHH:mm:ss.SSSZ)")
    return when


def _instant(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text else None
    except ValueError:
        return None
