"""The vendor Smart Device Manager (SDM): mdmtui's own contract (MDM-APIS.md section 3) and the
software database service that sdm_import.properties points at."""

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
from .ids import colon_mac, stable_int
from .jsontext import HHMM, SSZ, iso_day
from .web import Service, draw_of, dumps, json_response

COMMAND_TYPES = ("lock", "wipe", "passcodeReset")
MAX_LIMIT = 500
PROFILE_REMOVED_ERROR = "The MDM profile has been removed from the device; the command could not be delivered."


@dataclass
class SdmConfig:
    """Connection facts of the simulated SDM (`sim.sdm`)."""

    base_url: str = ""
    user: str = "JP1MDM00101@server01.jp1mdm.hitachi.jp"
    password: str = ""
    db_host: str = "127.0.0.1"
    db_port: int = 0
    software_url: str = ""
    command_step: float = 1.0          # seconds per lifecycle step: queued -> sent -> succeeded|failed
    commands: dict = field(default_factory=dict)


def _iso(ts: float | None) -> str | None:
    return None if ts is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


_UNSAFE = re.compile(r"[^0-9A-Za-z_.-]")


def list_name(p: dict) -> str:
    """The SDM list name: at most 128 bytes of 0-9A-Za-z_-. (the manual's rule)."""
    base = f"{p['model']}_{p['login']}"
    return _UNSAFE.sub("-", base)[:128]


def wire_device(p: dict, device_id: str) -> dict:
    """One device in the SDM contract; older managers do not report Android serial or passcode."""
    apple = p["manufacturer"] == "Apple"
    old = p["manager_version"] < "11-00-04"
    android = not apple
    return {
        "deviceId": device_id, "listName": list_name(p), "user": p["user_name"], "phoneNumber": p["phone"] or None,
        "email": p["email"], "os": p["os"], "osVersion": p["os_version"], "manufacturer": p["manufacturer"],
        "model": p["model"], "serialNumber": None if (android and old) else p["serial"],
        "imei": p["imei"] or None, "udid": p["udid"] if apple else None, "imsi": p["imsi"] or None,
        "iccid": p["iccid"] or None, "carrier": p["carrier"],
        "passcodeSet": None if (android and old) else p["passcode"],
        "ramTotalBytes": p["ram"] if android else None, "ramFreeBytes": p["ram_free"] if android else None,
        "internalTotalBytes": p["storage_total"], "internalFreeBytes": p["storage_free"],
        "sdCardTotalBytes": (p["sd_total"] or None) if android else None,
        "sdCardFreeBytes": (p["sd_free"] if p["sd_total"] else None) if android else None,
        "wifiMac": colon_mac(p["wifi_mac"]) if p["wifi_mac"] else None,
        "hostName": p["host_name"] if apple else None, "lastContact": _iso(p["last_sync"]),
        "managed": not p.get("profile_removed") and not p.get("wiped"), "managerVersion": p["manager_version"],
    }


def _n(value) -> str:
    """JSON text of None, a bool or an int."""
    return "null" if value is None else ("true" if value is True else "false" if value is False else str(value))


def _q(text: str | None) -> str:
    """JSON text of None or an escape-free string."""
    return "null" if text is None else '"' + text + '"'


def wire_text(p: dict, device_id: str) -> str:
    """wire_device's JSON text for a device without an overlay (not wiped, profile in place);
    profile strings come from escape-free tables, digits and hex (tested)."""
    apple = p["manufacturer"] == "Apple"
    strip = not apple and p["manager_version"] < "11-00-04"      # older managers: Android serial, passcode
    wifi, last, sd_total = p["wifi_mac"], p["last_sync"], p["sd_total"]
    if type(last) is int and last >= 0:
        day, secs = divmod(last, 86_400)
        minute, sec = divmod(secs, 60)
        contact = '"' + iso_day(day) + HHMM[minute] + SSZ[sec] + '"'
    else:
        contact = _q(_iso(last))
    if wifi:
        m = wifi.lower()
        wifi = f'"{m[0:2]}:{m[2:4]}:{m[4:6]}:{m[6:8]}:{m[8:10]}:{m[10:12]}"'
    else:
        wifi = "null"
    return (f'{{"deviceId":"{device_id}","listName":"{list_name(p)}","user":"{p["user_name"]}",'
            f'"phoneNumber":{_q(p["phone"] or None)},"email":"{p["email"]}","os":"{p["os"]}",'
            f'"osVersion":"{p["os_version"]}","manufacturer":"{p["manufacturer"]}","model":"{p["model"]}",'
            f'"serialNumber":{"null" if strip else _q(p["serial"])},"imei":{_q(p["imei"] or None)},'
            f'"udid":{_q(p["udid"]) if apple else "null"},"imsi":{_q(p["imsi"] or None)},'
            f'"iccid":{_q(p["iccid"] or None)},"carrier":{_q(p["carrier"])},'
            f'"passcodeSet":{"null" if strip else _n(p["passcode"])},'
            f'"ramTotalBytes":{"null" if apple else p["ram"]},"ramFreeBytes":{"null" if apple else p["ram_free"]},'
            f'"internalTotalBytes":{p["storage_total"]},"internalFreeBytes":{p["storage_free"]},'
            f'"sdCardTotalBytes":{"null" if apple else _n(sd_total or None)},'
            f'"sdCardFreeBytes":{"null" if apple else _n(p["sd_free"] if sd_total else None)},'
            f'"wifiMac":{wifi},"hostName":{_q(p["host_name"]) if apple else "null"},"lastContact":{contact},'
            f'"managed":true,"managerVersion":"{p["manager_version"]}"}}')


class _SdmBase(Service):
    mdm = "sdm"

    def error(self, request, status, code, message, headers=None) -> Response:
        return json_response({"error": message}, status, headers)

    def paging(self, request: Request) -> tuple[int, int]:
        """offset and limit, validated."""
        q = request.query_params
        offset, limit = int(q.get("offset", 0)), int(q.get("limit", 100))
        if offset < 0 or not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"offset must be >= 0 and limit between 1 and {MAX_LIMIT}")
        if offset and draw_of(request).hit("repeat_page"):
            offset = max(0, offset - limit)
        return offset, limit


class SdmService(_SdmBase):
    """/sdm/api/v1: devices and the command lifecycle, Basic auth."""

    def routes(self) -> list[Route]:
        r = self.route
        return [
            r("/sdm/api/v1/devices", "sdm_devices", self.devices, ["GET"]),
            r("/sdm/api/v1/devices/{device_id}", "sdm_device", self.device, ["GET"]),
            r("/sdm/api/v1/devices/{device_id}/commands", "commands", self.command, ["POST"]),
            r("/sdm/api/v1/devices/{device_id}/commands", "device_commands", self.device_commands, ["GET"]),
            r("/sdm/api/v1/commands/{command_id}", "command_status", self.command_status, ["GET"]),
        ]

    def auth(self, request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        ok = False
        if header.lower().startswith("basic "):
            try:
                user, _, pwd = base64.b64decode(header[6:]).decode().partition(":")
                ok = (user, pwd) == (self.cfg.user, self.cfg.password)
            except ValueError:
                ok = False
        if ok:
            return None
        return self.error(request, 401, "Unauthorized", "Authentication failed", {"WWW-Authenticate": 'Basic realm="SDM"'})

    def device_slot(self, request: Request) -> tuple[int, Response | None]:
        """The slot of the path's device, or the 401/404 answer."""
        bad = self.auth(request)
        if bad:
            return -1, bad
        slot = self.fleet.slot_of(request.path_params["device_id"])
        if slot is None:
            return -1, self.error(request, 404, "NotFound", f"Device not found: {request.path_params['device_id']}")
        return slot, None

    async def devices(self, request: Request) -> Response:
        """GET /devices?offset=&limit= -> {"total", "devices"}."""
        bad = self.auth(request)
        if bad:
            return bad
        try:
            offset, limit = self.paging(request)
            since = _changed_since(request.query_params.get("changedSince"))
        except ValueError as exc:
            return self.error(request, 400, "BadRequest", str(exc))
        if since is not None:
            return self._changed_page(offset, limit, since)
        out: list[bytes] = []
        fleet = self.fleet
        first = fleet.nth_slot(offset)
        if first is not None:
            pristine, id_of = fleet.pristine, fleet.id_of
            for slot in fleet.live_slots(first):
                if len(out) == limit:
                    break
                p = pristine(slot)
                if p is not None:
                    out.append(wire_text(p, id_of(slot)).encode())
                else:
                    out.append(dumps(wire_device(fleet.profile(slot), id_of(slot))))
        body = b"".join((b'{"total":%d,"devices":[' % fleet.count(), b",".join(out), b"]}"))
        return Response(body, media_type="application/json")

    def _changed_page(self, offset: int, limit: int, since: float) -> Response:
        """The devices whose last contact is after `since`, paged like the whole list."""
        fleet = self.fleet
        slots = [s for s in fleet.live_slots() if (fleet.last_sync(s) or 0) > since]
        out = [dumps(wire_device(fleet.profile(s), fleet.id_of(s))) for s in slots[offset:offset + limit]]
        return Response(b"".join((b'{"total":%d,"devices":[' % len(slots), b",".join(out), b"]}")),
                        media_type="application/json")

    async def device(self, request: Request) -> Response:
        """GET /devices/{deviceId}."""
        slot, bad = self.device_slot(request)
        if bad:
            return bad
        p = self.fleet.pristine(slot)
        if p is not None:
            return Response(wire_text(p, self.fleet.id_of(slot)).encode(), media_type="application/json")
        return json_response(wire_device(self.fleet.profile(slot), self.fleet.id_of(slot)))

    async def command(self, request: Request) -> Response:
        """POST /devices/{deviceId}/commands {"type"} -> 202 {"commandId", "state": "queued"}."""
        slot, bad = self.device_slot(request)
        if bad:
            return bad
        try:
            kind = json.loads(await request.body())["type"]
        except (ValueError, KeyError, TypeError):
            kind = None
        if kind not in COMMAND_TYPES:
            return self.error(request, 400, "BadRequest", f"type must be one of {', '.join(COMMAND_TYPES)}")
        n = len(self.cfg.commands)
        cid = f"cmd-{stable_int(self.sim.seed, 'cmd', n) & 0xFFFFFFFFFFFF:012x}-{n}"
        self.cfg.commands[cid] = {"slot": slot, "type": kind, "created": time.time(),
                                  "client_request_id": request.headers.get("client-request-id")}
        return json_response({"commandId": cid, "state": "queued"}, 202)

    async def device_commands(self, request: Request) -> Response:
        """GET /devices/{deviceId}/commands: the device's commands, oldest first, each with the
        client-request-id header its POST carried (how a client finds a command whose answer it lost)."""
        slot, bad = self.device_slot(request)
        if bad:
            return bad
        items = []
        for cid, cmd in list(self.cfg.commands.items()):
            if cmd["slot"] == slot:
                items.append({**self.advance(cid, cmd), "type": cmd["type"], "clientRequestId": cmd["client_request_id"],
                              "createdAt": _iso(cmd["created"])})
        return json_response({"commands": items})

    async def command_status(self, request: Request) -> Response:
        """GET /commands/{commandId}: state moves on with time; the outcome is applied once."""
        bad = self.auth(request)
        if bad:
            return bad
        cid = request.path_params["command_id"]
        cmd = self.cfg.commands.get(cid)
        if cmd is None:
            return self.error(request, 404, "NotFound", f"Command not found: {cid}")
        return json_response(self.advance(cid, cmd))

    def advance(self, cid: str, cmd: dict) -> dict:
        """Where the command is in its lifecycle; applies the effect when it completes."""
        steps = (time.time() - cmd["created"]) / self.cfg.command_step if self.cfg.command_step else 2
        if steps < 1:
            return {"commandId": cid, "state": "queued"}
        if steps < 2:
            return {"commandId": cid, "state": "sent"}
        if "outcome" not in cmd:
            cmd["outcome"] = self._complete(cmd)
        out = {"commandId": cid, "state": "failed" if cmd["outcome"] else "succeeded"}
        if cmd["outcome"]:
            out["error"] = cmd["outcome"]
        return out

    def _complete(self, cmd: dict) -> str | None:
        slot = cmd["slot"]
        if not self.fleet.exists(slot):
            return "The device is no longer managed by this SDM."
        prof = self.fleet.profile(slot)
        if prof.get("profile_removed") or prof.get("wiped"):   # a wiped device has lost its profile too
            return PROFILE_REMOVED_ERROR
        now = int(time.time())
        if cmd["type"] == "wipe":
            self.fleet.update(slot, wiped=True)
        elif cmd["type"] == "lock":
            self.fleet.update(slot, locked_at=now, last_sync=now)
        else:
            self.fleet.update(slot, passcode=False, last_sync=now)
        return None

    def truth(self, slot: int) -> dict:
        """The device as GET /devices/{id} shows it."""
        return wire_device(self.fleet.profile(slot), self.fleet.id_of(slot))


class SoftwareService(_SdmBase):
    """The SDM's software database service: GET /software?deviceId=&offset=&limit= (no auth)."""

    def routes(self) -> list[Route]:
        return [self.route("/software", "software", self.software, ["GET"])]

    async def software(self, request: Request) -> Response:
        """{"total", "items": [{"name", "version", "manufacturer"}]}."""
        device_id = request.query_params.get("deviceId", "")
        slot = self.fleet.slot_of(device_id)
        if slot is None:
            return self.error(request, 404, "NotFound", f"Device not found: {device_id}")
        try:
            offset, limit = self.paging(request)
        except ValueError as exc:
            return self.error(request, 400, "BadRequest", str(exc))
        cat = catalog_for(self.fleet.os_of(slot))
        apps = sorted(self.fleet.apps(slot))
        items = [{"name": cat[i].name, "version": cat[i].versions[v], "manufacturer": cat[i].publisher}
                 for i, v in apps[offset:offset + limit]]
        return json_response({"total": len(apps), "items": items})


_SINCE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)$")


def _changed_since(raw: str | None) -> float | None:
    """`changedSince`: an ISO 8601 instant with its offset (a local time without one is refused)."""
    if raw is None:
        return None
    if not _SINCE.match(raw):
        raise ValueError("changedSince must be an ISO 8601 time with its UTC offset, e.g. 2026-01-31T02:00:00Z")
    return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
