"""MobileIron Core (Ivanti EPMM): v2 search for listing, v2 details, wipe and passcode clear, v1 lock.

Wire choices (see MDM-APIS.md): the search's ``fields`` list carries every matrix item Core offers
as a search field, so one request per page of 200 devices delivers almost everything. Only
``PasscodePresent`` and ``total_ram_size_bytes`` (the spec's RAM source) live in the per-device
``/details`` list, fetched for new or changed devices only, with bounded concurrency, while the next
page is already being read.

Truthfulness (MDM-APIS.md section 2): Core 5.8+ answers ``…action.successful`` for a device whose MDM
profile was removed, so a success entry is checked against the device's own state
(``common.mdm_managed``); an answer lost as a 5xx or a broken connection is "unknown" and settled
from the device's state, never sent again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from mdmtui import mapping
from mdmtui.connectors import churn, spec
from mdmtui.connectors.base import LinkageConfig, register
from mdmtui.connectors.http import AnswerLost, HttpLayer, Json, Reply, offset_pages
from mdmtui.errors import (AuthenticationFailed, ConfigurationError, MdmRequestError, NotFoundError, ProtocolError,
                           Throttled)
from mdmtui.records import (Action, ActionResult, DeviceRecord, DeviceRef, OsClass, Outcome, SoftwareItem, System,
                            WipeOptions)

log = logging.getLogger("mdmtui.connectors.mobileiron")

# --- the wire contract (Core API v1/v2) -------------------------------------------------------------
PING = "/api/v2/ping"
DEVICE_SPACES = "/api/v2/device_spaces/mine"
SEARCH = "/api/v2/devices"
DETAILS = "/api/v2/devices/{uuid}/details"
WIPE = "/api/v2/devices/wipe"
ACTION = "/api/v2/devices/action"
LOCK_V1 = "/api/v1/dm/devices/lock/{uuid}"
UNLOCK_PASSCODE = "UNLOCK_DEVICE_ONLY"
WIPE_ACTION = "WIPE_DEVICE"
SUCCESS_KEY = "com.mobileiron.vsp.messages.device.action.successful"
ID_FIELD = "common.uuid"
STATUS_FIELD, MANAGED_FIELD = "common.status", "common.mdm_managed"
LAST_CONTACT_FIELD = "common.last_connected_at"
STATUS_WIPED = "WIPED"
PAGE_SIZE = 200
# Items only the per-device details list carries (name in details -> wire key the table reads).
DETAIL_KEYS = ("PasscodePresent", mapping.MI_RAM)
SEARCH_FIELDS = tuple(dict.fromkeys(
    (ID_FIELD, STATUS_FIELD) + tuple(k for k in mapping.wire_keys(System.MOBILEIRON) if k not in DETAIL_KEYS)))
DETAIL_FIELDS = frozenset({"passcode_set", "ram_total_bytes", "ram_free_bytes"})
# Server errors after the request may have reached Core: no proof that the command was rejected.
LOST_STATUSES = frozenset({500, 502, 503, 504})
DEVICE_LEVEL_ERRORS = (ProtocolError, NotFoundError, MdmRequestError, Throttled)


def mi_error(reply: Reply) -> str:
    """The message of a Core error body (v2 list of messages, or v1 single message)."""
    body = reply.body if isinstance(reply.body, dict) else {}
    msgs = body.get("messages")
    if isinstance(msgs, list) and msgs and isinstance(msgs[0], dict):
        return str(msgs[0].get("localizedMessage") or msgs[0].get("messageKey") or f"HTTP {reply.status}")
    if isinstance(msgs, dict) and msgs.get("message"):
        return str(msgs["message"])
    return f"HTTP {reply.status}"


@register(System.MOBILEIRON.value)
class MobileIronConnector:
    """MobileIron Core over its REST API, HTTP Basic with an admin that has the API role."""

    system = System.MOBILEIRON.value

    def __init__(self, config: LinkageConfig, *, http: HttpLayer | None = None) -> None:
        if not (config.user and config.password):
            raise ConfigurationError(f"linkage {config.name!r} needs the Core API user and password")
        self.config = config
        self.base = config.server_url.rstrip("/")
        auth = httpx.BasicAuth(config.user, config.password.reveal())
        self.http = http or HttpLayer(config, mdm="MobileIron", auth=auth)
        self.page_size = min(config.page_size or PAGE_SIZE, 5000)
        self._space: int | None = config.device_space_id
        self.refresh_days = churn.refresh_days_of(config.extra)
        self._now = time.time()  # Core's clock, from the search answer's server time (churn.py)
        self.since = churn.changed_since(config.extra)
        self.listed_at: float | None = None  # Core's clock at the listing's first answer (the run's start)
        self.warnings: list[str] = []

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()

    # --- requests -------------------------------------------------------------------------------------
    async def _call(self, method: str, path: str, *, idempotent: bool = True, **kw: Any) -> Reply:
        reply = await self.http.request(method, f"{self.base}{path}", idempotent=idempotent, **kw)
        if reply.status == 401:
            raise AuthenticationFailed(f"MobileIron Core rejected the API user ({mi_error(reply)}): check the user "
                                       "and password, and that the admin has the API role")
        if reply.status == 403:
            raise AuthenticationFailed(f"MobileIron Core refused the request ({mi_error(reply)}): give the API "
                                       "admin the device-actions role in the device space")
        return reply

    def _expect_ok(self, reply: Reply, what: str) -> None:
        if reply.ok:
            return
        message = f"MobileIron Core could not {what} (HTTP {reply.status}: {mi_error(reply)})"
        if reply.status == 404:
            raise NotFoundError(message)
        raise MdmRequestError(message, status=reply.status, request_id=reply.request_id)

    async def space(self) -> int:
        """The admin device space id: the linkage's, or the first of the admin's own spaces."""
        if self._space is None:
            reply = await self._call("GET", DEVICE_SPACES)
            self._expect_ok(reply, "list the admin's device spaces")
            results = reply.body.get("results") if isinstance(reply.body, dict) else None
            if not results or not isinstance(results[0], dict) or "id" not in results[0]:
                raise ProtocolError("MobileIron Core listed no device space for the API admin: set the device "
                                    "space id of the linkage")
            self._space = int(results[0]["id"])
        return self._space

    async def test_connection(self) -> str:
        """Ping the API and resolve the device space."""
        reply = await self._call("GET", PING)
        self._expect_ok(reply, "answer the API ping")
        results = reply.body.get("results") if isinstance(reply.body, dict) else None
        if not isinstance(results, dict):
            raise ProtocolError("the ping answer is not MobileIron Core's: check the server URL")
        space = await self.space()
        return f"MobileIron Core API v{results.get('apiVersion')} (device space {space}): signed in"

    # --- collection -------------------------------------------------------------------------------------
    async def iter_device_pages(self, known: Mapping[str, str | None]) -> AsyncIterator[list[DeviceRecord]]:
        """Stream every device; read ``/details`` only for new or changed devices."""
        self.warnings, self.listed_at = [], None
        space = await self.space()
        fields = ",".join(SEARCH_FIELDS)
        # a changed-only run: devices that connected after `since` (docs/mobileiron-core-api.md)
        query = "" if self.since is None else f'"{LAST_CONTACT_FIELD}" > "{churn.iso_utc(self.since, millis=True)}"'

        phases = churn.Phases(known, self.refresh_days)  # the rolling refresh's slots (churn.py)

        async def fetch(offset: int) -> tuple[list[Any], int | None]:
            return await self._search(space, fields, offset, query)

        async for rows in offset_pages(fetch, ID_FIELD, "MobileIron Core"):
            yield await self._records(rows, phases)

    async def _search(self, space: int, fields: str, offset: int, query: str = "") -> tuple[list[Any], int | None]:
        params = {"adminDeviceSpaceId": space, "query": query, "fields": fields, "limit": self.page_size,
                  "offset": offset, "sortField": "common.id", "sortOrder": "ASC"}
        reply = await self._call("GET", SEARCH, params=params)
        self._expect_ok(reply, "search devices")
        body = reply.body
        if not isinstance(body, dict) or not isinstance(body.get("results"), list):
            raise ProtocolError("MobileIron Core's device search answer has no 'results' list: check the server "
                                "URL")
        total = body.get("totalCount")
        self._now = churn.server_now(reply.headers, body.get("currentServerTimeMilliseconds"))
        if offset == 0 and self.listed_at is None:
            self.listed_at = self._now
        return body["results"], total if isinstance(total, int) else None

    async def _records(self, rows: list[Json], phases: churn.Phases) -> list[DeviceRecord]:
        # /details yields only the passcode state, which moves without any listed field: read it for new
        # devices, changed ones (a SIM or identity change often means a new user) and on the rolling period
        markers = {r[ID_FIELD]: phases.marker(r, r[ID_FIELD], self._now) for r in rows}
        changed = [i for i, m in markers.items() if phases.due(i, m).any]
        details = await asyncio.gather(*(self._details_or_none(i) for i in changed))
        got = {i: d for i, d in zip(changed, details) if d is not None}
        if len(got) < len(changed):
            self._warn(f"the details of {len(changed) - len(got)} changed devices could not be read; they keep "
                       "their stored passcode state and RAM and are read again at the next collection")
        fetch = set(changed)
        return [self._record(r, markers[r[ID_FIELD]], got.get(r[ID_FIELD]), r[ID_FIELD] in fetch) for r in rows]

    def _record(self, row: Json, marker: str, detail: Json | None, changed: bool) -> DeviceRecord:
        wire = {**row, **detail} if detail else row
        record = mapping.map_device(System.MOBILEIRON, OsClass.M, wire, mdm_device_id=row[ID_FIELD],
                                    change_marker=marker)
        if detail is None:
            record.unfetched = DETAIL_FIELDS
            if changed:
                record.change_marker = None  # read the details again next time
        return record  # software: MobileIron is not a software source in the spec (None = not fetched)

    async def _details_or_none(self, uuid: str) -> Json | None:
        try:
            return await self.details(uuid)
        except DEVICE_LEVEL_ERRORS as exc:
            log.info("MobileIron: details of %s not read: %s", uuid, exc)
            return None

    async def details(self, uuid: str) -> Json:
        """A device's details list as {name: value}, limited to the names the table reads."""
        space = await self.space()
        reply = await self._call("GET", DETAILS.format(uuid=quote(uuid, safe="")),
                                 params={"adminDeviceSpaceId": space})
        self._expect_ok(reply, f"read the details of device {uuid}")
        results = reply.body.get("results") if isinstance(reply.body, dict) else None
        if not isinstance(results, list):
            raise ProtocolError(f"MobileIron Core's details answer for {uuid} has no 'results' list")
        return {str(d.get("name")): d.get("value") for d in results
                if isinstance(d, dict) and d.get("name") in DETAIL_KEYS}

    async def software(self, device: DeviceRef) -> list[SoftwareItem]:
        """MobileIron is no software source in the spec's matrix."""
        raise ConfigurationError("software is not collected from MobileIron (the matrix has no MobileIron "
                                 "software column)")

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        log.warning("MobileIron: %s", message)

    # --- actions ------------------------------------------------------------------------------------------
    async def lock(self, device: DeviceRef) -> ActionResult:
        """v1 lock (v2 has none)."""
        path = LOCK_V1.format(uuid=quote(device.mdm_device_id, safe=""))
        try:
            reply = await self._call("PUT", path, idempotent=False, params={"reason": "Locked by mdmtui"})
        except AnswerLost as lost:
            return _lost(device, Action.LOCK, lost)
        if reply.status in LOST_STATUSES:
            return _lost_reply(device, Action.LOCK, reply)
        outcome = Outcome.SUCCEEDED if reply.ok else Outcome.FAILED
        message = mi_error(reply) if not reply.ok else _v1_message(reply) or "Core sent the lock command"
        if reply.status == 404:
            message = f"the device no longer exists in MobileIron Core ({message})"
        return ActionResult(device.mdm_device_id, Action.LOCK, outcome, message=message, http_status=reply.status,
                            request_id=reply.request_id)

    async def wipe(self, device: DeviceRef, options: WipeOptions) -> ActionResult:
        """v2 wipe; judged by the device's own entry in deviceResults; followed up through its status."""
        body = {"deviceUuids": [device.mdm_device_id], "note": options.note or "Wiped by mdmtui"}
        return await self._bulk(device, Action.WIPE, "PUT", WIPE, {}, body, WIPE_ACTION)

    async def reset_passcode(self, device: DeviceRef) -> ActionResult:
        """v2 UNLOCK_DEVICE_ONLY: clears the passcode (no new passcode is issued)."""
        body = {"deviceUuids": [device.mdm_device_id], "note": "Passcode reset by mdmtui"}
        return await self._bulk(device, Action.RESET_PASSCODE, "POST", ACTION, {"actionType": UNLOCK_PASSCODE},
                                body, UNLOCK_PASSCODE)

    async def _bulk(self, device: DeviceRef, action: Action, method: str, path: str, params: Json, body: Json,
                    kind: str) -> ActionResult:
        space = await self.space()
        try:
            reply = await self._call(method, path, idempotent=False, params={"adminDeviceSpaceId": space, **params},
                                     json_body=body)
        except AnswerLost as lost:
            return _lost(device, action, lost)
        if reply.status in LOST_STATUSES:
            return _lost_reply(device, action, reply)
        if not reply.ok:
            return ActionResult(device.mdm_device_id, action, Outcome.FAILED, message=mi_error(reply),
                                http_status=reply.status, request_id=reply.request_id)
        result = _judge_bulk(device, action, reply, kind)
        if result.mdm_code == SUCCESS_KEY:
            result = await self._trust_success(device, result)
        return result

    async def _trust_success(self, device: DeviceRef, result: ActionResult) -> ActionResult:
        """Core's success entry holds only for a device that still has its MDM profile."""
        try:
            row, _reply = await self._lookup(device.mdm_device_id)
        except DEVICE_LEVEL_ERRORS as exc:
            log.info("MobileIron: state of %s after the command not read: %s", device.mdm_device_id, exc)
            return result
        wiped = result.action is Action.WIPE and str(row.get(STATUS_FIELD) if row else "").upper() == STATUS_WIPED
        if row is not None and mapping.flag(row.get(MANAGED_FIELD)) is False and not wiped:
            result.outcome = Outcome.FAILED
            result.message = _unmanaged_text(row)
        return result

    async def _lookup(self, uuid: str, fields: str = f"{ID_FIELD},{STATUS_FIELD},{MANAGED_FIELD}"
                      ) -> tuple[Json | None, Reply]:
        """One device's search fields (None when Core has no such device)."""
        space = await self.space()
        params = {"adminDeviceSpaceId": space, "fields": fields, "limit": 1, "offset": 0,
                  "query": f'"{ID_FIELD}" = "{uuid}"'}
        reply = await self._call("GET", SEARCH, params=params)
        self._expect_ok(reply, f"read the status of device {uuid}")
        rows = reply.body.get("results") if isinstance(reply.body, dict) else None
        if not isinstance(rows, list):
            raise ProtocolError("MobileIron Core's device search answer has no 'results' list")
        mine = [r for r in rows if isinstance(r, dict) and r.get(ID_FIELD) == uuid]
        return (mine[0] if mine else None), reply

    async def device_gone(self, mdm_device_id: str) -> bool:
        """True when a search for the device's uuid finds nothing in Core."""
        row, _reply = await self._lookup(mdm_device_id, ID_FIELD)
        return row is None

    async def follow_up(self, device: DeviceRef, pending: ActionResult) -> ActionResult:
        """Judged by the device's state: a wipe is done once Core shows it WIPED; a cleared passcode once
        its details say no passcode; a device without the MDM profile never gets the command; a lock
        leaves no state to read."""
        if pending.action is Action.LOCK:
            return pending
        row, reply = await self._lookup(device.mdm_device_id)
        if row is None:
            return _redo(pending, Outcome.UNKNOWN, "the device is no longer in MobileIron Core", reply)
        status = str(row.get(STATUS_FIELD) or "")
        if pending.action is Action.WIPE and status.upper() == STATUS_WIPED:
            return _redo(pending, Outcome.SUCCEEDED, f"MobileIron Core shows the device {status}", reply, status)
        if mapping.flag(row.get(MANAGED_FIELD)) is False:
            return _redo(pending, Outcome.FAILED, _unmanaged_text(row), reply, status)
        if pending.action is Action.RESET_PASSCODE:
            return await self._passcode_state(device, pending, reply)
        return _redo(pending, Outcome.PENDING, f"MobileIron Core shows the device {status or 'without a status'}",
                     reply, status)

    async def _passcode_state(self, device: DeviceRef, pending: ActionResult, reply: Reply) -> ActionResult:
        present = mapping.flag((await self.details(device.mdm_device_id)).get("PasscodePresent"))
        if present is False:
            return _redo(pending, Outcome.SUCCEEDED, "MobileIron Core's details show no passcode on the device", reply)
        return _redo(pending, Outcome.PENDING, "MobileIron Core's details still show a passcode", reply)


def _judge_bulk(device: DeviceRef, action: Action, reply: Reply, kind: str) -> ActionResult:
    """Each device is judged by its own entry in deviceResults, never by the overall 'successful'."""
    results = reply.body.get("deviceResults") if isinstance(reply.body, dict) else None
    entry = results.get(device.mdm_device_id) if isinstance(results, dict) else None
    if entry is None:
        return ActionResult(device.mdm_device_id, action, Outcome.UNKNOWN, http_status=reply.status,
                            request_id=reply.request_id, reference=kind,
                            message="MobileIron Core's answer has no result for this device: check it in Core")
    ok = entry == SUCCESS_KEY
    outcome = (Outcome.PENDING if action is Action.WIPE else Outcome.SUCCEEDED) if ok else Outcome.FAILED
    message = "Core accepted the command" if ok else f"Core reports: {_readable(entry)}"
    return ActionResult(device.mdm_device_id, action, outcome, message=message, mdm_code=str(entry),
                        http_status=reply.status, request_id=reply.request_id, reference=kind)


def _readable(key: str) -> str:
    """'com.mobileiron.vsp.messages.device.action.failed.device.not.mdm.managed' -> words."""
    tail = str(key).rsplit("device.action.", 1)[-1]
    words = tail.replace(".", " ")
    if "not mdm managed" in words:
        return f"{words} (the MDM profile was removed from the device)"
    return words


def _v1_message(reply: Reply) -> str | None:
    msgs = reply.body.get("messages") if isinstance(reply.body, dict) else None
    return str(msgs.get("message")) if isinstance(msgs, dict) and msgs.get("message") else None


def _lost(device: DeviceRef, action: Action, lost: AnswerLost) -> ActionResult:
    return ActionResult(device.mdm_device_id, action, Outcome.UNKNOWN, message=str(lost), request_id=lost.request_id)


def _lost_reply(device: DeviceRef, action: Action, reply: Reply) -> ActionResult:
    """A server error after the request may have reached Core: no proof either way."""
    return ActionResult(device.mdm_device_id, action, Outcome.UNKNOWN, http_status=reply.status,
                        request_id=reply.request_id,
                        message=f"MobileIron Core answered HTTP {reply.status} ({mi_error(reply)}); the command "
                                "may have been carried out")


def _unmanaged_text(row: Json) -> str:
    status = str(row.get(STATUS_FIELD) or "unknown")
    return (f"not carried out: the device has no MDM profile (common.mdm_managed false, status {status}); Core "
            "reports success for such devices although the command cannot reach them")


def _redo(pending: ActionResult, outcome: Outcome, message: str, reply: Reply, code: str | None = None) -> ActionResult:
    return ActionResult(pending.mdm_device_id, pending.action, outcome, message=message, mdm_code=code,
                        http_status=reply.status, request_id=reply.request_id, reference=pending.reference)


# ------------------------------------------------------------------------------ the system spec


def _device_space(value: int) -> int:
    if value < 1:
        raise ValueError(f"device space id must be 1 or more (1 = global), got {value}")
    return value


# MobileIron Core's v2 maximum page is not documented publicly; 200 is the value its API guide uses.
SPEC = spec.declare(spec.SystemSpec(
    system=System.MOBILEIRON, label="MobileIron Core", short="MobileIron",
    options=(
        spec.USER, spec.PASSWORD,
        spec.Option("device_space_id", "Admin device space id", type=int, flag="device-space", metavar="ID",
                    help="admin device space id (default: discovered)", validate=_device_space, in_form=False),
    ),
    page_limit=PAGE_SIZE, os_classes=mapping.SYSTEM_CLASSES[System.MOBILEIRON], check=spec.check_credentials,
    required_secret="password",
))
