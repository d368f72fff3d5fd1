"""One system spec per MDM: its linkage options, limits, OS classes, defaults and refusal rules.

Each connector module declares its ``SPEC`` beside its connector and registers it with ``declare``,
the way Harlequin's adapters declare ``ADAPTER_OPTIONS``. Linkage validation
(``services/linkages.py``), the console's linkage form and the CLI's ``linkage add/edit`` options are
built from these specs, and ``refusal`` is the one place that says which action an OS class cannot take.

The URL checks the specs' rules use (``split_url``, ``check_host``, ``check_port``) live here too: the
connectors and the services apply the same ones.
"""

from __future__ import annotations

import importlib
import ipaddress
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from mdmtui.records import Action, OsClass, System

Validator = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Option:
    """One linkage setting an MDM needs (a column of the linkage, a form field, a CLI option)."""

    name: str  # the linkage setting (LinkageInput / LinkageConfig field, Linkage column)
    label: str  # the console form's label
    type: type = str  # str or int; secrets are str
    secret: bool = False  # stored encrypted, never echoed, read from stdin/env/prompt on the CLI
    default: Any = None  # filled in when the setting is left blank
    help: str = ""  # the CLI help, without the systems' names (they are prefixed)
    flag: str | None = None  # the CLI option's stem (default: the name with '-')
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    validate: Validator | None = None  # value -> normalised value, ValueError saying what is wrong
    in_form: bool = True  # shown in the console's linkage form
    prompt: str | None = None  # secrets: what the CLI asks for ("MDM password")

    @property
    def cli_flag(self) -> str:
        """The option as typed on the command line, without the leading dashes."""
        return self.flag or self.name.replace("_", "-")


# a system's whole-linkage rules: reads and normalises one linkage's settings (a LinkageInput)
Check = Callable[[Any], None]


@dataclass(frozen=True, slots=True)
class SystemSpec:
    """Everything mdmtui knows about one MDM system outside its connector's HTTP code."""

    system: System
    label: str  # the console's choice ("Microsoft Intune")
    short: str  # in CLI help and messages ("Intune")
    options: tuple[Option, ...]
    page_limit: int  # the largest page the MDM serves
    os_classes: frozenset[OsClass]
    check: Check  # the system's whole-linkage rules; ValueError with the first one broken
    keyed_by: Literal["server", "tenant"] = "server"  # what makes two linkages the same MDM
    default_server_url: str | None = None  # used when the server URL is left blank
    default_port: int | None = None  # added to a server URL without a port
    server_what: str = "server URL"  # how messages name the server URL
    required_secret: str | None = None  # the secret option a new linkage cannot do without
    # (action, OS class) -> why the MDM cannot do it; anything absent is allowed
    refusals: Mapping[tuple[Action, OsClass], str] = field(default_factory=dict)
    # software comes from a database named in sdm_import.properties (SDM)
    properties_file: bool = False

    def option(self, name: str) -> Option | None:
        """The option called ``name``, or None when the system has none."""
        return next((o for o in self.options if o.name == name), None)

    @property
    def option_names(self) -> frozenset[str]:
        """The names of the system's own options."""
        return frozenset(o.name for o in self.options)


_SPECS: dict[System, SystemSpec] = {}


def declare(spec: SystemSpec) -> SystemSpec:
    """Register a connector module's spec (called where the module defines it)."""
    _SPECS[spec.system] = spec
    return spec


# the connector modules: each declares its spec and registers its connector when imported
CONNECTOR_MODULES = ("mdmtui.connectors.intune", "mdmtui.connectors.mobileiron", "mdmtui.connectors.sdm")


def load() -> None:
    """Import every connector module (once), so that their specs and connectors are registered."""
    for module in CONNECTOR_MODULES:
        importlib.import_module(module)


def specs() -> tuple[SystemSpec, ...]:
    """Every system's spec, in the order of the ``System`` enum."""
    load()
    return tuple(_SPECS[s] for s in System if s in _SPECS)


def spec_for(system: System | str) -> SystemSpec:
    """The spec of ``system``; ValueError for an unknown system."""
    load()
    try:
        return _SPECS[System(system)]
    except (KeyError, ValueError):
        raise ValueError(f"unknown MDM system {system!r}") from None


def spec_of_class(os_class: OsClass | str) -> SystemSpec:
    """The spec of the system whose devices carry ``os_class``."""
    cls = OsClass(os_class)
    return next(s for s in specs() if cls in s.os_classes)


def system_options() -> Iterator[tuple[Option, tuple[SystemSpec, ...]]]:
    """Every system option once (first declaration wins), with the systems that have it."""
    seen: dict[str, list[SystemSpec]] = {}
    first: dict[str, Option] = {}
    for spec in specs():
        for option in spec.options:
            first.setdefault(option.name, option)
            seen.setdefault(option.name, []).append(spec)
    for name, option in first.items():
        yield option, tuple(seen[name])


# ------------------------------------------------------------------------------------- refusal policy


def refusal(os_class: OsClass | str, action: Action | str) -> str | None:
    """Why ``action`` is impossible for a device of ``os_class``, or None when its MDM can do it."""
    cls, act = OsClass(os_class), Action(action)
    return spec_of_class(cls).refusals.get((act, cls))


# ----------------------------------------------------------------------------------------- URL checks

_HOST_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_NETLOC = re.compile(r"^(?P<host>\[[^\]]*\]|[^:/\[\]]*)(?::(?P<port>[^:/]*))?$")
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def split_url(value: str, what: str, *, schemes: tuple[str, ...] = ("https", "http"),
              path_allowed: bool = False) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a well-formed URL, or ValueError saying what is wrong."""
    match = re.match(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<rest>.*)$", value)
    if not match:
        raise ValueError(f"{what} must be a URL such as https://host:port, got '{value}'")
    scheme = match["scheme"].lower()
    if scheme not in schemes:
        raise ValueError(f"{what} must start with {' or '.join(s + '://' for s in schemes)}, got '{value}'")
    netloc, _, path = match["rest"].partition("/")
    if "?" in netloc or "#" in netloc or "?" in path or "#" in path:
        raise ValueError(f"{what} must not carry a query or fragment, got '{value}'")
    if path.strip("/") and not path_allowed:
        raise ValueError(f"{what} must not have a path (only scheme, host and port), got '{value}'")
    if "@" in netloc:
        raise ValueError(f"{what} must not contain a user or password (they would be stored in plaintext)")
    parts = _NETLOC.match(netloc)
    if not parts or not parts["host"]:
        raise ValueError(f"{what} has no host name, got '{value}'")
    problems: list[str] = []
    host, port = "", None
    try:
        host = check_host(parts["host"], what)
    except ValueError as exc:
        problems.append(str(exc))
    try:
        port = check_port(parts["port"], what)
    except ValueError as exc:  # the host and the port: both problems at once
        problems.append(str(exc))
    if problems:
        raise ValueError("; ".join(problems))
    return scheme, host, port


def check_host(host: str, what: str) -> str:
    """The host name or IP address, lower-cased; ValueError with the rule it breaks."""
    if host.startswith("["):
        try:
            return str(ipaddress.IPv6Address(host[1:-1]))
        except ValueError:
            raise ValueError(f"{what}: '{host}' is not a valid IPv6 address") from None
    if "_" in host:
        raise ValueError(f"{what}: the host name '{host}' contains an underscore, which MDM server "
                         "host names may not contain")
    name = host.rstrip(".").lower()
    if re.fullmatch(r"[0-9.]+", name):
        try:
            return str(ipaddress.IPv4Address(name))
        except ValueError:
            raise ValueError(f"{what}: '{host}' is not a valid IPv4 address") from None
    if len(name) > 253 or not all(_HOST_LABEL.match(label) for label in name.split(".")):
        raise ValueError(f"{what}: '{host}' is not a valid host name (letters, digits, '-' and '.')")
    return name


def check_port(port: str | None, what: str) -> int | None:
    """The port number (None when absent); ValueError unless 1-65535."""
    if port is None or port == "":
        if port == "":
            raise ValueError(f"{what}: the port after ':' is empty")
        return None
    if not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{what}: port must be a number from 1 to 65535, got '{port}'")
    return int(port)


def is_ip(text: str) -> bool:
    """Whether ``text`` is an IPv4 or IPv6 address."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------- building blocks of the specs


def secret_given(value: Any) -> bool:
    """Whether a secret setting holds a non-empty value (``SecretStr`` or plain text)."""
    if value is not None and hasattr(value, "get_secret_value"):
        value = value.get_secret_value()
    return bool(value)


def check_credentials(settings: Any) -> None:
    """A user and a password, both required (SDM, MobileIron)."""
    if settings.user is None:
        raise ValueError(f"{settings.system} linkages need a user")
    if not secret_given(settings.password):
        raise ValueError(f"{settings.system} linkages need a password")


USER = Option("user", "User", help="the API user", metavar="USER")
PASSWORD = Option("password", "Password", secret=True, prompt="MDM password")
