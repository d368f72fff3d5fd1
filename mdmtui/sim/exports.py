"""Intune's report export (MDM-APIS.md §4): export jobs on Graph, the zip on a separate storage host.

- ``POST {graph}/{beta|v1.0}/deviceManagement/reports/exportJobs`` with ``{"reportName":
  "DevicesWithInventory","select":[…],"format":"csv"}`` → 201 and the job, ``status: notStarted``,
  ``url: null``. ``DevicesWithInventory`` and ``AppInvRawData`` are served; another report name, a
  column the report does not have, or a format other than csv/json is refused with 400 (the harsher
  reading).
- ``GET …/reports/exportJobs('{id}')`` → the job: ``inProgress`` until ``export_delay_s`` has passed
  since it was requested, then ``completed`` with ``url`` and ``expirationDateTime``, or ``failed``.
  Every POST and GET is a Graph request and spends one unit of the budget (budget.py).
- The ``url`` is a blob URL on the **storage** port (another origin), signed and time-limited like a
  SAS URL (``se`` = the expiry on the MDM's clock, ``sig`` = an HMAC of path and expiry). The storage
  host answers the zip (one CSV, UTF-8 with a BOM, every value quoted, the header row in the report's
  "received" names) only without an ``Authorization`` header: a request that carries one is refused
  (403) and recorded in ``StorageService.refused_auth`` — a collector must never hand its Graph
  token to the storage host. An expired or tampered URL is 403 ``AuthenticationFailed``.
- Fault knobs (``Faults``, endpoint ``exportJobs``, drawn when the job is created):
  ``export_job_fails`` (the job ends ``failed``), ``export_job_hangs`` (it stays ``inProgress``),
  ``export_url_expired`` (it completes with a URL already past its expiry). Settings for the endpoint
  ``exportJobs.<reportName>`` (e.g. ``intune.exportJobs.AppInvRawData:export_job_fails=1``), when
  present, decide that report's jobs instead, so one report can fail while the other completes.

Values where the documentation shows none (docs/intune-graph-api.md, "Export jobs"): storage in whole
MB, the last check-in without a zone, enums as the console's display words ("Compliant", "True") —
the harsher reading, so a collector that took those columns for the exact Graph values would be
caught. The collector reads only ``DeviceId``, ``ICCID`` and ``EthernetMAC`` from the file.

``AppInvRawData`` (one row per device × discovered app, from the fleet's own app truth, the same apps
the per-device beta ``detectedApps`` call answers). Where the names come from: memdocs
``intune/fundamentals/reports-export-graph-available-reports.md`` (MicrosoftDocs/memdocs, section
"AppInvRawData report") lists its available properties ``ApplicationKey``, ``ApplicationName``,
``ApplicationPublisher``, ``ApplicationShortVersion``, ``ApplicationVersion``, ``DeviceId``,
``DeviceName``, ``OSDescription``, ``OSVersion``, ``Platform``, ``UserId``, ``EmailAddress``,
``UserName``, and "There are no filters for this report"; ``reports-export-graph-apis.md`` gives the job
flow it shares with every report. The documentation is silent on the rest; the readings chosen:
- the file's headers: memdocs has no "columns received" table for this report (unlike
  DevicesWithInventory), and published scripts that export it (e.g. Azure Automation runbooks that
  read ``ApplicationName`` / ``ApplicationVersion`` from the CSV by name) read the requested names, so
  the headers are the requested names — but the columns come in the report's own order (the list
  above), not in the order of ``select``, so a collector that reads by position is caught;
- ``ApplicationVersion`` is the detected app's ``version`` (what ``detectedApps`` answers);
  ``ApplicationShortVersion`` is a different, shorter string (major.minor), so a collector that took
  the short version for the version would be caught;
- a device with no discovered apps has no row at all (one row per device × app): its absence is not
  "unknown";
- ``filter`` is refused (400) for this report, as the documentation allows none;
- rows are grouped by device in listing order (the collector must not rely on it).
"""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import hmac
import io
import json
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .intune_wire import app_id, family_of, platform_of

REPORT = "DevicesWithInventory"
APP_REPORT = "AppInvRawData"
FORMATS = ("csv", "json")
MB = 1024 * 1024


def _when(ts: int | None) -> str:
    return "" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S.0000000")


def _word(value) -> str:
    return "True" if value is True else ("False" if value is False else "")


def _mb(value) -> str:
    return str(int(value) // MB) if isinstance(value, int) and value > 0 else "0"


# requested column -> (received header, value from the device's profile and id)
COLUMNS: dict[str, tuple[str, Callable[[dict, str], object]]] = {
    "DeviceId": ("Device ID", lambda p, i: i),
    "DeviceName": ("Device name", lambda p, i: p["device_name"]),
    "SerialNumber": ("Serial number", lambda p, i: p["serial"]),
    "Manufacturer": ("Manufacturer", lambda p, i: p["manufacturer"]),
    "Model": ("Model", lambda p, i: p["model"]),
    "IMEI": ("IMEI", lambda p, i: p["imei"]),
    "MEID": ("MEID", lambda p, i: p["meid"]),
    "ICCID": ("ICCID", lambda p, i: p["iccid"]),
    "EthernetMAC": ("Ethernet MAC", lambda p, i: p["eth_mac"] or ""),
    "WifiMacAddress": ("Wi-Fi MAC", lambda p, i: p["wifi_mac"] or ""),
    "PhoneNumber": ("Phone number", lambda p, i: p["phone"]),
    "SubscriberCarrierNetwork": ("Subscriber carrier", lambda p, i: p["carrier"] or ""),
    "StorageTotal": ("Total storage", lambda p, i: _mb(p["storage_total"])),
    "StorageFree": ("Free storage", lambda p, i: _mb(p["storage_free"])),
    "LastContact": ("Last check-in", lambda p, i: _when(p["last_sync"])),
    "OSVersion": ("OS version", lambda p, i: p["os_version"]),
    "OS": ("OS", lambda p, i: p["os"]),
    "DeviceType": ("OS", lambda p, i: p["os"]),
    "JailBroken": ("Jailbroken", lambda p, i: p["jailbroken"]),
    "IsEncrypted": ("Encrypted", lambda p, i: _word(p["encrypted"])),
    "IsSupervised": ("Supervised", lambda p, i: _word(p["supervised"])),
    "CompliantState": ("Compliance", lambda p, i: str(p["compliance"] or "").capitalize()),
    "ManagementState": ("Management state", lambda p, i: "Managed"),
    "UPN": ("Primary user UPN", lambda p, i: p["upn"]),
    "UserEmail": ("Primary user email address", lambda p, i: p["email"]),
    "UserName": ("Primary user display name", lambda p, i: p["user_name"]),
    "CellularTechnology": ("Cellular technology", lambda p, i: "LTE" if p["imei"] else ""),
    "EID": ("EID", lambda p, i: ""),
}
DEFAULT_SELECT = tuple(c for c in COLUMNS if c != "DeviceType")


def _short(version: str) -> str:
    return ".".join(version.split(".")[:2])


class _Device:
    """One live device while AppInvRawData's rows are written: its profile is built only when a selected
    column needs it."""

    __slots__ = ("fleet", "slot", "ident", "os", "family", "catalog", "_profile")

    def __init__(self, fleet, slot: int) -> None:
        self.fleet, self.slot, self.ident = fleet, slot, fleet.id_of(slot)
        self.os = fleet.os_of(slot)
        self.family = family_of(self.os)
        self.catalog = fleet.catalog(slot)
        self._profile: dict | None = None

    @property
    def profile(self) -> dict:
        if self._profile is None:
            self._profile = self.fleet.profile(self.slot)
        return self._profile


# AppInvRawData: column (header = the requested name) -> value from (device, catalog app, version index),
# in the report's own order (the file keeps this order whatever the order of `select`)
APP_COLUMNS: dict[str, Callable[[_Device, int, int], object]] = {
    "ApplicationKey": lambda d, a, v: app_id(d.family, a, v),
    "ApplicationName": lambda d, a, v: d.catalog[a].name,
    "ApplicationPublisher": lambda d, a, v: d.catalog[a].publisher,
    "ApplicationShortVersion": lambda d, a, v: _short(d.catalog[a].versions[v]),
    "ApplicationVersion": lambda d, a, v: d.catalog[a].versions[v],
    "DeviceId": lambda d, a, v: d.ident,
    "DeviceName": lambda d, a, v: d.profile["device_name"],
    "OSDescription": lambda d, a, v: d.os,
    "OSVersion": lambda d, a, v: d.profile["os_version"],
    "Platform": lambda d, a, v: platform_of(d.os),
    "UserId": lambda d, a, v: d.profile["user_id"],
    "EmailAddress": lambda d, a, v: d.profile["email"],
    "UserName": lambda d, a, v: d.profile["user_name"],
}
REPORTS: dict[str, Mapping[str, object]] = {REPORT: COLUMNS, APP_REPORT: APP_COLUMNS}


@dataclass
class Job:
    """One export job as the service keeps it."""

    id: str
    report: str
    select: list[str]
    format: str
    filter: str | None
    requested_at: float           # the MDM's clock
    started: float                # time.monotonic(), for export_delay_s
    fails: bool = False
    hangs: bool = False
    expired_url: bool = False
    url: str | None = None
    expires_at: float | None = None
    blob: bytes | None = field(default=None, repr=False)


class ExportJobs:
    """The export jobs of the simulated tenant (part of the Intune service)."""

    def __init__(self, service) -> None:
        self.service = service
        self.jobs: dict[str, Job] = {}
        self.blobs: dict[str, tuple[bytes, float]] = {}   # blob path -> (zip, expiry on the MDM's clock)
        self.key = hashlib.sha256(f"{service.sim.seed}:storage".encode()).digest()
        self._lock = threading.Lock()

    @property
    def fleet(self):
        return self.service.fleet

    async def dispatch(self, request, method: str, ver: str, parts: list[str], body: bytes | None):
        """``reports/exportJobs`` (POST) and ``reports/exportJobs/{id}`` (GET)."""
        svc = self.service
        bad = svc.read_guard(request, ver, "deviceManagement/reports/exportJobs")
        if bad:
            return bad
        if len(parts) == 2 and method == "POST":
            return self.create(request, ver, body)
        if len(parts) == 3 and method == "GET":
            return await self.get(request, ver, parts[2])
        return svc.fail(request, 400, "BadRequest", f"Resource not found for the segment '{parts[-1]}'.")

    def create(self, request, ver: str, body: bytes | None):
        from .intune import Result

        svc = self.service
        try:
            data = json.loads(body or b"")
            assert isinstance(data, dict)
        except (ValueError, AssertionError):
            return svc.fail(request, 400, "BadRequest", "The request payload is not a JSON object.")
        name = data.get("reportName")
        columns = REPORTS.get(name) if isinstance(name, str) else None
        if columns is None or not isinstance(name, str):
            return svc.fail(request, 400, "BadRequest", f"Report name '{name}' is not supported by this tenant's "
                            "export service (the simulator serves DevicesWithInventory and AppInvRawData).")
        select = data.get("select") or list(DEFAULT_SELECT if name == REPORT else columns)
        if not isinstance(select, list) or not all(isinstance(c, str) for c in select):
            return svc.fail(request, 400, "BadRequest", "'select' must be a list of column names.")
        unknown = [c for c in select if c not in columns]
        if unknown:
            return svc.fail(request, 400, "BadRequest", f"Invalid select column(s): {', '.join(unknown)}")
        if name == APP_REPORT and data.get("filter"):
            return svc.fail(request, 400, "BadRequest", f"The report {name} cannot be filtered.")
        fmt = str(data.get("format") or "csv").lower()
        if fmt not in FORMATS:
            return svc.fail(request, 400, "BadRequest", f"Invalid format '{data.get('format')}'.")
        draw = self._draw(request, name)
        job = Job(id=f"{name}_{uuid.uuid4()}", report=name, select=list(select), format=fmt,
                  filter=data.get("filter"), requested_at=self.fleet.clock(), started=time.monotonic())
        if draw is not None:
            job.fails, job.hangs = draw.hit("export_job_fails"), draw.hit("export_job_hangs")
            job.expired_url = draw.hit("export_url_expired")
        with self._lock:
            self.jobs[job.id] = job
        return Result(201, self.entity(ver, job, "notStarted"))

    def _draw(self, request, report: str):
        """The job's fault draw: the report's own endpoint settings (``exportJobs.<report>``) when there
        are any, else the request's (endpoint ``exportJobs``)."""
        from .faults import Draw
        from .web import draw_of

        book, key = self.service.sim.faults, f"exportJobs.{report}"
        if book.configured("intune", key):
            return Draw(book.effective("intune", key), *book.tick("intune", key))
        return draw_of(request) if request is not None else None

    async def get(self, request, ver: str, key: str):
        from .intune import Result

        svc = self.service
        ident = key.strip("'")
        job = self.jobs.get(ident)
        if job is None:
            return svc.intune_fail(request, 404, "ResourceNotFound", f"deviceManagement/reports/exportJobs('{ident}')",
                                   "Resource not found")
        status = self._status(job)
        if status == "completed" and job.url is None:
            await asyncio.to_thread(self._complete, job)
        return Result(200, self.entity(ver, job, status))

    def _status(self, job: Job) -> str:
        if job.hangs or time.monotonic() - job.started < self.service.cfg.export_delay_s:
            return "inProgress"
        return "failed" if job.fails else "completed"

    def _complete(self, job: Job) -> None:
        with self._lock:
            if job.url is not None:
                return
            if job.report == APP_REPORT and job.format == "csv":
                blob = zip_of(job.id, None, job.format, self.app_csv(job.select))
            else:
                rows = self.app_rows(job.select) if job.report == APP_REPORT else self.rows(job.select)
                blob = zip_of(job.id, rows, job.format)
            now = self.fleet.clock()
            expires = now - 60 if job.expired_url else now + self.service.cfg.export_url_ttl_s
            path = f"/{self.container()}/{quote(job.id)}.zip"
            self.blobs[path] = (blob, expires)
            job.expires_at, job.blob = expires, blob
            job.url = f"{self.service.cfg.storage_url}{path}?{self.sas(path, expires)}"

    def container(self) -> str:
        return str(uuid.UUID(bytes=hashlib.md5(self.service.cfg.tenant_id.encode()).digest()))

    def sas(self, path: str, expires: float) -> str:
        """A SAS-like query: version, resource, permission, expiry and the signature over them."""
        se = datetime.fromtimestamp(int(expires), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"sv=2019-02-02&sr=b&sp=r&se={quote(se)}&sig={quote(self.signature(path, se), safe='')}"

    def signature(self, path: str, se: str) -> str:
        return base64.b64encode(hmac.new(self.key, f"{path}\n{se}".encode(), hashlib.sha256).digest()).decode()

    def rows(self, select: list[str]) -> list[list[str]]:
        """The report's rows for every live device, in listing order."""
        fleet, getters = self.fleet, [COLUMNS[c][1] for c in select]
        out = []
        for slot in fleet.live_slots():
            prof, ident = fleet.profile(slot), fleet.id_of(slot)
            out.append(["" if (v := get(prof, ident)) is None else str(v) for get in getters])
        return [[COLUMNS[c][0] for c in select]] + out

    def app_rows(self, select: list[str]):
        """AppInvRawData's rows, lazily: the header, then one row per live device × app (none for a device
        without apps), in the report's column order."""
        names = [c for c in APP_COLUMNS if c in select]
        getters = [APP_COLUMNS[c] for c in names]
        yield names
        fleet = self.fleet
        for slot in fleet.live_slots():
            device = _Device(fleet, slot)
            for app, ver in sorted(fleet.apps(slot)):
                yield [str(get(device, app, ver)) for get in getters]

    def app_csv(self, select: list[str]):
        """AppInvRawData as CSV text (the lines of app_rows, every value quoted), one piece per device.
        Seven million rows at 100,000 devices: each app's and each device's quoted values are built once,
        a row is one join of them."""
        names = [c for c in APP_COLUMNS if c in select]
        yield ",".join(_quoted(n) for n in names) + "\r\n"
        per_app = [n for n in names if n in _APP_ONLY]
        app_cache: dict[tuple, tuple[str, ...]] = {}
        fleet = self.fleet
        for slot in fleet.live_slots():
            apps = fleet.apps(slot)
            if not apps:
                continue
            device = _Device(fleet, slot)
            # the row with the device's values in place and a %s for each app value
            row = ",".join("%s" if n in _APP_ONLY else _quoted(str(APP_COLUMNS[n](device, 0, 0))).replace("%", "%%")
                           for n in names) + "\r\n"
            family, os_name, lines = device.family, device.os, []
            for app, ver in sorted(apps):
                texts = app_cache.get((family, os_name, app, ver))
                if texts is None:
                    texts = app_cache[family, os_name, app, ver] = tuple(
                        _quoted(str(APP_COLUMNS[n](device, app, ver))) for n in per_app)
                lines.append(row % texts)
            yield "".join(lines)

    def entity(self, ver: str, job: Job, status: str) -> dict:
        """The deviceManagementExportJob as Graph answers it."""
        base = self.service.cfg.base_url
        completed = status == "completed"
        return {"@odata.context": f"{base}/{ver}/$metadata#deviceManagement/reports/exportJobs/$entity",
                "id": job.id, "reportName": job.report, "filter": job.filter, "select": job.select,
                "format": job.format, "snapshotId": None, "localizationType": "localizedValuesAsAdditionalColumn",
                "status": status, "url": job.url if completed else None,
                "requestDateTime": datetime.fromtimestamp(job.requested_at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "expirationDateTime": datetime.fromtimestamp(job.expires_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                if completed and job.expires_at else "0001-01-01T00:00:00Z"}


# AppInvRawData's columns whose value depends only on the app (and the device's OS), not on the device
_APP_ONLY = frozenset({"ApplicationKey", "ApplicationName", "ApplicationPublisher", "ApplicationShortVersion",
                       "ApplicationVersion", "OSDescription", "Platform"})


def _quoted(value: str) -> str:
    """One CSV value as csv.writer writes it with QUOTE_ALL (the excel dialect: quotes doubled)."""
    return '"' + value.replace('"', '""') + '"'


def zip_of(job_id: str, rows, fmt: str, text=None) -> bytes:
    """The export file: a zip holding one CSV (BOM, every value quoted; written as the rows come, so a
    fleet's app rows are never all in memory; `text`: the CSV already as pieces of text) or one JSON
    document."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        if text is not None:
            with zf.open(f"{job_id}.csv", "w", force_zip64=True) as raw:
                raw.write("\ufeff".encode())
                pending: list[str] = []
                size = 0
                for piece in text:
                    pending.append(piece)
                    size += len(piece)
                    if size > 1 << 20:
                        raw.write("".join(pending).encode("utf-8", "surrogatepass"))
                        pending, size = [], 0
                raw.write("".join(pending).encode("utf-8", "surrogatepass"))
        elif fmt == "csv":
            with zf.open(f"{job_id}.csv", "w", force_zip64=True) as raw, \
                    io.TextIOWrapper(raw, encoding="utf-8", errors="surrogatepass", newline="") as text:
                text.write("\ufeff")
                csv.writer(text, quoting=csv.QUOTE_ALL, lineterminator="\r\n").writerows(rows)
        else:
            rows = iter(rows)
            header = next(rows)
            zf.writestr(f"{job_id}.json", json.dumps({"values": [dict(zip(header, r)) for r in rows]},
                                                     ensure_ascii=False).encode("utf-8", "surrogatepass"))
    return out.getvalue()


_BLOB_ERROR = ('<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code><Message>{message}\n'
               'RequestId:{rid}\nTime:{time}</Message></Error>')


class StorageService:
    """The blob storage host the export URLs point to: its own port, no Graph token, SAS only."""

    mdm = "storage"

    def __init__(self, sim, exports: ExportJobs) -> None:
        self.sim, self.exports = sim, exports
        self.refused_auth: list[str] = []   # paths asked for WITH an Authorization header (a leaked token)
        self.downloads = 0

    def routes(self) -> list[Route]:
        return [Route("/{container}/{blob}", self.get, methods=["GET"])]

    def _error(self, status: int, code: str, message: str) -> Response:
        body = _BLOB_ERROR.format(code=code, message=message, rid=uuid.uuid4(),
                                  time=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z"))
        return Response(body.encode(), status, media_type="application/xml")

    async def get(self, request: Request) -> Response:
        response = self._answer(request)
        response.headers["date"] = formatdate(self.exports.fleet.clock(), usegmt=True)
        response.headers["x-ms-request-id"] = str(uuid.uuid4())
        self.sim.meter.count("storage")
        self.sim.log("storage", request.method, request.url.path, response.status_code)
        return response

    def _answer(self, request: Request) -> Response:
        path = request.url.path
        if "authorization" in request.headers:
            self.refused_auth.append(path)
            return self._error(403, "AuthenticationFailed", "Server failed to authenticate the request. A SAS "
                               "URL was sent with an Authorization header: send the SAS URL alone.")
        entry = self.exports.blobs.get(path)
        se, sig = request.query_params.get("se", ""), request.query_params.get("sig", "")
        if entry is None or not hmac.compare_digest(sig, self.exports.signature(path, se)):
            return self._error(403, "AuthenticationFailed", "Server failed to authenticate the request. Make "
                               "sure the value of Authorization header is formed correctly including the signature.")
        blob, expires = entry
        now = self.exports.fleet.clock()
        if now >= expires:
            start = datetime.fromtimestamp(expires - 3600, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
            return self._error(403, "AuthenticationFailed", "Server failed to authenticate the request. Signature "
                               f"not valid in the specified time frame: Start [{start}] - Expiry [{se}] - Current "
                               f"[{formatdate(now, usegmt=True)}]")
        self.downloads += 1
        return Response(blob, 200, media_type="application/x-zip-compressed",
                        headers={"x-ms-blob-type": "BlockBlob"})
