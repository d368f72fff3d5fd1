"""The vendor Smart Device Manager (SDM).

The SDM's wire protocol is not public: mdmtui defines it (MDM-APIS.md section 3) and keeps the
whole contract in this module — paths, parameters, field names, command types and states — so it
can be adapted to a real SDM in one place. Software comes from the SDM's database service at the
host and port of ``sdm_import.properties`` (``LinkageConfig.sdm_db_host/sdm_db_port``; None means
software is not configured, so ``software`` stays None).
"""

from __future__ import annotations

import asyncio
import logging
import re
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
from mdmtui.records import (Action, ActionResult, DeviceRecord, DeviceRef, Outcome, SoftwareItem, System,
                            WipeOptions)

log = logging.getLogger("mdmtui.connectors.sdm")

# --- the SDM wire contract (one place to adapt to a real SDM) ---------------------------------------
API_PREFIX = "/sdm/api/v1"
DEVICES = "/devices"  # GET ?offset=&limit= -> {"total": N, "devices": [...]}
COMMANDS = "/devices/{device_id}/commands"  # POST {"type": ...} -> 202 {"commandId", "state"}
COMMAND = "/commands/{command_id}"  # GET -> {"commandId", "state", "error"?, "newPasscode"?}
DEVICE = "/devices/{device_id}"  # GET -> one device, 404 when the SDM no longer has it
# GET -> {"commands": [{"commandId", "type", "state", "clientRequestId", "createdAt", "error"?}]}: the SDM
# keeps the client-request-id header of each POST, so a command whose answer was lost can be found
DEVICE_COMMANDS = "/devices/{device_id}/commands"
CLIENT_REQUEST_ID_KEY = "clientRequestId"
# Server errors after the request may have reached the SDM: no proof that the command was rejected.
LOST_STATUSES = frozenset({500, 502, 503, 504})
ID_FIELD = "deviceId"
LIST_KEY, TOTAL_KEY = "devices", "total"
PAGE_SIZE = 500
COMMAND_TYPES = {Action.LOCK: "lock", Action.WIPE: "wipe", Action.RESET_PASSCODE: "passcodeReset"}
COMMAND_STATES = {"queued": Outcome.PENDING, "sent": Outcome.PENDING, "succeeded": Outcome.SUCCEEDED,
                  "failed": Outcome.FAILED}
NEW_PASSCODE_KEY = "newPasscode"  # a passcode reset that sets a new passcode reports it here
# The software database service (sdm_import.properties: sdm.N.dbhost / sdm.N.dbport)
SOFTWARE = "/software"  # GET ?deviceId=&offset=&limit= -> {"total": N, "items": [{name, version, manufacturer}]}
SOFTWARE_PAGE = 500
DEFAULT_DB_PORT = 26066
DEVICE_LEVEL_ERRORS = (ProtocolError, NotFoundError, MdmRequestError, Throttled)


def sdm_error(reply: Reply) -> str:
    """The SDM's error text."""
    body = reply.body if isinstance(reply.body, dict) else {}
    return str(body.get("error") or body.get("message") or f"HTTP {reply.status}")


@register(System.SDM.value)
class SdmConnector:
    """The vendor SDM over mdmtui's SDM contract, HTTP Basic."""

    system = System.SDM.value

    def __init__(self, config: LinkageConfig, *, http: HttpLayer | None = None,
                 software_http: HttpLayer | None = None) -> None:
        if not (config.user and config.password):
            raise ConfigurationError(f"linkage {config.name!r} needs the SDM user ID and password")
        self.config = config
        self.base = config.server_url.rstrip("/") + API_PREFIX
        auth = httpx.BasicAuth(config.user, config.password.reveal())
        self.http = http or HttpLayer(config, mdm="SDM", auth=auth)
        self.software_http = software_http or (HttpLayer(config, mdm="SDM software database")
                                               if config.sdm_db_host else None)
        self.page_size = min(config.page_size or PAGE_SIZE, PAGE_SIZE)
        self.warnings: list[str] = []
        self.refresh_days = churn.refresh_days_of(config.extra)
        self._now = time.time()  # the SDM's clock, from the list answer's Date header (churn.py)
        self.since = churn.changed_since(config.extra)
        self.listed_at: float | None = None  # the SDM's clock at the listing's first answer (the run's start)

    @property
    def software_url(self) -> str | None:
        """The software service's endpoint, or None when sdm_import.properties names no host for it."""
        if not self.config.sdm_db_host:
            return None
        scheme = self.config.extra.get("sdm_db_scheme", "http")
        port = self.config.sdm_db_port or DEFAULT_DB_PORT
        return f"{scheme}://{self.config.sdm_db_host}:{port}{SOFTWARE}"

    async def aclose(self) -> None:
        """Close the HTTP clients."""
        await self.http.aclose()
        if self.software_http is not None:
            await self.software_http.aclose()

    # --- requests -------------------------------------------------------------------------------------
    async def _call(self, method: str, path: str, *, idempotent: bool = True, **kw: Any) -> Reply:
        reply = await self.http.request(method, f"{self.base}{path}", idempotent=idempotent, **kw)
        if reply.status in (401, 403):
            raise AuthenticationFailed(f"the SDM rejected the user ID ({sdm_error(reply)}): check the user ID "
                                       "(administrator rights) and password of the linkage")
        return reply

    def _expect_ok(self, reply: Reply, what: str) -> None:
        if reply.ok:
            return
        message = f"the SDM could not {what} (HTTP {reply.status}: {sdm_error(reply)})"
        if reply.status == 404:
            raise NotFoundError(message)
        raise MdmRequestError(message, status=reply.status, request_id=reply.request_id)

    async def test_connection(self) -> str:
        """Read one device page entry: proves host, port and credentials."""
        _rows, total = await self._page(0, 1)
        return f"SDM at {self.config.server_url}: signed in, {total} devices"

    # --- collection -------------------------------------------------------------------------------------
    async def iter_device_pages(self, known: Mapping[str, str | None]) -> AsyncIterator[list[DeviceRecord]]:
        """Stream every device; read software (when configured) only for new or changed devices."""
        self.warnings, self.listed_at = [], None
        if not self.software_url:
            self._warn("software not collected: sdm_import.properties has no entry for this linkage "
                       "(sdm.N.name / sdm.N.dbhost / sdm.N.dbport)")

        phases = churn.Phases(known, self.refresh_days)  # the rolling refresh's slots (churn.py)

        async def fetch(offset: int) -> tuple[list[Any], int | None]:
            return await self._page(offset, self.page_size)

        async for rows in offset_pages(fetch, ID_FIELD, "the SDM"):
            yield await self._records(rows, phases)

    async def _page(self, offset: int, limit: int) -> tuple[list[Any], int | None]:
        params: Json = {"offset": offset, "limit": limit}
        if self.since is not None:  # a changed-only run: our contract's changedSince (README, SDM contract)
            params["changedSince"] = churn.iso_utc(self.since)
        reply = await self._call("GET", DEVICES, params=params)
        self._expect_ok(reply, "list devices")
        self._now = churn.server_now(reply.headers)
        if offset == 0 and self.listed_at is None:
            self.listed_at = self._now
        body = reply.body
        if not isinstance(body, dict) or not isinstance(body.get(LIST_KEY), list):
            raise ProtocolError(f"the SDM's device list has no '{LIST_KEY}' list: check the server URL and port")
        total = body.get(TOTAL_KEY)
        return body[LIST_KEY], total if isinstance(total, int) else None

    async def _records(self, rows: list[Json], phases: churn.Phases) -> list[DeviceRecord]:
        # software moves without any listed field: read it for new and changed devices and on the rolling period
        markers = {r[ID_FIELD]: phases.marker(r, r[ID_FIELD], self._now) for r in rows}
        changed = [i for i, m in markers.items() if phases.due(i, m).any]
        apps = await self._software_of(changed)
        fetch = set(changed)
        return [self._record(r, markers[r[ID_FIELD]], apps.get(r[ID_FIELD]), r[ID_FIELD] in fetch) for r in rows]

    def _record(self, row: Json, marker: str, apps: list[SoftwareItem] | None, changed: bool) -> DeviceRecord:
        os_class = mapping.sdm_os_class(row.get("os"))
        if os_class is None:
            raise ProtocolError(f"the SDM reports device {row[ID_FIELD]} with OS {row.get('os')!r}, which is "
                                "neither iOS/iPadOS nor Android")
        record = mapping.map_device(System.SDM, os_class, row, mdm_device_id=row[ID_FIELD], change_marker=marker,
                                    name_mapping=self.config.name_mapping, sdm_version=self.config.sdm_version)
        record.software = apps
        if not self.software_url or (changed and apps is None):
            # software not read (not configured, or it failed): read it again next time
            record.change_marker = None
        return record

    # --- software (the database service) ------------------------------------------------------------------
    async def _software_of(self, ids: list[str]) -> dict[str, list[SoftwareItem]]:
        if not self.software_url or not ids:
            return {}
        results = await asyncio.gather(*(self._software_or_none(i) for i in ids))
        got = {i: s for i, s in zip(ids, results) if s is not None}
        if len(got) < len(ids):
            self._warn(f"the software of {len(ids) - len(got)} changed devices could not be read; they keep their "
                       "stored software and are read again at the next collection")
        return got

    async def _software_or_none(self, device_id: str) -> list[SoftwareItem] | None:
        try:
            return await self._read_software(device_id)
        except DEVICE_LEVEL_ERRORS as exc:
            log.info("SDM: software of %s not read: %s", device_id, exc)
            return None

    async def _read_software(self, device_id: str) -> list[SoftwareItem]:
        items: list[SoftwareItem] = []
        offset, total = 0, None
        while total is None or offset < total:
            page, total = await self._software_page(device_id, offset)
            if not page:
                break
            items.extend(s for s in map(_software, page) if s is not None)
            offset += len(page)
        return items

    async def _software_page(self, device_id: str, offset: int) -> tuple[list[Any], int]:
        assert self.software_http is not None and self.software_url is not None
        reply = await self.software_http.request(
            "GET", self.software_url, params={"deviceId": device_id, "offset": offset, "limit": SOFTWARE_PAGE})
        if not reply.ok:
            message = f"the SDM software database could not list the software of {device_id} ({sdm_error(reply)})"
            if reply.status == 404:
                raise NotFoundError(message)
            raise MdmRequestError(message, status=reply.status, request_id=reply.request_id)
        body = reply.body
        if not isinstance(body, dict) or not isinstance(body.get("items"), list) or not isinstance(body.get("total"), int):
            raise ProtocolError("the SDM software database answered without 'items' and 'total': check the "
                                "dbhost/dbport of sdm_import.properties")
        return body["items"], body["total"]

    async def software(self, device: DeviceRef) -> list[SoftwareItem]:
        """The software of one device, from the SDM's database service."""
        if not self.software_url:
            raise ConfigurationError(f"no software database is defined for linkage {self.config.name!r}: add it "
                                     "to sdm_import.properties (sdm.N.name / sdm.N.dbhost / sdm.N.dbport)")
        return await self._read_software(device.mdm_device_id)

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        log.warning("SDM: %s", message)

    # --- actions ------------------------------------------------------------------------------------------
    async def lock(self, device: DeviceRef) -> ActionResult:
        """Send the lock command."""
        return await self._command(device, Action.LOCK)

    async def wipe(self, device: DeviceRef, options: WipeOptions) -> ActionResult:
        """Send the wipe command (the SDM contract has no wipe options)."""
        return await self._command(device, Action.WIPE)

    async def reset_passcode(self, device: DeviceRef) -> ActionResult:
        """Send the passcode reset command."""
        return await self._command(device, Action.RESET_PASSCODE)

    async def _command(self, device: DeviceRef, action: Action) -> ActionResult:
        path = COMMANDS.format(device_id=quote(device.mdm_device_id, safe=""))
        try:
            reply = await self._call("POST", path, idempotent=False, json_body={"type": COMMAND_TYPES[action]})
        except AnswerLost as lost:
            return ActionResult(device.mdm_device_id, action, Outcome.UNKNOWN, message=str(lost),
                                request_id=lost.request_id)
        if reply.status in LOST_STATUSES:
            return ActionResult(device.mdm_device_id, action, Outcome.UNKNOWN, http_status=reply.status,
                                request_id=reply.request_id,
                                message=f"the SDM answered HTTP {reply.status} ({sdm_error(reply)}); the command "
                                        "may have been queued")
        body = reply.body if isinstance(reply.body, dict) else {}
        if reply.ok and isinstance(body.get("commandId"), str):
            state = str(body.get("state") or "queued")
            return ActionResult(device.mdm_device_id, action, COMMAND_STATES.get(state, Outcome.PENDING),
                                message=f"the SDM queued the command ({state})", mdm_code=state,
                                http_status=reply.status, request_id=reply.request_id, reference=body["commandId"])
        message = sdm_error(reply) if not reply.ok else "the SDM accepted the command without a command id"
        if reply.status == 404:
            message = f"the device no longer exists in the SDM ({message})"
        return ActionResult(device.mdm_device_id, action, Outcome.FAILED if not reply.ok else Outcome.UNKNOWN,
                            message=message, http_status=reply.status, request_id=reply.request_id)

    async def follow_up(self, device: DeviceRef, pending: ActionResult) -> ActionResult:
        """Poll the command: queued / sent -> pending; succeeded; failed with the SDM's error text.
        A command whose answer was lost (no command id) is looked up among the device's commands by
        the client-request-id it was sent with."""
        if not pending.reference:
            return await self._find_lost(device, pending)
        reply = await self._call("GET", COMMAND.format(command_id=quote(pending.reference, safe="")))
        self._expect_ok(reply, f"report command {pending.reference}")
        body = reply.body if isinstance(reply.body, dict) else {}
        return self._command_state(pending, body, reply, pending.reference)

    async def _find_lost(self, device: DeviceRef, pending: ActionResult) -> ActionResult:
        if not pending.request_id:
            return pending
        reply = await self._call("GET", DEVICE_COMMANDS.format(device_id=quote(device.mdm_device_id, safe="")))
        self._expect_ok(reply, f"list the commands of device {device.mdm_device_id}")
        listed = reply.body.get("commands") if isinstance(reply.body, dict) else None
        if not isinstance(listed, list):
            raise ProtocolError("the SDM's command list has no 'commands' list")
        mine = [c for c in listed if isinstance(c, dict) and c.get(CLIENT_REQUEST_ID_KEY) == pending.request_id
                and isinstance(c.get("commandId"), str)]
        if not mine:
            return ActionResult(pending.mdm_device_id, pending.action, Outcome.PENDING, http_status=reply.status,
                                request_id=reply.request_id,
                                message="the SDM lists no command sent with this request's client-request-id")
        return self._command_state(pending, mine[0], reply, mine[0]["commandId"])

    def _command_state(self, pending: ActionResult, body: Json, reply: Reply, command_id: str) -> ActionResult:
        state = str(body.get("state") or "")
        if state not in COMMAND_STATES:
            raise ProtocolError(f"the SDM reports command {command_id} in an unknown state {state!r}")
        outcome = COMMAND_STATES[state]
        message = str(body.get("error") or "") if outcome is Outcome.FAILED else f"the SDM reports the command {state}"
        passcode = body.get(NEW_PASSCODE_KEY) if pending.action is Action.RESET_PASSCODE else None
        return ActionResult(pending.mdm_device_id, pending.action, outcome, message=message or "failed",
                            mdm_code=state, http_status=reply.status, request_id=reply.request_id,
                            reference=command_id, new_passcode=str(passcode) if passcode else None)

    async def device_gone(self, mdm_device_id: str) -> bool:
        """True when GET /devices/{id} answers 404: the SDM no longer has the device."""
        reply = await self._call("GET", DEVICE.format(device_id=quote(mdm_device_id, safe="")))
        if reply.status == 404:
            return True
        self._expect_ok(reply, f"read device {mdm_device_id}")
        return False


def _software(item: object) -> SoftwareItem | None:
    if not isinstance(item, dict):
        return None
    name = mapping.text(item.get("name"))
    if name is None:
        return None
    return SoftwareItem(name=name, version=mapping.text(item.get("version")),
                        vendor=mapping.text(item.get("manufacturer")))


# ------------------------------------------------------------------------------ the system spec

NAME_MAPPINGS = ("list", "User:PhoneNumber:Model")
_SDM_VERSION = re.compile(r"^\d{2}-\d{2}-\d{2}$")


def _version(value: str) -> str:
    if not _SDM_VERSION.match(value):
        raise ValueError(f"SDM version must look like 11-00-04, got '{value}'")
    return value


def _name_mapping(value: str) -> str:
    if value not in NAME_MAPPINGS:
        raise ValueError(f"name mapping must be 'list' or 'User:PhoneNumber:Model', got '{value}'")
    return value


SPEC = spec.declare(spec.SystemSpec(
    system=System.SDM, label="SDM", short="SDM",
    options=(
        spec.USER, spec.PASSWORD,
        spec.Option("sdm_version", "SDM version (e.g. 11-00-04)", help="version such as 11-00-04",
                    metavar="VERSION", validate=_version),
        spec.Option("name_mapping", "SDM name mapping (list or User:PhoneNumber:Model)", default="list",
                    choices=NAME_MAPPINGS, validate=_name_mapping,
                    help="computer name from the list name (default) or User:PhoneNumber:Model"),
    ),
    page_limit=PAGE_SIZE, os_classes=mapping.SYSTEM_CLASSES[System.SDM], check=spec.check_credentials,
    default_port=26055, required_secret="password", properties_file=True,
))
