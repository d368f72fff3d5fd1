"""Microsoft Intune through Microsoft Graph: OAuth client credentials, device pages, $batch, actions.

Wire choices (see MDM-APIS.md):
- Listing: v1.0 ``managedDevices`` with only the matrix's properties ``$select``ed, followed
  through ``@odata.nextLink`` exactly as given.
- The LIST quirk: ``iccid``, ``udid``, ``ethernetMacAddress`` and ``physicalMemoryInBytes`` are
  placeholders in the list, so they are never read from it. For new or changed devices only, they
  come from single-device GETs packed 20 to a JSON ``$batch`` on the beta endpoint, which alone
  returns ``physicalMemoryInBytes`` — and only with ``hardwareInformation`` in the same ``$select``
  (selected alone it is 0); one call per device instead of a v1.0 and a beta one.
- Next links are followed only on the linkage's own Graph host (scheme, host and port): the
  token goes with them.
- Wipe is not listed in ``deviceActionResults``: it is followed through the device's beta
  ``managementState`` (wipePending, wipeIssued, wipeFailed, wipeCanceled), and a completed full
  wipe removes the device record (docs/intune-graph-api.md).
- Big tenants (the export route, MDM-APIS.md §4): one ``DevicesWithInventory`` export job gives the
  ICCID and Ethernet MAC of the whole fleet (job, poll, zip from the storage host WITHOUT the bearer
  token), so an ICCID-only SIM change is seen with no per-device call; the list still gives every
  other item (exact Graph values; the report's are display values: storage in MB, localised enums),
  and UDID and RAM still come from the beta single GET, once per new device (they never change).
  ``intune_route`` auto takes it when the inventory, or else Intune's ``managedDeviceOverview`` count,
  holds ``export_threshold`` devices or more; a failed, expired or never-completing job falls back to the list route for the run, with a warning.
- Detected apps on the list route (a full run, given the inventory's software by the collection through
  ``stored_software``): the whole listing is read first, then the tenant-wide v1.0
  ``GET detectedApps`` (paged by nextLink, ``$top`` 1000; one entry per app x version x platform, with
  ``deviceCount``). New devices and those whose rolling refresh ticked (churn.py) are read with the
  per-device beta call as before; for the rest the run compares each (name, version)'s ``deviceCount``
  (summed over platforms) with how many listed devices hold it — the stored software of the unread
  ones plus what the read ones answered. Only a pair whose count differs costs
  ``GET detectedApps/{id}/managedDevices?$select=id`` (paged) of each of its platform entries (all of
  them: a swap within one platform under a moved total is caught too), whose ids give every device that
  gained or lost it; every other device keeps its stored software (``software=None``), a changed one
  gets its stored list with the pair added or removed. So a device whose listed fields did not move
  still has every install, update and removal stored the same day, for a few list pages plus one
  request per moved pair's entry instead of one per device (figures: docs/intune-graph-api.md). A
  first collection (every device read one by one) skips the tenant-wide list. Harsher readings where the docs are silent: the list is
  offset-paged (a captured real nextLink carries ``$top``/``$skip``), so an entry can repeat (counted
  once) or be skipped while the list changes — a pair the inventory holds but the list lacks (skipped,
  or its last device dropped it) is never taken as removed: its holders are read one by one; so is a
  pair storage keeps only cut or cleaned (its stored form never matches). An app gone between the list
  and its device list (404) is on no device. A device list that fails leaves that pair as stored, a
  failed tenant-wide list the run on the per-device calls (warnings both). THE HOLE: an app version
  installed on one unread device and removed from another the same day leaves its count equal, and
  Graph gives no checksum, date or etag on a detectedApp to tell — the rolling per-device refresh
  stays as the backstop (each device read at least once per ``refresh_days``), and the next count
  change of that pair mends both devices. A changed-only run keeps the per-device calls.
- Detected apps on the export route: one ``AppInvRawData`` job beside the DevicesWithInventory one
  (one row per device × discovered app; columns ``DeviceId``, ``ApplicationName``,
  ``ApplicationVersion``, MDM-APIS.md §4 and sim/exports.py for where the names come from) gives
  every device's software each run for a handful of request units, so every software change is
  seen daily with no rolling refresh. A device in the file takes its rows; one in the
  DevicesWithInventory file but not in the software file has no discovered apps (the report has a
  row per app, none for a device without); one in neither (enrolled after the report's snapshot)
  takes the per-device call as on the list route. A failed, expired or never-completing software
  job falls back to the per-device calls for the run, with a warning (devices not read keep their
  stored software).
"""

from __future__ import annotations

import asyncio
import csv
import io
import zlib
import logging
import re
import time
import zipfile
from array import array
from collections.abc import AsyncIterator, Awaitable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import httpx

from mdmtui import mapping
from mdmtui.connectors import churn, spec
from mdmtui.connectors.base import LinkageConfig, SoftwareLoader, register
from mdmtui.connectors.http import (AnswerLost, ForeignLink, HttpLayer, Json, Reply, check_same_origin,
                                    retry_after_seconds)
from mdmtui.errors import (AuthenticationFailed, ConfigurationError, ConnectionFailed, MdmRequestError,
                           MdmtuiError, NotFoundError, ProtocolError, Throttled)
from mdmtui.records import (Action, ActionResult, DeviceRecord, DeviceRef, OsClass, Outcome, SoftwareItem,
                            SoftwarePair, StoredSoftware, System, WipeOptions)
from mdmtui.secrets import Secret

log = logging.getLogger("mdmtui.connectors.intune")
_T = TypeVar("_T")

DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
DEFAULT_GRAPH = "https://graph.microsoft.com"
TOKEN_LEEWAY_S = 300  # renew this long before expiry, so no request goes out with a dying token
PAGE_SIZE = 1000  # the service's own maximum
BATCH_SIZE = 20  # JSON batching's limit
MAX_RESTARTS = 2  # listing restarts after an expired nextLink
EARLY_MAX = 200_000  # single GETs kept from the export jobs' wait (a few hundred bytes each)

# The LIST quirk: placeholders in the list answer, real values only from a single-device GET.
QUIRK_KEYS = ("iccid", "udid", "ethernetMacAddress", "physicalMemoryInBytes")
# hardwareInformation: without it in the same $select, beta answers physicalMemoryInBytes 0
ENRICH_SELECT = ("id", "hardwareInformation") + QUIRK_KEYS
LIST_SELECT = ("id",) + tuple(k for k in mapping.wire_keys(System.INTUNE) if k not in QUIRK_KEYS)
# Record fields that depend on the quirk keys: kept from the last collection when not fetched.
ENRICHED_FIELDS = {
    OsClass.IS: frozenset({"iccid", "udid", "ram_total_bytes"}),
    OsClass.IP: frozenset({"iccid", "ethernet_mac", "mac_address", "network_adapter_name", "ram_total_bytes"}),
}
# The export route: the report's columns the list lacks, keyed by the CSV header (requested or received
# name, compared without case, spaces or hyphens) -> the Graph property they stand for.
EXPORT_REPORT = "DevicesWithInventory"
EXPORT_SELECT = ("DeviceId", "ICCID", "EthernetMAC")
EXPORT_KEYS = {"iccid": "iccid", "ethernetmac": "ethernetMacAddress"}
# With the export's ICCID and Ethernet MAC, only UDID and RAM are left to the single GET (new devices).
EXPORT_UNFETCHED = {
    OsClass.IS: frozenset({"udid", "ram_total_bytes"}),
    OsClass.IP: frozenset({"ram_total_bytes"}),
}
# The export route's software: AppInvRawData, one row per device x discovered app.
SOFTWARE_REPORT = "AppInvRawData"
SOFTWARE_SELECT = ("DeviceId", "ApplicationName", "ApplicationVersion")
MAX_SOFTWARE_EXPORT_BYTES = 8 * 1024**3  # read as a stream (never whole in memory); a zip bomb is refused
ROUTES = ("auto", "list", "export")
EXPORT_THRESHOLD = 5000  # auto: export when the inventory (or Intune's overview count) holds this many devices
EXPORT_WAIT_S = 600.0  # how long a run waits for the job before it falls back to the list route
EXPORT_POLL_S = 5.0  # the first wait between polls (then x1.5, at most 30 s)
MAX_EXPORT_BYTES = 512 * 1024 * 1024  # the CSV inside the zip; a bigger one is refused, not unpacked
PRIVILEGED_PERMISSION = "DeviceManagementManagedDevices.PrivilegedOperations.All"
READ_PERMISSION = "DeviceManagementManagedDevices.Read.All"
ACTION_NAMES = {Action.LOCK: "remoteLock", Action.WIPE: "wipe", Action.RESET_PASSCODE: "resetPasscode"}
# deviceActionResults.actionState -> our outcome
ACTION_STATES = {"done": Outcome.SUCCEEDED, "failed": Outcome.FAILED, "canceled": Outcome.FAILED,
                 "notsupported": Outcome.FAILED, "pending": Outcome.PENDING, "active": Outcome.PENDING,
                 "none": Outcome.PENDING}
# managementState while a wipe is under way (evidence that Intune took this wipe), and at its end
WIPE_UNDER_WAY = {"wipepending": "Intune has the wipe pending: the device has not fetched it yet",
                  "wipeissued": "Intune issued the wipe to the device; it is done when Intune removes the device record"}
WIPE_ENDED = {"wipefailed": "Intune reports the wipe failed on the device (wipeFailed)",
              "wipecanceled": "the wipe was cancelled in Intune before the device carried it out (wipeCanceled)"}
WIPE_DONE = "done — the device record was removed by Intune after the wipe"
# Failures that concern one device's enrichment: the device keeps its stored values for the run.
DEVICE_LEVEL_ERRORS = (ProtocolError, NotFoundError, MdmRequestError, Throttled)


def graph_error(reply: Reply) -> tuple[str | None, str]:
    """(code, message) from Graph's error body; the status line when the body says nothing."""
    body = reply.body if isinstance(reply.body, dict) else {}
    err = body.get("error")
    if isinstance(err, dict):
        return err.get("code"), str(err.get("message") or f"HTTP {reply.status}")
    if isinstance(err, str):  # the token endpoint's OAuth form
        return err, str(body.get("error_description") or err).split("\r\n")[0].split("\n")[0]
    return None, f"HTTP {reply.status}"


class GraphToken:
    """An app-only access token, fetched with client credentials and renewed before it expires.

    A small cache on the shared HTTP layer rather than authlib's ``AsyncOAuth2Client``: the token
    request must go through the same retry, timeout, proxy and TLS policy as every Graph call and
    fail with our error family, and a 401 must force one renewal — both are awkward with authlib,
    whose client renews inside its own ``request`` below any retry layer.
    """

    def __init__(self, http: HttpLayer, token_url: str, client_id: str, client_secret: Secret, scope: str) -> None:
        self._http, self._url, self._scope = http, token_url, scope
        self._client_id, self._secret = client_id, client_secret
        self._token: Secret | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def bearer(self) -> str:
        """The Authorization header value, renewing the token when it is close to expiry."""
        token = self._token
        if token is None or time.monotonic() >= self._expires_at - TOKEN_LEEWAY_S:
            async with self._lock:
                token = self._token
                if token is None or time.monotonic() >= self._expires_at - TOKEN_LEEWAY_S:
                    token = await self._fetch()
        return f"Bearer {token.reveal()}"

    def invalidate(self, used: str | None) -> None:
        """Forget the token after a 401, unless another request already replaced the one it used."""
        if self._token is not None and used == f"Bearer {self._token.reveal()}":
            self._token = None

    async def _fetch(self) -> Secret:
        """A new token (kept for the next requests until it is close to expiry)."""
        form = {"client_id": self._client_id, "client_secret": self._secret.reveal(), "scope": self._scope,
                "grant_type": "client_credentials"}
        reply = await self._http.request("POST", self._url, data=form)
        if reply.status in (400, 401):
            code, message = graph_error(reply)
            raise AuthenticationFailed(f"Microsoft Entra ID refused the app's credentials ({code}: {message}): "
                                       "check the tenant ID, client ID and client secret of the linkage")
        body = reply.body if isinstance(reply.body, dict) else {}
        token, expires = body.get("access_token"), body.get("expires_in")
        if not reply.ok or not isinstance(token, str) or not token:
            raise ProtocolError(f"the token endpoint answered HTTP {reply.status} without an access token: "
                                "check the linkage's authority URL and tenant ID")
        lifetime = 3599.0  # the documented default when a proxy strips the field
        if expires is not None:
            try:
                lifetime = float(expires)
            except (TypeError, ValueError):
                pass
        self._token, self._expires_at = Secret(token), time.monotonic() + lifetime
        return self._token


@register(System.INTUNE.value)
class IntuneConnector:
    """Microsoft Intune (Graph v1.0, beta only where v1.0 lacks the data)."""

    system = System.INTUNE.value

    def __init__(self, config: LinkageConfig, *, http: HttpLayer | None = None) -> None:
        if not (config.tenant_id and config.client_id and config.client_secret):
            raise ConfigurationError(f"linkage {config.name!r} needs a tenant ID, client ID and client secret")
        self.config = config
        self.graph = (config.server_url or DEFAULT_GRAPH).rstrip("/")
        self.http = http or HttpLayer(config, mdm="Intune")
        authority = (config.authority_url or DEFAULT_AUTHORITY).rstrip("/")
        self.token = GraphToken(self.http, f"{authority}/{config.tenant_id}/oauth2/v2.0/token", config.client_id,
                                config.client_secret, f"{self._scope_root()}/.default")
        self.page_size = min(config.page_size or PAGE_SIZE, PAGE_SIZE)
        self.collect_software = bool(config.extra.get("collect_software", True))
        self.refresh_days = churn.refresh_days_of(config.extra)
        self._now = time.time()  # the MDM's clock, from the last list page's Date header (churn.py)
        self.since = churn.changed_since(config.extra)
        self.listed_at: float | None = None  # the MDM's clock at the listing's first answer (the run's start)
        self.warnings: list[str] = []  # partial failures of the last collection, for the run's summary
        route = str(config.extra.get("intune_route") or "auto").lower()
        if route not in ROUTES:
            raise ConfigurationError(f"intune_route must be one of {', '.join(ROUTES)}, not {route!r}")
        self.route_setting = route
        self.export_threshold = int(config.extra.get("export_threshold", EXPORT_THRESHOLD))
        self.export_wait_s = float(config.extra.get("export_wait_s", EXPORT_WAIT_S))
        self.export_poll_s = float(config.extra.get("export_poll_s", EXPORT_POLL_S))
        self.route: str | None = None  # the route the last collection took ("list" or "export")
        self.software_route: str | None = None  # how it read apps ("export", "tenant-wide", "per-device", None: not)
        # the list route's tenant-wide apps need the inventory's software: the collection sets a loader here
        self.stored_software: SoftwareLoader | None = None
        self._early: dict[str, Json] = {}  # single GETs of new devices read while the export jobs ran

    def _scope_root(self) -> str:
        # National clouds have their own Graph host; the app's scope is that host's .default.
        return self.graph

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()

    # --- Graph requests ---------------------------------------------------------------------------
    async def _graph(self, method: str, url: str, *, idempotent: bool = True, **kw: Any) -> Reply:
        """One Graph request: 401 renews the token once, 403 says which permission or license is missing."""
        used: list[str] = []

        async def auth() -> dict[str, str]:
            used.append(await self.token.bearer())
            return {"Authorization": used[-1]}

        for renewed in (False, True):
            reply = await self.http.request(method, url, idempotent=idempotent, headers_fn=auth, **kw)
            if reply.status != 401:
                break
            if renewed:
                raise AuthenticationFailed("Intune rejected a freshly issued token (HTTP 401): check that the "
                                           "app registration is in the linkage's tenant")
            self.token.invalidate(used[-1])
        if reply.status == 403:
            raise self._forbidden(reply, method == "GET" or url.endswith("/$batch"))
        return reply

    def _forbidden(self, reply: Reply, reading: bool) -> AuthenticationFailed:
        _code, message = graph_error(reply)
        needed = READ_PERMISSION if reading else PRIVILEGED_PERMISSION
        return AuthenticationFailed(
            f"Intune refused the request (HTTP 403: {message}): grant the app the application permission "
            f"{needed} with admin consent, and check that the tenant has an Intune license "
            f"(client-request-id {reply.request_id})")

    def _v1(self, path: str) -> str:
        return f"{self.graph}/v1.0{path}"

    def _beta(self, path: str) -> str:
        return f"{self.graph}/beta{path}"

    @staticmethod
    def _device_path(device_id: str) -> str:
        return f"/deviceManagement/managedDevices/{quote(device_id, safe='')}"

    # --- connection test --------------------------------------------------------------------------
    async def test_connection(self) -> str:
        """Fetch a token and read one device: proves credentials, permission and license."""
        reply = await self._graph("GET", self._v1("/deviceManagement/managedDevices"),
                                  params={"$select": "id", "$top": "1"})
        self._expect_ok(reply, "the device list")
        return f"Microsoft Intune (tenant {self.config.tenant_id}): signed in, device list readable"

    def _expect_ok(self, reply: Reply, what: str) -> None:
        if reply.ok:
            return
        code, message = graph_error(reply)
        raise_for(reply, f"Intune could not read {what} (HTTP {reply.status} {code or ''}: {message})")

    # --- collection -------------------------------------------------------------------------------
    async def iter_device_pages(self, known: Mapping[str, str | None]) -> AsyncIterator[list[DeviceRecord]]:
        """Stream every device page by page; enrich only new or changed devices."""
        self.warnings, self.listed_at = [], None
        exported, software = await self._exporting(known) if await self._wants_export(known) else (None, None)
        self.route = "list" if exported is None else "export"
        self.software_route = None if not self.collect_software else "per-device" if software is None else "export"
        log.info("Intune: collecting %s by the %s route, detected apps %s (%d devices in the inventory)",
                 self.config.name, self.route, self.software_route or "not collected", len(known))
        seen: set[str] = set()
        phases = churn.Phases(known, self.refresh_days)  # the rolling refresh's slots (churn.py)
        if exported is None and self._tenant_wide_usable():
            async for page in self._tenant_wide_route(phases, seen):
                yield page
            return
        async for items in self._list_pages(seen):
            yield await self._records(items, phases, exported, software)

    async def _list_pages(self, seen: set[str]) -> AsyncIterator[list[Json]]:
        """Raw list pages without repeats, prefetching the next page while the caller works."""
        params = {"$select": ",".join(LIST_SELECT), "$top": str(self.page_size)}
        if self.since is not None:  # a changed-only run: Graph filters on the check-in time (MDM-APIS.md §1)
            params["$filter"] = f"lastSyncDateTime gt {churn.iso_utc(self.since)}"
        first = (self._v1("/deviceManagement/managedDevices"), params)
        restarts = 0
        while True:
            try:
                async for page in self._follow(*first, seen):
                    yield page
                return
            except _ExpiredLink as expired:
                restarts += 1
                if restarts > MAX_RESTARTS:
                    raise ProtocolError(f"Intune's paging link expired {restarts} times (HTTP {expired.status}): "
                                        "the collection is too slow for the service; raise the page size or "
                                        "collect when the network is less busy") from None
                log.warning("Intune: nextLink expired (HTTP %s); listing again from the start, skipping "
                            "the %d devices already read", expired.status, len(seen))

    async def _follow(self, url: str, params: Json | None, seen: set[str]) -> AsyncIterator[list[Json]]:
        links: set[str] = set()
        task: asyncio.Future[tuple[list[Json], str | None]] | None = asyncio.ensure_future(
            self._page(url, params, first=True))
        try:
            while task is not None:
                items, next_link = await task
                task = None
                if next_link:
                    self._own_link(next_link, "next link (@odata.nextLink) of the device list")
                    if next_link in links:
                        raise ProtocolError("Intune sent a nextLink it had already sent (a paging loop): "
                                            "the device list cannot be read completely; try again later")
                    links.add(next_link)
                    task = asyncio.ensure_future(self._page(next_link, None, first=False))
                fresh = _unseen(items, seen)
                if fresh:
                    yield fresh
        finally:
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def _page(self, url: str, params: Json | None, *, first: bool) -> tuple[list[Json], str | None]:
        reply = await self._graph("GET", url, params=params)
        if not first and reply.status in (400, 404, 410):
            raise _ExpiredLink(reply.status)
        self._expect_ok(reply, "the device list")
        self._now = churn.server_now(reply.headers)
        if first and self.listed_at is None:
            self.listed_at = self._now
        body = reply.body
        if not isinstance(body, dict) or not isinstance(body.get("value"), list):
            raise ProtocolError("Intune's device list answer has no 'value' list: check that the linkage's "
                                f"server URL is the Microsoft Graph base URL (client-request-id {reply.request_id})")
        next_link = body.get("@odata.nextLink")
        if next_link is not None and not isinstance(next_link, str):
            raise ProtocolError("Intune's @odata.nextLink is not a URL")
        return body["value"], next_link

    def _own_link(self, link: str, what: str) -> str:
        """The link, if it is on the linkage's Graph host; ``ForeignLink`` (nothing sent) otherwise."""
        return check_same_origin(link, self.graph, what=what, mdm="Intune")

    async def _records(self, items: list[Json], phases: churn.Phases,
                       exported: dict[str, Json] | None = None,
                       software: SoftwareExport | None = None) -> list[DeviceRecord]:
        """Map one page; fetch the LIST-quirk properties of new or changed devices (UDID and RAM never
        change, the ICCID with the SIM fields the list shows) and apps of those plus the devices whose
        rolling refresh is due (churn.py), concurrently. With the export's rows (the export route) a
        device in the export needs the single GET only when it is new: its ICCID and Ethernet MAC are
        in the row; with the software export, a device the reports cover needs no apps call at all."""
        exported = exported or {}
        markers = {item["id"]: phases.marker(item, item["id"], self._now) for item in items}
        dues = {i: phases.due(i, m) for i, m in markers.items()}
        need = {i: _never_enriched(phases.known.get(i)) if i in exported else d.enrich for i, d in dues.items()}
        from_file = {} if software is None else \
            {i: software.of(i) for i in markers if software.covers(i) or i in exported}
        details, apps = await asyncio.gather(
            self._details([i for i, n in need.items() if n]),
            self._apps_of([i for i, d in dues.items() if d.any and i not in from_file]))
        apps.update(from_file)
        return [self._record(item, markers[item["id"]], details.get(item["id"]), apps.get(item["id"]),
                             dues[item["id"]], exported.get(item["id"]), need[item["id"]]) for item in items]

    def _record(self, item: Json, marker: str | None, detail: Json | None, apps: list[SoftwareItem] | None,
                due: churn.Due, row: Json | None = None, need: bool | None = None,
                apps_asked: bool | None = None) -> DeviceRecord:
        wire = {k: v for k, v in item.items() if k not in QUIRK_KEYS}  # never trust the list's placeholders
        os_class = mapping.intune_os_class(item.get("operatingSystem"))
        if detail is not None:
            wire.update({k: detail.get(k) for k in QUIRK_KEYS})
        elif row is not None:
            wire.update(row)  # the export's ICCID and Ethernet MAC
        record = mapping.map_device(System.INTUNE, os_class, wire, mdm_device_id=item["id"], change_marker=marker)
        if detail is None:
            record.unfetched = ENRICHED_FIELDS[os_class] if row is None else EXPORT_UNFETCHED[os_class]
        record.software = apps
        need = due.enrich if need is None else need
        asked = due.any if apps_asked is None else apps_asked  # None apps of a device asked for: a failed read
        missing = (need and detail is None) or (asked and apps is None and self.collect_software)
        if missing:
            record.change_marker = None  # fetch again next time: part of this device is still missing
        return record

    # --- the export route: one DevicesWithInventory job for the whole fleet ---------------------------
    async def _wants_export(self, known: Mapping[str, str | None]) -> bool:
        """export forced; list forced; auto: export for a big tenant, never for a changed-only run (it
        lists a few devices: a whole-fleet job would cost more than it saves).

        A tenant is big when the inventory already holds ``export_threshold`` of its devices, or, below
        that (a first collection, a tenant that grew), when Intune's own device overview counts that many:
        one request unit that keeps a big tenant's first collection off one enrichment call per device.
        """
        if self.route_setting != "auto":
            return self.route_setting == "export"
        if self.since is not None:
            return False
        if len(known) >= self.export_threshold:
            return True
        enrolled = await self._enrolled_count()
        return enrolled is not None and enrolled >= self.export_threshold

    async def _enrolled_count(self) -> int | None:
        """Intune's count of enrolled devices (``managedDeviceOverview``), or None when it gives none: the
        count only picks the route, so any failure means the list route, logged, never a failed run."""
        try:
            reply = await self._graph("GET", self._v1("/deviceManagement/managedDeviceOverview"))
            self._expect_ok(reply, "the device overview")
        except (ProtocolError, MdmRequestError, NotFoundError, AuthenticationFailed) as exc:
            # an odd or refused answer; throttling and a lost connection fail the run here as the list would
            log.info("Intune: %s: no device count from the overview (%s); collecting by the list route",
                     self.config.name, exc)
            return None
        count = reply.body.get("enrolledDeviceCount") if isinstance(reply.body, dict) else None
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            log.info("Intune: %s: the device overview has no usable enrolledDeviceCount; collecting by the list "
                     "route", self.config.name)
            return None
        return count

    async def _exports(self) -> tuple[dict[str, Json] | None, SoftwareExport | None]:
        """The device export's rows and the software export, both jobs at once; either is None (with a
        warning) when its job gives no data."""
        devices_job = asyncio.ensure_future(self._export_or_none())
        software_job = asyncio.ensure_future(self._software_or_none())
        jobs = (devices_job, software_job)
        try:
            exported, software = await asyncio.gather(devices_job, software_job)
        except BaseException:
            for job in jobs:
                job.cancel()
            await asyncio.gather(*jobs, return_exceptions=True)
            raise
        return exported, software

    async def _exporting(self, known: Mapping[str, str | None]) -> tuple[dict[str, Json] | None,
                                                                       SoftwareExport | None]:
        """The export jobs; meanwhile, in a first collection (an empty inventory: every device is new), the
        single GETs of the devices, which every route needs, read from a listing of their own (a request
        unit per 1,000 devices): the budget is spent while Intune builds the files instead of idling (a
        minute at 40,000 devices). Kept in ``_early`` for ``_details``; the prefetch stops when the jobs
        end, its requests in flight finishing first; any failure of it only leaves those devices to the
        run. Later runs have few new devices: no second listing for them."""
        self._early = {}
        if known:
            return await self._exports()
        stop = asyncio.Event()
        early = asyncio.ensure_future(self._prefetch_details(known, stop))
        try:
            exports = await self._exports()
        except BaseException:  # the run ends (a failure, a cancel): nothing to wait for
            early.cancel()
            await asyncio.gather(early, return_exceptions=True)
            raise
        stop.set()
        try:
            await early
        except (MdmtuiError, httpx.HTTPError) as exc:
            log.info("Intune: reading new devices while the export jobs ran stopped: %s", exc)
        return exports

    async def _prefetch_details(self, known: Mapping[str, str | None], stop: asyncio.Event) -> None:
        async def one(chunk: list[str]) -> None:
            if not stop.is_set():
                self._early.update(await self._batch(chunk))

        pages = self._list_pages(set())
        try:
            async for items in pages:
                if stop.is_set() or len(self._early) >= EARLY_MAX:
                    return
                ids = [i["id"] for i in items if _never_enriched(known.get(i["id"]))]
                await asyncio.gather(*(one(ids[n:n + BATCH_SIZE]) for n in range(0, len(ids), BATCH_SIZE)))
        finally:  # an abandoned listing: its prefetched next page is cancelled
            aclose = getattr(pages, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _export_or_none(self) -> dict[str, Json] | None:
        """The export's rows by device id, or None (with a warning) when the job gives none: the run
        then takes the list route, which costs one request unit per new or changed device."""
        return await self._job_or_none(self._export(), (
            "this run used the device list route instead (ICCID-only SIM changes are seen at the device's "
            "next listed change)"), "")

    async def _software_or_none(self) -> SoftwareExport | None:
        """Every device's detected apps from AppInvRawData, or None (with a warning) when the job gives
        none or software is not collected: the run then reads apps device by device."""
        if not self.collect_software:
            return None
        return await self._job_or_none(self._software_export(), (
            "this run read detected apps device by device instead (new and changed devices and the rolling "
            "refresh; the others keep their stored software)"), " software")

    async def _job_or_none(self, job: Awaitable[_T], instead: str, what: str) -> _T | None:
        try:
            return await job
        except ForeignLink:
            raise  # a tampered answer: the run stops
        except (ProtocolError, MdmRequestError, NotFoundError, Throttled, AuthenticationFailed, ConnectionFailed,
                OSError) as exc:
            self._warn(f"the Intune{what} export job gave no data ({exc}); {instead}")
            return None

    async def _export(self) -> dict[str, Json]:
        return parse_export(await self._export_file(EXPORT_REPORT, EXPORT_SELECT))

    async def _software_export(self) -> SoftwareExport:
        blob = await self._export_file(SOFTWARE_REPORT, SOFTWARE_SELECT)
        return await asyncio.to_thread(parse_software_export, blob)  # a big fleet's file: off the event loop

    async def _export_file(self, report: str, select: tuple[str, ...]) -> bytes:
        """One export job: create it, wait for it, download its zip from the storage host."""
        body = {"reportName": report, "select": list(select), "format": "csv"}
        reply = await self._graph("POST", self._beta("/deviceManagement/reports/exportJobs"), idempotent=False,
                                  json_body=body)
        self._expect_ok(reply, f"a new {report} export job")
        job = reply.body if isinstance(reply.body, dict) else {}
        ident = job.get("id")
        if not isinstance(ident, str) or not _JOB_ID.fullmatch(ident):  # it goes into a URL and messages
            raise ProtocolError(f"Intune's export job answer has no usable id (client-request-id {reply.request_id})")
        url = await self._await_job(ident)
        self._download_allowed(url)
        got = await self.http.download(url)  # no Authorization header: the storage host never sees the token
        if not got.ok:
            raise ProtocolError(f"the export file could not be downloaded (HTTP {got.status} from the storage "
                                "host; the link may have expired)")
        return got.raw

    async def _await_job(self, ident: str) -> str:
        """Poll the job until it completes (its download URL), fails, or the wait runs out."""
        url = self._beta(f"/deviceManagement/reports/exportJobs('{quote(ident, safe='')}')")
        deadline, pause, status = time.monotonic() + self.export_wait_s, self.export_poll_s, "notStarted"
        while True:
            await asyncio.sleep(max(0.0, min(pause, deadline - time.monotonic())))
            reply = await self._graph("GET", url)
            self._expect_ok(reply, f"export job {ident}")
            job = reply.body if isinstance(reply.body, dict) else {}
            status = str(job.get("status") or "")
            if not _ENUM_NAME.fullmatch(status):
                status = "an unexpected value"  # an enum name, or nothing from it reaches a message
            if status == "completed":
                done_url = job.get("url")
                if not isinstance(done_url, str) or not done_url:
                    raise ProtocolError(f"export job {ident} completed without a download URL")
                return done_url
            if status == "failed":
                raise ProtocolError(f"Intune reports export job {ident} failed")
            if time.monotonic() >= deadline:
                raise ProtocolError(f"export job {ident} did not complete within {self.export_wait_s:.0f} s "
                                    f"(status {status}; setting intune_export_wait_s)")
            pause = min(pause * 1.5, 30.0)

    def _download_allowed(self, url: str) -> None:
        """The file's URL is on another host by design (blob storage): no token goes there, and it
        must be HTTPS unless the linkage's Graph URL itself is plain HTTP (a test simulator)."""
        scheme = urlsplit(url).scheme.lower()
        if scheme != "https" and not (scheme == "http" and self.graph.lower().startswith("http://")):
            raise ProtocolError(f"the export file's URL is not HTTPS ({scheme or 'no scheme'}): not downloaded")

    # --- enrichment: $batch for the LIST-quirk properties -----------------------------------------
    async def _details(self, ids: list[str]) -> dict[str, Json]:
        merged: dict[str, Json] = {i: self._early.pop(i) for i in ids if i in self._early}  # read already
        asked = [i for i in ids if i not in merged]
        chunks = [asked[i:i + BATCH_SIZE] for i in range(0, len(asked), BATCH_SIZE)]
        results = await asyncio.gather(*(self._batch(chunk) for chunk in chunks))
        for part in results:
            merged.update(part)
        missing = len(ids) - len(merged)
        if missing:
            self._warn(f"{missing} changed Intune devices kept their stored ICCID/UDID/Ethernet MAC/RAM: "
                       "their detail requests failed; they are fetched again at the next collection")
        return merged

    async def _batch(self, ids: list[str]) -> dict[str, Json]:
        """Single-device GETs 20 to a request; items that fail on their own are retried a few times."""
        pending, wait = list(ids), None
        found: dict[str, Json] = {}
        for round_no in range(self.http.policy.attempts):
            if round_no:
                await self.http.pause(wait, round_no)
            try:
                pending, wait = await self._batch_round(pending, found)
            except DEVICE_LEVEL_ERRORS as exc:
                log.info("Intune: a $batch of %d devices failed: %s", len(pending), exc)
                break
            if not pending:
                break
        return found

    async def _batch_round(self, ids: list[str], found: dict[str, Json]) -> tuple[list[str], float | None]:
        select = ",".join(ENRICH_SELECT)
        requests = [{"id": str(n), "method": "GET", "url": f"{self._device_path(i)}?$select={select}"}
                    for n, i in enumerate(ids)]
        reply = await self._graph("POST", self._beta("/$batch"), json_body={"requests": requests})
        self._expect_ok(reply, "device details ($batch)")
        responses = reply.body.get("responses") if isinstance(reply.body, dict) else None
        if not isinstance(responses, list):
            raise ProtocolError("Intune's $batch answer has no 'responses' list "
                                f"(client-request-id {reply.request_id})")
        return self._sort_batch(ids, responses, found)

    def _sort_batch(self, ids: list[str], responses: list[Any], found: dict[str, Json]) -> tuple[list[str], float | None]:
        by_id = {str(r.get("id")): r for r in responses if isinstance(r, dict)}
        retry, wait = [], None
        for n, ident in enumerate(ids):
            item = by_id.get(str(n))
            status = item.get("status") if item else None
            body = item.get("body") if item else None
            if status == 200 and isinstance(body, dict):
                found[ident] = body
            elif status == 404:
                continue  # deleted since the list was read: nothing to fetch
            elif status is None or status == 429 or (isinstance(status, int) and status >= 500):
                retry.append(ident)
                after = _item_retry_after(item)
                wait = max(wait or 0.0, after) if after is not None else wait
        return retry, wait

    # --- enrichment: detected apps ------------------------------------------------------------------
    async def _apps_of(self, ids: list[str]) -> dict[str, list[SoftwareItem]]:
        if not self.collect_software or not ids:
            return {}
        results = await asyncio.gather(*(self._apps_or_none(i) for i in ids))
        got = {i: apps for i, apps in zip(ids, results) if apps is not None}
        if len(got) < len(ids):
            self._warn(f"the detected apps of {len(ids) - len(got)} changed Intune devices could not be read; "
                       "they keep their stored software and are read again at the next collection")
        return got

    async def _apps_or_none(self, ident: str) -> list[SoftwareItem] | None:
        # One device's apps must not sink the collection: the device keeps its stored software.
        # An unreachable MDM or missing permission still fails the whole run (ConnectionFailed, 401/403).
        try:
            return await self._detected_apps(ident)
        except ForeignLink:
            raise  # a tampered answer is not one device's problem: the run stops
        except DEVICE_LEVEL_ERRORS as exc:
            log.info("Intune: detected apps of %s not read: %s", ident, exc)
            return None

    async def _detected_apps(self, ident: str) -> list[SoftwareItem]:
        url: str | None = self._beta(f"{self._device_path(ident)}/detectedApps")
        params: Json | None = {"$select": "displayName,version"}
        out: list[SoftwareItem] = []
        while url:
            reply = await self._graph("GET", url, params=params)
            if reply.status == 404:
                raise NotFoundError(f"Intune device {ident} no longer exists")
            self._expect_ok(reply, f"the detected apps of device {ident}")
            body = reply.body if isinstance(reply.body, dict) else {}
            if not isinstance(body.get("value"), list):
                raise ProtocolError(f"Intune's detected apps answer for {ident} has no 'value' list")
            out.extend(app for app in map(_software, body["value"]) if app is not None)
            url, params = body.get("@odata.nextLink"), None
            if url is not None:
                self._own_link(str(url), f"next link (@odata.nextLink) of the detected apps of {ident}")
        return out

    # --- the list route's detected apps: tenant-wide counts, device lists only where a count moved ----------
    def _tenant_wide_usable(self) -> bool:
        """A full run that collects software and was handed the inventory's software (a changed-only run
        lists a few devices: it keeps the per-device calls)."""
        return self.collect_software and self.since is None and self.stored_software is not None

    async def _tenant_wide_route(self, phases: churn.Phases, seen: set[str]) -> AsyncIterator[list[DeviceRecord]]:
        """The list route with detected apps from the tenant-wide counts (module docstring): the whole
        listing is read first (the counts are the fleet's), then each page's records are yielded."""
        pages = [items async for items in self._list_pages(seen)]
        items = [item for page in pages for item in page]
        markers = {item["id"]: phases.marker(item, item["id"], self._now) for item in items}
        dues = {i: phases.due(i, m) for i, m in markers.items()}
        # new devices (and those whose last read failed) and the rolling refresh: the per-device call
        read = [i for i, d in dues.items() if d.refresh]
        asked = set(read)
        # every device read one by one (a first collection): the counts would tell nothing more
        counted = len(asked) < len(dues)
        assert self.stored_software is not None
        details, fresh, tenant, stored = await asyncio.gather(
            self._details([i for i, d in dues.items() if d.enrich]), self._apps_of(read),
            self._tenant_apps_or_none() if counted else _nothing(), self.stored_software())
        derived: dict[str, list[SoftwareItem]] = {}
        if not counted:
            self.software_route = "per-device"
        elif tenant is None:  # no counts this run: the per-device route (changed devices too), as before
            self.software_route = "per-device"
            rest = [i for i, d in dues.items() if d.any and i not in asked]
            fresh.update(await self._apps_of(rest))
            asked.update(rest)
        else:
            self.software_route = "tenant-wide"
            derived, unsure = await self._derive(tenant, stored, list(markers), fresh, asked)
            fresh.update(await self._apps_of(unsure))
            asked.update(unsure)
        fresh.update(derived)
        for page in pages:
            yield [self._record(item, markers[item["id"]], details.get(item["id"]), fresh.get(item["id"]),
                                dues[item["id"]], need=dues[item["id"]].enrich, apps_asked=item["id"] in asked)
                   for item in page]

    async def _derive(self, tenant: list[Json], stored: StoredSoftware, listed: list[str],
                      fresh: dict[str, list[SoftwareItem]], asked: set[str]) -> tuple[dict[str, list[SoftwareItem]], list[str]]:
        """Each listed device's software from the tenant-wide counts: (changed devices -> their new
        software, devices to read one by one). A device just read keeps what it answered; one whose
        read failed keeps its stored software."""
        counts, ids = _tenant_counts(tenant)
        expected: dict[SoftwarePair, int] = {}
        for device in listed:
            held = {(a.name, a.version) for a in fresh[device]} if device in fresh else set(stored.of(device))
            for pair in held:
                expected[pair] = expected.get(pair, 0) + 1
        moved = [p for p, n in counts.items() if n != expected.get(p, 0)]
        holders = await self._holders(moved, ids)
        # a pair the inventory has and the list lacks (its last device dropped it, or an offset-paged list
        # skipped it), or one storage cannot hold as sent: its holders are read one by one
        doubtful = {p for p in expected if p not in counts} | {p for p in counts if _unstorable(p)}
        changed, unsure = _apply_counts([d for d in listed if d not in asked], stored, holders, doubtful)
        log.info("Intune: %s: %d tenant-wide app entries, %d (name, version) counts moved, %d devices' software "
                 "changed by them, %d read one by one for a pair the list lacks", self.config.name, len(tenant),
                 len(moved), len(changed), len(unsure))
        return changed, unsure

    async def _tenant_apps_or_none(self) -> list[Json] | None:
        """Every tenant-wide detectedApp entry (id, displayName, version, deviceCount), or None with a
        warning when the list cannot be read (the run then reads apps device by device)."""
        try:
            return await self._tenant_apps()
        except ForeignLink:
            raise
        except (ProtocolError, MdmRequestError, NotFoundError, Throttled) as exc:
            self._warn(f"the tenant-wide detected apps could not be read ({exc}); this run read detected apps "
                       "device by device instead (new and changed devices and the rolling refresh; the others "
                       "keep their stored software)")
            return None

    async def _tenant_apps(self) -> list[Json]:
        url: str | None = self._v1("/deviceManagement/detectedApps")
        params: Json | None = {"$top": str(PAGE_SIZE)}
        entries: dict[str, Json] = {}
        links: set[str] = set()
        while url:
            reply = await self._graph("GET", url, params=params)
            self._expect_ok(reply, "the tenant-wide detected apps")
            body = reply.body if isinstance(reply.body, dict) else {}
            if not isinstance(body.get("value"), list):
                raise ProtocolError("Intune's tenant-wide detected apps answer has no 'value' list "
                                    f"(client-request-id {reply.request_id})")
            for entry in body["value"]:
                if not isinstance(entry, dict):
                    raise ProtocolError("Intune sent a detected app that is not an object")
                count = entry.get("deviceCount")
                if not isinstance(entry.get("id"), str) or isinstance(count, bool) or not isinstance(count, int):
                    raise ProtocolError("Intune sent a detected app without an id or deviceCount")
                entries[entry["id"]] = entry  # an offset-paged list may repeat an entry: counted once
            url, params = body.get("@odata.nextLink"), None
            if url is not None:
                self._own_link(str(url), "next link (@odata.nextLink) of the tenant-wide detected apps")
                if url in links:
                    raise ProtocolError("Intune sent a nextLink of the detected apps it had already sent")
                links.add(str(url))
        return list(entries.values())

    async def _holders(self, pairs: list[SoftwarePair], ids: dict[SoftwarePair, list[str]]) -> dict[SoftwarePair, set[str]]:
        """The devices holding each pair now (the union of its platforms' entries); a pair whose device
        list could not be read is left out (its devices keep that item as stored, with a warning)."""
        jobs = [(pair, ident) for pair in pairs for ident in ids[pair]]
        answers = await asyncio.gather(*(self._app_devices_or_none(ident) for _, ident in jobs))
        out: dict[SoftwarePair, set[str]] = {}
        failed: set[SoftwarePair] = set()
        for (pair, _), devices in zip(jobs, answers):
            if devices is None:
                failed.add(pair)
            else:
                out.setdefault(pair, set()).update(devices)
        if failed:
            self._warn(f"the device lists of {len(failed)} Intune detected apps could not be read; their devices "
                       "keep those apps as stored and they are read again at the next collection")
        return {p: d for p, d in out.items() if p not in failed}

    async def _app_devices_or_none(self, ident: str) -> set[str] | None:
        try:
            return await self._app_devices(ident)
        except ForeignLink:
            raise
        except DEVICE_LEVEL_ERRORS as exc:
            log.info("Intune: devices of detected app %s not read: %s", ident, exc)
            return None

    async def _app_devices(self, ident: str) -> set[str]:
        """``detectedApps/{id}/managedDevices``, paged: the ids of the devices that have the app now; an
        app gone since the list was read (404) is on no device."""
        url: str | None = self._v1(f"/deviceManagement/detectedApps/{quote(ident, safe='')}/managedDevices")
        params: Json | None = {"$select": "id", "$top": str(PAGE_SIZE)}
        out: set[str] = set()
        while url:
            reply = await self._graph("GET", url, params=params)
            if reply.status == 404:
                return set()
            self._expect_ok(reply, f"the devices of detected app {ident}")
            body = reply.body if isinstance(reply.body, dict) else {}
            if not isinstance(body.get("value"), list):
                raise ProtocolError(f"Intune's devices of detected app {ident} answer has no 'value' list")
            out.update(d["id"] for d in body["value"] if isinstance(d, dict) and isinstance(d.get("id"), str))
            url, params = body.get("@odata.nextLink"), None
            if url is not None:
                self._own_link(str(url), f"next link (@odata.nextLink) of the devices of detected app {ident}")
        return out

    async def software(self, device: DeviceRef) -> list[SoftwareItem]:
        """The detected apps of one device."""
        return await self._detected_apps(device.mdm_device_id)

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        log.warning("Intune: %s", message)

    # --- actions ------------------------------------------------------------------------------------
    async def lock(self, device: DeviceRef) -> ActionResult:
        """remoteLock (smart devices only)."""
        reason = spec.refusal(device.os_class, Action.LOCK)
        if reason:
            return _refused(device, Action.LOCK, reason)
        return await self._act(device, Action.LOCK, None)

    async def wipe(self, device: DeviceRef, options: WipeOptions) -> ActionResult:
        """wipe, with the options spelled as Graph names them (safe defaults: keep nothing)."""
        body = {"keepEnrollmentData": bool(options.keep_enrollment_data), "keepUserData": bool(options.keep_user_data),
                "persistEsimDataPlan": bool(options.persist_esim_data_plan)}
        return await self._act(device, Action.WIPE, body)

    async def reset_passcode(self, device: DeviceRef) -> ActionResult:
        """Refused: the mission allows no passcode reset through Intune (nothing is sent)."""
        return _refused(device, Action.RESET_PASSCODE, spec.refusal(device.os_class, Action.RESET_PASSCODE)
                        or "not available through Intune")

    async def _act(self, device: DeviceRef, action: Action, body: Json | None) -> ActionResult:
        name = ACTION_NAMES[action]
        url = self._v1(f"{self._device_path(device.mdm_device_id)}/{name}")
        try:
            reply = await self._graph("POST", url, idempotent=False, json_body=body)
        except AnswerLost as lost:
            return ActionResult(device.mdm_device_id, action, Outcome.UNKNOWN, message=str(lost),
                                request_id=lost.request_id, reference=name)
        if reply.ok:
            return ActionResult(device.mdm_device_id, action, Outcome.PENDING, http_status=reply.status,
                                request_id=reply.request_id, reference=name,
                                message=f"Intune accepted {name}; the device carries it out at its next check-in")
        return self._action_failed(device, action, reply, name)

    def _action_failed(self, device: DeviceRef, action: Action, reply: Reply, name: str) -> ActionResult:
        code, message = graph_error(reply)
        outcome = Outcome.FAILED
        if reply.status == 404:
            message = f"the device no longer exists in Intune ({message})"
        elif reply.status == 429:
            message = f"Intune kept throttling {name} (HTTP 429: {message}); it was not carried out: try again later"
        elif reply.status >= 500:  # a server error on a POST may or may not have taken effect
            outcome = Outcome.UNKNOWN
            message = (f"Intune failed while taking {name} (HTTP {reply.status}: {message}); it may or may not "
                       "have been carried out: follow it up before sending it again")
        return ActionResult(device.mdm_device_id, action, outcome, message=message, mdm_code=code,
                            http_status=reply.status, request_id=reply.request_id, reference=name)

    async def device_gone(self, mdm_device_id: str) -> bool:
        """True when GET managedDevices/{id} answers 404: Intune no longer has the device."""
        reply = await self._graph("GET", self._v1(self._device_path(mdm_device_id)), params={"$select": "id"})
        if reply.status == 404:
            return True
        self._expect_ok(reply, f"device {mdm_device_id}")
        return False

    async def follow_up(self, device: DeviceRef, pending: ActionResult) -> ActionResult:
        """The action's state: a wipe from managementState, lock from deviceActionResults."""
        if pending.action is Action.WIPE:
            return await self._follow_wipe(device, pending)
        name = pending.reference or ACTION_NAMES[pending.action]
        reply = await self._graph("GET", self._v1(self._device_path(device.mdm_device_id)),
                                  params={"$select": "id,deviceActionResults"})
        if reply.status == 404:
            return _follow(pending, Outcome.FAILED, "the device no longer exists in Intune", reply, None)
        self._expect_ok(reply, f"device {device.mdm_device_id}")
        entry = _latest_action(reply.body, name, pending.sent_at, pending.earlier_sent_at)
        if entry is None:
            return _follow(pending, Outcome.PENDING, f"Intune reports no {name} result yet", reply, None)
        state = str(entry.get("actionState") or "")
        outcome = ACTION_STATES.get(state.lower(), Outcome.UNKNOWN)
        return _follow(pending, outcome, f"Intune reports {name}: {state}", reply, state)

    async def _follow_wipe(self, device: DeviceRef, pending: ActionResult) -> ActionResult:
        """A wipe's state from the device's managementState (beta), judged by ``judge_wipe``."""
        reply = await self._graph("GET", self._beta(self._device_path(device.mdm_device_id)),
                                  params={"$select": "id,managementState"})
        if reply.status != 404:
            self._expect_ok(reply, f"device {device.mdm_device_id}")
        state = reply.body.get("managementState") if isinstance(reply.body, dict) else None
        if state is not None and not _ENUM_NAME.fullmatch(str(state)):
            state = "an unexpected value"  # an enum name, or nothing from it reaches a message
        outcome, message, code = judge_wipe(pending, None if reply.status == 404 else str(state or ""))
        return _follow(pending, outcome, message, reply, code)


_ENUM_NAME = re.compile(r"[A-Za-z]{1,40}")
_JOB_ID = re.compile(r"[A-Za-z0-9_.-]{1,200}")


def judge_wipe(pending: ActionResult, state: str | None) -> tuple[Outcome, str, str | None]:
    """(outcome, message, state to record) of a wipe whose device shows ``state`` (None: record gone).

    Only this wipe's own trace settles it: a state under way is recorded as evidence, and the
    record's removal means "done" only after that evidence. While an earlier wipe of the device
    was still open when this one was sent, nothing Intune shows can be told apart from that
    wipe's doing, so this one stays as it is (an earlier request never settles a later one).
    """
    seen = (pending.mdm_code or "").lower() in WIPE_UNDER_WAY
    if pending.earlier_open:
        when = pending.earlier_sent_at.isoformat(timespec="seconds") if pending.earlier_sent_at else "before"
        why = (f"an earlier wipe of this device (sent {when}) was still under way when this one was sent: "
               "what Intune shows cannot be told apart from that wipe's doing")
        return (Outcome.UNKNOWN, f"the device record is gone, but {why}", None) if state is None else \
            (Outcome.PENDING, f"Intune shows {state}; {why}", None)
    if state is None:
        if seen:
            return Outcome.SUCCEEDED, WIPE_DONE, "removed"
        return (Outcome.UNKNOWN, "the device no longer exists in Intune, but the wipe was never seen under "
                "way (wipePending/wipeIssued): whether it wiped the device cannot be told; check the device", None)
    key = state.lower()
    if key in WIPE_UNDER_WAY:
        return Outcome.PENDING, WIPE_UNDER_WAY[key], state
    if key in WIPE_ENDED and (seen or pending.outcome is Outcome.PENDING):
        return Outcome.FAILED, WIPE_ENDED[key], state
    if seen:  # it was under way and the device is back to another state without being removed
        return (Outcome.UNKNOWN, f"the wipe was under way, but Intune now shows the device {state or 'without a state'} "
                "and kept its record: whether it was wiped cannot be told; check the device", state)
    return Outcome.PENDING, f"Intune shows no wipe under way for this request yet (managementState {state or 'not given'})", None


class _ExpiredLink(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _unseen(items: list[Any], seen: set[str]) -> list[Json]:
    """The page's devices not yet seen in this listing (a repeated page adds nothing)."""
    fresh = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
            raise ProtocolError("Intune sent a device without an id: the answer is not a managedDevice list")
        if item["id"] in seen:
            continue
        seen.add(item["id"])
        fresh.append(item)
    if len(fresh) < len(items):
        log.warning("Intune: %d devices of a page were already read (repeated page); skipped",
                    len(items) - len(fresh))
    return fresh


def _never_enriched(stored: str | None) -> bool:
    """True for a device whose single GET never succeeded: new, or its marker was reset after a failed
    enrichment (None), or a marker of a release before the r1 one (churn.py)."""
    return churn.parse(stored) is None


async def _nothing() -> None:
    return None


def _tenant_counts(entries: list[Json]) -> tuple[dict[SoftwarePair, int], dict[SoftwarePair, list[str]]]:
    """(devices per (name, version), the entry ids of each): a name and version appear once per platform
    (iOS and Android builds of one app are two entries), and a device has the software item once."""
    counts: dict[SoftwarePair, int] = {}
    ids: dict[SoftwarePair, list[str]] = {}
    for entry in entries:
        item = _software(entry)
        if item is None:
            continue  # no name: no software item on any device (as the per-device call)
        pair = (item.name, item.version)
        counts[pair] = counts.get(pair, 0) + entry["deviceCount"]
        ids.setdefault(pair, []).append(entry["id"])
    return counts, ids


def _apply_counts(devices: list[str], stored: StoredSoftware, holders: dict[SoftwarePair, set[str]],
                  doubtful: set[SoftwarePair]) -> tuple[dict[str, list[SoftwareItem]], list[str]]:
    """(device -> new software, for the devices whose software changed; devices to read one by one)."""
    gains: dict[str, list[SoftwarePair]] = {}
    wanted = set(devices)
    for pair, having in holders.items():
        for device in having & wanted:
            gains.setdefault(device, []).append(pair)
    changed: dict[str, list[SoftwareItem]] = {}
    unsure: list[str] = []
    for device in devices:
        own = stored.of(device)
        if any(p in doubtful for p in own) or any(p in doubtful for p in gains.get(device, ())):
            unsure.append(device)
            continue
        kept = [p for p in own if p not in holders or device in holders[p]]
        have = set(own)
        added = [p for p in gains.get(device, ()) if p not in have]
        if added or len(kept) != len(own):
            changed[device] = [SoftwareItem(name, version) for name, version in kept + added]
    return changed, unsure


def _unstorable(pair: SoftwarePair) -> bool:
    """A name or version storage keeps only altered (cut, or a NUL or lone surrogate replaced): its stored
    form never matches the MDM's, so counts cannot follow it (storage/storable.py's limits, or below)."""
    name, version = pair
    return len(name) > 255 or len(version or "") > 100 or any(c == "\x00" or "\ud800" <= c <= "\udfff"
                                                              for c in name + (version or ""))


def _column(header: str) -> str:
    return re.sub(r"[^0-9a-z]", "", header.lower())


def _csv_member(zf: zipfile.ZipFile, limit: int) -> zipfile.ZipInfo:
    members = [m for m in zf.infolist() if m.filename.lower().endswith(".csv")]
    if not members:
        raise ProtocolError("the export file holds no CSV")
    if members[0].file_size > limit:
        raise ProtocolError(f"the export's CSV is {members[0].file_size:,} bytes: too big to unpack")
    return members[0]


_UNREADABLE_ZIP = (zipfile.BadZipFile, zipfile.LargeZipFile, UnicodeDecodeError, EOFError, ValueError, zlib.error)


def parse_export(blob: bytes) -> dict[str, Json]:
    """DevicesWithInventory's zip -> {device id: {"iccid": …, "ethernetMacAddress": …}}; an empty cell
    is None. A zip without a CSV, a CSV without the columns, or one too big to unpack is refused."""
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as zf:
            text = zf.read(_csv_member(zf, MAX_EXPORT_BYTES)).decode("utf-8-sig")
    except _UNREADABLE_ZIP as exc:
        raise ProtocolError(f"the export file is not a readable zip of a UTF-8 CSV ({exc.__class__.__name__})") from None
    try:
        rows = csv.reader(io.StringIO(text, newline=""))
        header = [_column(h) for h in next(rows, [])]
        if "deviceid" not in header or not set(EXPORT_KEYS) <= set(header):
            raise ProtocolError("the export's CSV lacks a Device ID, ICCID or Ethernet MAC column")
        at = {name: header.index(name) for name in ("deviceid", *EXPORT_KEYS)}
        out: dict[str, Json] = {}
        for row in rows:
            if len(row) < len(header):
                continue  # a short (cut) line: that device keeps the list route's values
            ident = row[at["deviceid"]].strip()
            if ident:
                out[ident] = {prop: (row[at[col]].strip() or None) for col, prop in EXPORT_KEYS.items()}
        return out
    except csv.Error as exc:
        raise ProtocolError(f"the export's CSV cannot be read ({exc})") from None


class SoftwareExport:
    """AppInvRawData's rows by device, compactly (a 100,000-device fleet has millions of rows): each
    distinct (name, version) is kept once, each device holds an array of their numbers."""

    def __init__(self) -> None:
        self._pairs: list[tuple[str, str | None]] = []
        self._numbers: dict[tuple[str, str | None], int] = {}
        self._devices: dict[str, array[int]] = {}

    def add(self, device: str, name: str | None, version: str | None) -> None:
        """One row; a row without an app name only tells that the device is covered (as detectedApps,
        an app without a name is no software item)."""
        apps = self._devices.get(device)
        if apps is None:
            apps = self._devices[device] = array("I")
        if name is None:
            return
        number = self._numbers.get((name, version))
        if number is None:
            number = self._numbers[(name, version)] = len(self._pairs)
            self._pairs.append((name, version))
        apps.append(number)

    def covers(self, device: str) -> bool:
        """True when the file has rows of the device."""
        return device in self._devices

    def of(self, device: str) -> list[SoftwareItem]:
        """The device's detected apps (empty for a device the file has no row of)."""
        return [SoftwareItem(*self._pairs[n]) for n in self._devices.get(device, ())]

    def __len__(self) -> int:
        return len(self._devices)


_SOFTWARE_COLUMNS = ("deviceid", "applicationname", "applicationversion")


def parse_software_export(blob: bytes) -> SoftwareExport:
    """AppInvRawData's zip -> every device's detected apps, read as a stream. The headers are compared
    without case, spaces or hyphens (requested or display names), the columns found by name in any
    order. A line with fewer cells than the header refuses the whole file: a device's list cut short
    would be stored as its software."""
    out = SoftwareExport()
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as zf, \
                zf.open(_csv_member(zf, MAX_SOFTWARE_EXPORT_BYTES)) as raw:
            rows = csv.reader(io.TextIOWrapper(raw, encoding="utf-8-sig", newline=""))
            header = [_column(h) for h in next(rows, [])]
            if not set(_SOFTWARE_COLUMNS) <= set(header):
                raise ProtocolError("the software export's CSV lacks a Device ID, Application name or "
                                    "Application version column")
            device, name, version = (header.index(c) for c in _SOFTWARE_COLUMNS)
            width = len(header)
            for row in rows:
                if len(row) < width:
                    raise ProtocolError(f"the software export's CSV has a cut line (line {rows.line_num})")
                ident = row[device].strip()
                if ident:
                    out.add(ident, mapping.text(row[name]), mapping.text(row[version]))
    except _UNREADABLE_ZIP as exc:
        raise ProtocolError(f"the software export is not a readable zip of a UTF-8 CSV ({exc.__class__.__name__})") \
            from None
    except csv.Error as exc:
        raise ProtocolError(f"the software export's CSV cannot be read ({exc})") from None
    return out


def _item_retry_after(item: Json | None) -> float | None:
    headers = item.get("headers") if item else None
    if not isinstance(headers, dict):
        return None
    return retry_after_seconds(httpx.Headers({str(k): str(v) for k, v in headers.items()}))


def _software(app: object) -> SoftwareItem | None:
    if not isinstance(app, dict):
        return None
    name = mapping.text(app.get("displayName"))
    # The spec's Intune column has no vendor ("--"), so publisher is not read.
    return SoftwareItem(name=name, version=mapping.text(app.get("version"))) if name else None


# Graph's clock and ours may differ a little; an entry started this long before we sent still counts.
CLOCK_SKEW = timedelta(minutes=2)


def _latest_action(body: object, name: str, sent_at: datetime | None = None,
                   earlier_sent_at: datetime | None = None) -> Json | None:
    """The newest deviceActionResults entry of ``name`` that can only be about a request sent at ``sent_at``.

    An older entry (a lock done last month) says nothing about this request: trusting it would
    record a lost command as done. Nor does an entry that may be the previous request's (sent at
    ``earlier_sent_at``): it must have started after that one plus the clock skew. Between the two
    (a repeat within twice the skew) no entry qualifies, and the request stays as it is.
    """
    results = body.get("deviceActionResults") if isinstance(body, dict) else None
    mine = [r for r in results or () if isinstance(r, dict) and str(r.get("actionName", "")).lower() == name.lower()]
    if sent_at is not None:
        mine = [r for r in mine if _started_within(r, sent_at - CLOCK_SKEW, earlier_sent_at)]
    return max(mine, key=lambda r: str(r.get("startDateTime") or "")) if mine else None


def _started_within(entry: Json, not_before: datetime, earlier_sent_at: datetime | None) -> bool:
    started = mapping.when(entry.get("startDateTime"))
    if started is None:  # undated: it cannot be shown to be this request's
        return False
    return started >= not_before and (earlier_sent_at is None or started > earlier_sent_at + CLOCK_SKEW)


def _follow(pending: ActionResult, outcome: Outcome, message: str, reply: Reply, code: str | None) -> ActionResult:
    return ActionResult(pending.mdm_device_id, pending.action, outcome, message=message, mdm_code=code,
                        http_status=reply.status, request_id=reply.request_id, reference=pending.reference)


def _refused(device: DeviceRef, action: Action, reason: str) -> ActionResult:
    return ActionResult(device.mdm_device_id, action, Outcome.REFUSED, message=reason)


def raise_for(reply: Reply, message: str) -> None:
    """Raise the error family member that fits a failed answer."""
    code, _ = graph_error(reply)
    if reply.status == 404:
        raise NotFoundError(message)
    raise MdmRequestError(f"{message} (client-request-id {reply.request_id})", status=reply.status, code=code,
                          request_id=reply.request_id)


# ------------------------------------------------------------------------------ the system spec


def _authority(value: str) -> str:
    spec.split_url(value, "authority URL", path_allowed=True)
    return value.rstrip("/")


def _check_linkage(settings: Any) -> None:
    """A tenant (GUID or domain), the application's GUID and its client secret."""
    tenant = settings.tenant_id
    if tenant is None:
        raise ValueError("Intune linkages need a tenant id (a GUID or a domain such as contoso.onmicrosoft.com)")
    if not spec.GUID.match(tenant):
        try:
            tenant = spec.check_host(tenant, "tenant id")
        except ValueError:
            raise ValueError("tenant id must be a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx) or a "
                             f"domain such as contoso.onmicrosoft.com, got '{tenant}'") from None
        if "." not in tenant or spec.is_ip(tenant):
            raise ValueError(f"tenant id must be a GUID or a domain name, got '{tenant}'")
    client = settings.client_id
    if client is None or not spec.GUID.match(client):
        raise ValueError("client id must be the application's GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"
                         + (f", got '{client}'" if client else ""))
    settings.tenant_id, settings.client_id = tenant.lower(), client.lower()
    if not spec.secret_given(settings.client_secret):
        raise ValueError("Intune linkages need a client secret")


SPEC = spec.declare(spec.SystemSpec(
    system=System.INTUNE, label="Microsoft Intune", short="Intune",
    options=(
        spec.Option("tenant_id", "Tenant ID", help="tenant GUID or domain", metavar="ID"),
        spec.Option("client_id", "Client (application) ID", help="the application (client) id", metavar="GUID"),
        spec.Option("client_secret", "Client secret", secret=True, prompt="Intune client secret"),
        spec.Option("authority_url", "Sign-in authority URL", default=DEFAULT_AUTHORITY, metavar="URL",
                    help=f"the sign-in authority (default {DEFAULT_AUTHORITY})", validate=_authority,
                    in_form=False),
    ),
    page_limit=PAGE_SIZE, os_classes=mapping.SYSTEM_CLASSES[System.INTUNE], check=_check_linkage,
    keyed_by="tenant", default_server_url=DEFAULT_GRAPH, server_what="Graph base URL",
    required_secret="client_secret",
    refusals={(Action.LOCK, OsClass.IP): "Intune cannot lock a device classified as PC",
              (Action.RESET_PASSCODE, OsClass.IS): "the passcode cannot be reset through Intune",
              (Action.RESET_PASSCODE, OsClass.IP): "the passcode cannot be reset through Intune"},
))
