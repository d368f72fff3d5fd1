"""Scenario operations: add, remove, re-enrol, SIM-swap, touch devices; remove MDM profiles; advance time."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from .budget import BudgetLimits
from .day import DayRates, advance
from .faults import Faults
from .web import dumps, json_response

MDMS = ("intune", "mobileiron", "sdm")


class Admin:
    """`sim.admin`: change the fleets between collections (the same operations exist over HTTP)."""

    def __init__(self, sim):
        self._sim = sim

    def _slot(self, mdm: str, ident: str) -> int:
        slot = self._sim.fleets[mdm].slot_of(ident)
        if slot is None:
            raise KeyError(f"{mdm} has no device {ident}")
        return slot

    def add(self, mdm: str, os: str | None = None) -> str:
        """Enrol a new device; returns its MDM id."""
        fleet = self._sim.fleets[mdm]
        return fleet.id_of(fleet.add(os))

    def remove(self, mdm: str, ident: str) -> None:
        """Delete a device from the MDM."""
        self._sim.fleets[mdm].remove(self._slot(mdm, ident))

    def reenrol(self, mdm: str, ident: str) -> str:
        """Re-enrol the same hardware: new MDM id, same serial, IMEI and UDID; returns the new id."""
        fleet = self._sim.fleets[mdm]
        return fleet.id_of(fleet.reenrol(self._slot(mdm, ident)))

    def sim_swap(self, mdm: str, ident: str) -> None:
        """New SIM: new phone number, ICCID, IMSI (and carrier); same IMEI."""
        self._sim.fleets[mdm].sim_swap(self._slot(mdm, ident))

    def remove_profile(self, mdm: str, ident: str) -> None:
        """The device's MDM profile was removed: commands to it fail from now on."""
        self._sim.fleets[mdm].remove_profile(self._slot(mdm, ident))

    def end_wipe(self, mdm: str, ident: str, how: str) -> None:
        """Intune: the device's current (or next) wipe ends in wipeFailed ("fail") or wipeCanceled
        ("cancel") instead of the record's removal."""
        if mdm != "intune":
            raise ValueError("only Intune reports a wipe's end in managementState")
        self._sim.services[mdm].end_next_wipe(self._slot(mdm, ident), how)

    def apps(self, mdm: str, ident: str) -> list[dict]:
        """The device's installed apps as the MDM knows them (name and version, sorted): the truth the
        per-device and report routes must both give."""
        return self.apps_of_slot(mdm, self._slot(mdm, ident))

    def apps_of_slot(self, mdm: str, slot: int) -> list[dict]:
        """apps() of a live slot."""
        fleet = self._sim.fleets[mdm]
        catalog = fleet.catalog(slot)
        apps = sorted((catalog[i].name, catalog[i].versions[v]) for i, v in fleet.apps(slot))
        return [{"name": name, "version": version} for name, version in apps]

    def touch(self, mdm: str, ident: str) -> None:
        """The device checks in now (last contact / lastSyncDateTime moves)."""
        self._sim.fleets[mdm].touch(self._slot(mdm, ident))

    def advance(self, hours: float = 24, mdm: str | None = None, rates: DayRates | dict | None = None) -> dict:
        """Let the fleets (or one MDM's) live `hours`: check-ins, SIM changes, enrolments, departures,
        app changes (rates per day, see DayRates); returns what happened per MDM."""
        if isinstance(rates, dict):
            rates = DayRates.from_dict(rates)
        if mdm is not None and mdm not in MDMS:
            raise ValueError(f"unknown MDM {mdm!r}")
        return {name: advance(self._sim.fleets[name], hours, rates) for name in ((mdm,) if mdm else MDMS)}


    def budget(self) -> dict:
        """Requests answered per MDM; Intune's request units spent, 429s answered and limits."""
        return self._sim.meter.report()

    def set_budget(self, limits: BudgetLimits | dict | None) -> None:
        """Intune's limits (BudgetLimits or its fields as a dict; None: unthrottled); buckets start full."""
        if isinstance(limits, dict):
            limits = _limits(limits)
        self._sim.meter.configure(limits)

    def reset_budget(self) -> None:
        """Zero the request counters."""
        self._sim.meter.reset()


def _limits(data: dict) -> BudgetLimits:
    scale = data.pop("scale", None)
    known = set(BudgetLimits.__dataclass_fields__)
    bad = sorted(set(data) - known)
    if bad:
        raise ValueError(f"unknown budget setting {bad[0]!r} (known: scale, {', '.join(sorted(known))})")
    if any(not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0 for v in data.values()):
        raise ValueError("budget settings must be numbers of 0 or more")
    limits = BudgetLimits(**data)
    if limits.app_limit < 1 or limits.tenant_limit < 1 or limits.window_s <= 0:
        raise ValueError("limits must be at least 1 and the window more than 0 seconds")
    if scale is not None:
        if not isinstance(scale, (int, float)) or isinstance(scale, bool) or scale <= 0:
            raise ValueError("scale must be a number more than 0")
        limits = limits.scaled(scale)
    return limits


NDJSON = "application/x-ndjson"


def _ndjson(objects, chunk: int = 500):
    """JSON lines, `chunk` objects per piece: Starlette runs a plain iterator in its thread pool, one
    piece at a time, so the event loop keeps answering while the whole fleet goes out."""
    batch: list[bytes] = []
    for obj in objects:
        batch.append(dumps(obj))
        if len(batch) == chunk:
            yield b"\n".join(batch) + b"\n"
            batch = []
    if batch:
        yield b"\n".join(batch) + b"\n"


def admin_routes(sim, mdm: str) -> list[Route]:
    """The /_sim/... routes of one MDM's port (no auth, no faults: for tests and the demo)."""
    admin = sim.admin

    def guarded(fn):
        async def run(request: Request) -> Response:
            try:
                return await fn(request)
            except KeyError as exc:
                return json_response({"error": str(exc.args[0])}, 404)
            except ValueError as exc:
                return json_response({"error": str(exc)}, 400)
        return run

    async def body(request: Request) -> dict:
        raw = await request.body()
        data = json.loads(raw) if raw.strip() else {}
        if not isinstance(data, dict):
            raise ValueError("the body must be a JSON object")
        return data

    async def list_devices(request: Request) -> Response:
        if request.query_params.get("full") == "1":
            return StreamingResponse(_ndjson(sim.truths(mdm)), media_type=NDJSON)
        return json_response({"count": sim.fleets[mdm].count(), "ids": sim.device_ids(mdm)})

    async def all_apps(request: Request) -> Response:
        return StreamingResponse(_ndjson({"id": i, "apps": a} for i, a in sim.all_apps(mdm)), media_type=NDJSON)

    async def add(request: Request) -> Response:
        return json_response({"id": admin.add(mdm, (await body(request)).get("os"))}, 201)

    async def get(request: Request) -> Response:
        return json_response(sim.truth(mdm, request.path_params["id"]))

    async def apps(request: Request) -> Response:
        return json_response(admin.apps(mdm, request.path_params["id"]))

    async def remove(request: Request) -> Response:
        admin.remove(mdm, request.path_params["id"])
        return Response(status_code=204)

    async def op(request: Request) -> Response:
        ident, name = request.path_params["id"], request.path_params["op"]
        if name == "reenrol":
            return json_response({"id": admin.reenrol(mdm, ident)})
        fn = {"simswap": admin.sim_swap, "remove-profile": admin.remove_profile, "touch": admin.touch,
              "wipe-fail": lambda m, i: admin.end_wipe(m, i, "fail"),
              "wipe-cancel": lambda m, i: admin.end_wipe(m, i, "cancel")}.get(name)
        if fn is None:
            return json_response({"error": f"unknown operation {name}"}, 404)
        fn(mdm, ident)
        return json_response(sim.truth(mdm, ident))

    async def faults(request: Request) -> Response:
        if request.method == "GET":
            return json_response(sim.faults.describe())
        if request.method == "DELETE":
            sim.set_faults(None, mdm=mdm, endpoint=request.query_params.get("endpoint"))
            return Response(status_code=204)
        data = await body(request)
        endpoint = data.pop("endpoint", None) or request.query_params.get("endpoint")
        sim.set_faults(Faults(**data.pop("faults", data)), mdm=mdm, endpoint=endpoint)
        return Response(status_code=204)

    async def advance_fleet(request: Request) -> Response:
        data = await body(request)
        hours = data.get("hours", 24)
        if not isinstance(hours, (int, float)) or isinstance(hours, bool):
            raise ValueError("hours must be a number")
        rates = data.get("rates") or {}
        if not isinstance(rates, dict):
            raise ValueError("rates must be a JSON object")
        return json_response(admin.advance(hours, mdm, rates)[mdm])

    async def budget(request: Request) -> Response:
        if request.method == "DELETE":
            admin.reset_budget()
            return Response(status_code=204)
        if request.method == "PUT":
            data = await body(request)
            admin.set_budget(None if data.get("off") is True else _limits({k: v for k, v in data.items() if k != "off"}))
            return Response(status_code=204)
        return json_response(admin.budget())

    async def scenario(request: Request) -> Response:
        return json_response(sim.scenario_devices.get(mdm, {}))

    return [
        Route("/_sim/devices", guarded(list_devices), methods=["GET"]),
        Route("/_sim/devices", guarded(add), methods=["POST"]),
        Route("/_sim/devices/{id}", guarded(get), methods=["GET"]),
        Route("/_sim/apps", guarded(all_apps), methods=["GET"]),
        Route("/_sim/devices/{id}", guarded(remove), methods=["DELETE"]),
        Route("/_sim/devices/{id}/apps", guarded(apps), methods=["GET"]),
        Route("/_sim/devices/{id}/{op}", guarded(op), methods=["POST"]),
        Route("/_sim/faults", guarded(faults), methods=["GET", "PUT", "DELETE"]),
        Route("/_sim/scenario", guarded(scenario), methods=["GET"]),
        Route("/_sim/advance", guarded(advance_fleet), methods=["POST"]),
        Route("/_sim/budget", guarded(budget), methods=["GET", "PUT", "DELETE"]),
    ]
