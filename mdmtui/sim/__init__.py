"""A faithful simulator of Intune (Graph), MobileIron Core and the vendor SDM on loopback ports.

    from mdmtui.sim import Simulator, Faults
    with Simulator(seed=1, intune=1000, mobileiron=1000, sdm=1000) as sim:
        sim.intune.base_url, sim.mobileiron.base_url, sim.sdm.base_url ...
"""

from __future__ import annotations

import random
import tempfile
import threading
from collections import deque
from typing import Any

from starlette.applications import Starlette

from . import ids
from .admin import MDMS, Admin, admin_routes
from .budget import BudgetLimits, Meter
from .exports import StorageService
from .faults import FaultBook, Faults, parse_spec
from .fleet import Fleet
from .intune import IntuneConfig, IntuneService
from .mobileiron import API_ROLE, DEVICE_ACTIONS_ROLE, MobileIronConfig, MobileIronService
from .scenario import apply_demo, apply_hostile
from .sdm import SdmConfig, SdmService, SoftwareService
from .server import ServerThread, bind

__all__ = ["Simulator", "Faults", "parse_spec", "SCENARIOS", "BudgetLimits"]

# --scenario NAME: what each one injects into the generated fleets
SCENARIOS = {"demo": apply_demo, "hostile": apply_hostile}


def _secret(r: random.Random, n: int, alphabet: str) -> str:
    return "".join(r.choice(alphabet) for _ in range(n))


class Simulator:
    """Intune, MobileIron Core and SDM (plus the SDM software service and the blob storage host of
    Intune's export files) on 127.0.0.1, one port each."""

    def __init__(self, seed: int = 1, intune: int = 1000, mobileiron: int = 1000, sdm: int = 1000,
                 scenario: str | None = None, tls: bool = False, port: int = 0, now: float | None = None,
                 log_size: int = 10_000, budget: BudgetLimits | None = BudgetLimits()):
        self.seed, self.tls, self.first_port = seed, tls, port
        self.fleets = {"intune": Fleet(seed, "intune", intune, now), "mobileiron": Fleet(seed, "mobileiron", mobileiron, now),
                       "sdm": Fleet(seed, "sdm", sdm, now)}
        self.faults = FaultBook(seed)
        self.meter = Meter(budget)       # Intune's request budget (None: unthrottled) and request counters
        self.requests_log: deque = deque(maxlen=log_size)
        self._log_lock = threading.Lock()
        self.admin = Admin(self)
        self.ca_bundle: str | None = None
        self.scenario_devices: dict[str, dict[str, str]] = {}
        self._credentials(seed)
        # by name: the MDMs' services and the blob storage host, each reached for its own attributes
        # (exports, truth, end_next_wipe, downloads …), so no one base type covers them
        self.services: dict[str, Any] = {"intune": IntuneService(self, self.intune), "mobileiron": MobileIronService(self, self.mobileiron),
                         "sdm": SdmService(self, self.sdm), "software": SoftwareService(self, self.sdm)}
        # Intune's export files: a blob storage host of its own (another origin, no Graph token)
        self.services["storage"] = StorageService(self, self.services["intune"].exports)
        self._server: ServerThread | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        if scenario is not None and scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r} (known: {', '.join(SCENARIOS)})")
        if scenario is not None:
            SCENARIOS[scenario](self)

    def _credentials(self, seed: int) -> None:
        r = random.Random(ids.stable_int(seed, "credentials"))
        alnum = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
        self.intune = IntuneConfig(tenant_id=ids.guid(r), client_id=ids.guid(r),
                                   client_secret=_secret(r, 3, alnum) + "8Q~" + _secret(r, 34, alnum + "._-"))
        mi_pw, ro_pw, no_pw = (_secret(r, 16, alnum) for _ in range(3))
        self.mobileiron = MobileIronConfig(password=mi_pw, users={
            "api_admin": (mi_pw, {API_ROLE, DEVICE_ACTIONS_ROLE}),
            "api_readonly": (ro_pw, {API_ROLE}),
            "portal_admin": (no_pw, set()),
        })
        self.sdm = SdmConfig(user=f"JP1MDM{r.randrange(1, 1000):03d}{r.randrange(1, 6):02d}@server01.jp1mdm.hitachi.jp",
                             password=_secret(r, 16, alnum))

    # --- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> Simulator:
        """Start the five servers in a background thread; returns when they listen."""
        names = ("intune", "mobileiron", "sdm", "software", "storage")
        socks = [bind(self.first_port + i if self.first_port else 0) for i in range(len(names))]
        scheme = "https" if self.tls else "http"
        certfile = keyfile = None
        if self.tls:
            from .tls import make_certs
            self._tmp = tempfile.TemporaryDirectory(prefix="mdmtui-sim-")
            self.ca_bundle, certfile, keyfile = make_certs(self._tmp.name)
        urls = {n: f"{scheme}://127.0.0.1:{s.getsockname()[1]}" for n, s in zip(names, socks)}
        self.intune.base_url, self.mobileiron.base_url, self.sdm.base_url = urls["intune"], urls["mobileiron"], urls["sdm"]
        self.sdm.db_port = socks[3].getsockname()[1]
        self.sdm.software_url = urls["software"]
        self.intune.storage_url = urls["storage"]
        apps = [self._app(n) for n in names]
        self._server = ServerThread(list(zip(apps, socks)), certfile, keyfile)
        self._server.start()
        return self

    def _app(self, name: str) -> Starlette:
        if name == "storage":  # a blob host: no /_sim routes, nothing but the files
            return Starlette(routes=self.services[name].routes())
        mdm = "sdm" if name == "software" else name
        return Starlette(routes=admin_routes(self, mdm) + self.services[name].routes())

    def stop(self) -> None:
        """Stop the servers."""
        if self._server:
            self._server.stop()
            self._server = None
        if self._tmp:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- for tests ----------------------------------------------------------------------------------
    def set_faults(self, faults: Faults | None, mdm: str | None = None, endpoint: str | None = None) -> None:
        """Inject faults for every MDM, one MDM, or one endpoint of one MDM; None clears."""
        if mdm is not None and mdm not in MDMS:
            raise ValueError(f"unknown MDM {mdm!r}")
        self.faults.set(faults, mdm, endpoint)

    def truth(self, mdm: str, mdm_device_id: str) -> dict:
        """The device's full real wire representation (what a single-device GET or details returns)."""
        slot = self.fleets[mdm].slot_of(mdm_device_id)
        if slot is None:
            raise KeyError(f"{mdm} has no device {mdm_device_id}")
        return self.services[mdm].truth(slot)

    def device_ids(self, mdm: str) -> list[str]:
        """The MDM ids of every current device, in listing order."""
        fleet = self.fleets[mdm]
        return [fleet.id_of(s) for s in fleet.live_slots()]

    def truths(self, mdm: str):
        """truth() of every current device, in listing order, lazily (the bulk truth of /_sim/devices?full=1)."""
        fleet, service = self.fleets[mdm], self.services[mdm]
        for slot in fleet.live_slots():
            if fleet.exists(slot):          # a wipe may complete while the fleet is walked
                try:
                    yield service.truth(slot)
                except KeyError:
                    continue

    def all_apps(self, mdm: str):
        """(MDM id, admin.apps()) of every current device, in listing order, lazily (/_sim/apps)."""
        fleet = self.fleets[mdm]
        for slot in fleet.live_slots():
            yield fleet.id_of(slot), self.admin.apps_of_slot(mdm, slot)

    def log(self, mdm: str, method: str, path: str, status: int) -> None:
        """Record one answered request in `requests_log`."""
        self.requests_log.append((mdm, method, path, status))
