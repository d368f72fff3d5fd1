"""The vendor Smart Device Manager (SDM): mdmtui's own contract (MDM-APIS.md section 3) and the
software database service that sdm_import.properties points at."""

from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .catalog import catalog_for
from .ids import colon_mac, stable_int
from .web import Service, draw_of, json_response

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


def list_name(p: dict) -> str:
    """The SDM list name: at most 128 bytes of 0-9A-Za-z_-. (the manual's rule)."""
    base = f"{p['model']}_{p['login']}"
    return re.sub(r"[^0-9A-Za-z_.-]", "-", base)[:128]


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


class _SdmBase(Service):
    mdm = "sdm"

    def __init__(self, sim, cfg: SdmConfig):
        super().__init__(sim)
        self.cfg = cfg
        self.fleet = sim.fleets["sdm"]

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

    async def devices(self, request: Request) -> Response:
        """GET /devices?offset=&limit= -> {"total", "devices"}."""
        bad = self.auth(request)
        if bad:
            return bad
        try:
            offset, limit = self.paging(request)
        except ValueError as exc:
            return self.error(request, 400, "BadRequest", str(exc))
        out = []
        first = self.fleet.nth_slot(offset)
        if first is not None:
            for slot in self.fleet.live_slots(first):
                if len(out) == limit:
                    break
                out.append(wire_device(self.fleet.profile(slot), self.fleet.id_of(slot)))
        return json_response({"total": self.fleet.count(), "devices": out})

    async def device(self, request: Request) -> Response:
        """GET /devices/{deviceId}."""
        bad = self.auth(request)
        if bad:
            return bad
        slot = self.fleet.slot_of(request.path_params["device_id"])
        if slot is None:
            return self.error(request, 404, "NotFound", f"Device not found: {request.path_params['device_id']}")
        return json_response(wire_device(self.fleet.profile(slot), self.fleet.id_of(slot)))

    async def command(self, request: Request) -> Response:
        """POST /devices/{deviceId}/commands {"type"} -> 202 {"commandId", "state": "queued"}."""
        bad = self.auth(request)
        if bad:
            return bad
        slot = self.fleet.slot_of(request.path_params["device_id"])
        if slot is None:
            return self.error(request, 404, "NotFound", f"Device not found: {request.path_params['device_id']}")
        try:
            kind = json.loads(await request.body())["type"]
        except (ValueError, KeyError, TypeError):
            kind = None
        if kind not in COMMAND_TYPES:
            return self.error(request, 400, "BadRequest", f"type must be one of {', '.join(COMMAND_TYPES)}")
        n = len(self.cfg.commands)
        cid = f"cmd-{stable_int(self.sim.seed, 'cmd', n) & 0xFFFFFFFFFFFF:012x}-{n}"
        self.cfg.commands[cid] = {"slot": slot, "type": kind, "created": time.time()}
        return json_response({"commandId": cid, "state": "queued"}, 202)

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
        if prof.get("profile_removed"):
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
