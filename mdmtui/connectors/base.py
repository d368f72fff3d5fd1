"""The one protocol every MDM connector implements, and the registry keyed by ``System``.

Connectors speak HTTP and nothing else: no database, no policy. They turn wire JSON into
``DeviceRecord``/``SoftwareItem``/``ActionResult`` and raise the ``mdmtui.errors`` family.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

from mdmtui.records import ActionResult, DeviceRecord, DeviceRef, SoftwareItem, StoredSoftware, System, WipeOptions
from mdmtui.secrets import Secret


@dataclass(slots=True)
class LinkageConfig:
    """Everything a connector needs about one linkage, secrets decrypted (kept as ``Secret``)."""

    name: str
    system: str
    server_url: str  # SDM/MobileIron: https://host:port ; Intune: the Graph base URL
    verify_tls: bool = True
    ca_bundle: str | None = None
    proxy_url: str | None = None
    proxy_user: str | None = None
    proxy_password: Secret | None = None
    timeout_s: float = 60.0
    page_size: int | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: Secret | None = None
    authority_url: str | None = None
    user: str | None = None
    password: Secret | None = None
    device_space_id: int | None = None
    sdm_version: str | None = None
    name_mapping: str | None = None  # SDM: "list" (default) or "User:PhoneNumber:Model"
    # SDM software database service from sdm_import.properties (None: software not configured)
    sdm_db_host: str | None = None
    sdm_db_port: int | None = None
    max_concurrency: int = 8
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Connector(Protocol):
    """What the services call on any MDM."""

    system: str

    async def test_connection(self) -> str:
        """Check reachability and credentials; a one-line description of the MDM on success."""

    def iter_device_pages(self, known: Mapping[str, str | None]) -> AsyncIterator[list[DeviceRecord]]:
        """Stream every device, one page at a time.

        ``known`` maps MDM device ids already in the inventory to their stored change marker;
        the connector skips costly per-device calls (details, software) for unchanged devices
        and lists the skipped fields in ``DeviceRecord.unfetched`` (``software=None``).

        A connector may also have a ``stored_software`` attribute (``SoftwareLoader | None``, None by
        default): the service then sets it to a loader of the linkage's stored software before the
        stream starts, and the connector awaits it only when it needs it (Intune's list route).
        """

    async def software(self, device: DeviceRef) -> list[SoftwareItem]:
        """The software installed on one device (empty when the MDM reports none)."""

    async def lock(self, device: DeviceRef) -> ActionResult:
        """Lock the device."""

    async def wipe(self, device: DeviceRef, options: WipeOptions) -> ActionResult:
        """Wipe (initialise) the device."""

    async def reset_passcode(self, device: DeviceRef) -> ActionResult:
        """Reset (clear) the device's passcode."""

    async def follow_up(self, device: DeviceRef, pending: ActionResult) -> ActionResult:
        """Ask the MDM for the current state of an action that was accepted earlier."""

    async def device_gone(self, mdm_device_id: str) -> bool:
        """Ask the MDM directly about one device that a listing did not show.

        True only when the MDM says it has no such device (a per-device query: 404, or a search by
        its id that finds nothing); False when it still has it. A failed query raises: an
        unanswered question confirms nothing, so the device is not marked missing.
        """

    async def aclose(self) -> None:
        """Close the HTTP client."""


# What a connector may ask the collection for besides ``known``: an optional attribute, set by the service
# before ``iter_device_pages`` when the connector has it (Intune's ``stored_software``), never required.
SoftwareLoader = Callable[[], Awaitable[StoredSoftware]]

ConnectorFactory = Callable[[LinkageConfig], Connector]
_REGISTRY: dict[System, ConnectorFactory] = {}


_C = TypeVar("_C", bound=type[Connector])


def register(system: System | str) -> Callable[[_C], _C]:
    """Class decorator: make a connector available under ``system``."""
    def deco(cls: _C) -> _C:
        _REGISTRY[System(system)] = cls
        cls.system = System(system).value
        return cls
    return deco


def connector_for(config: LinkageConfig) -> Connector:
    """A new connector for the linkage (imports the connector modules on first use)."""
    from mdmtui.connectors import spec

    spec.load()
    try:
        factory = _REGISTRY[System(config.system)]
    except (KeyError, ValueError):
        raise ValueError(f"unknown MDM system {config.system!r}") from None
    return factory(config)
