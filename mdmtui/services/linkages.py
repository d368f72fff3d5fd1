"""Linkage settings: validate, create, list, show, edit and remove the links to MDM servers.

Called by the CLI (``mdmtui linkage ...``), the console and the scheduler alike. Secrets (MDM
passwords, client secrets, proxy passwords) arrive as ``pydantic.SecretStr``, are stored encrypted by
``ctx.secrets`` and only leave this module decrypted inside a ``LinkageConfig`` (as ``Secret``).

What differs per MDM (its options, page limit, default server and port, its own rules) comes from its
system spec (``connectors/spec.py``, declared in each connector module): ``LinkageInput`` is built
from the specs. Rows are read and written through ``storage/linkages.py`` (``LinkageRecord``).

Choices where the issue is silent:
- The server is a URL ``https://host[:port]`` (``http`` is accepted for labs and the simulator). SDM's
  port defaults to 26055; MobileIron's to the scheme's. The stored URL always carries the port.
- "One linkage per MDM server": SDM and MobileIron linkages may not share a host and port (whatever
  their system: one port is one server); Intune linkages may not share a tenant.
- Fields that do not apply to the linkage's system are refused rather than silently ignored.
- A linkage's system cannot be changed by an edit (its devices' OS classes depend on it).
- Credentials inside the proxy URL are refused: they would be stored in plaintext.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (BaseModel, ConfigDict, SecretStr, ValidationError, ValidationInfo, create_model, field_validator,
                      model_validator)

from mdmtui.clock import utcnow
from mdmtui.connectors.base import LinkageConfig
from mdmtui.connectors.spec import Option, SystemSpec, spec_for, specs, split_url, system_options
from mdmtui.errors import ActionRefused, ConfigurationError, NotFoundError
from mdmtui.secrets import SecretBox, mask, rotate_key
from mdmtui.services import audit, roles
from mdmtui.services.context import Context
from mdmtui.storage import devices as stored_devices
from mdmtui.storage import linkages as stored
from mdmtui.storage.linkages import LinkageRecord

log = logging.getLogger(__name__)

# Every per-MDM fact below comes from the systems' specs (connectors/spec.py and each connector module).
SYSTEMS = tuple(s.system.value for s in specs())
MAX_TIMEOUT_S = 3600.0
# the systems' secret options, then the proxy password every linkage may have
SECRET_FIELDS = tuple(o.name for o, _ in system_options() if o.secret) + ("proxy_password",)
_OPTIONS: dict[str, Option] = {o.name: o for o, _ in system_options()}


def shown_systems() -> list[SystemSpec]:
    """The systems as the console and the help list them: by label (Microsoft Intune, MobileIron Core, SDM)."""
    return sorted(specs(), key=lambda s: s.label)


def form_options() -> list[tuple[Option, frozenset[str]]]:
    """The system options the console's linkage form shows, each with the systems it applies to."""
    return [(o, frozenset(s.system.value for s in systems)) for o, systems in system_options() if o.in_form]


def server_key(linkage: Any) -> str:
    """What identifies the MDM server (of a LinkageRecord or LinkageInput): ``host:port`` or ``tenant:<id>``."""
    if spec_for(linkage.system).keyed_by == "tenant":
        return f"tenant:{(linkage.tenant_id or '').lower()}"
    scheme, host, port = split_url(linkage.server_url, "server URL")
    return f"{host}:{port or (443 if scheme == 'https' else 80)}"


# ----------------------------------------------------------------------------------------- the input


class LinkageSettings(BaseModel):
    """The settings every linkage has; ``LinkageInput`` adds each system's options from its spec."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, validate_default=True)

    name: str
    system: str
    server_url: str | None = None
    verify_tls: bool = True
    ca_bundle: str | None = None
    proxy_url: str | None = None
    proxy_user: str | None = None
    proxy_password: SecretStr | None = None
    timeout_s: float = 60.0
    page_size: int | None = None
    enabled: bool = True
    auto_manage: bool = True  # make discovered devices management targets automatically
    schedule_start_at: str | None = None
    schedule_interval: str | None = None
    schedule_every: int | None = None
    schedule_weekdays: list[int] | None = None
    schedule_month_day: int | None = None
    schedule_tz: str | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        # An empty form field or "" on the command line means "not set", not an empty value
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            raise ValueError("the MDM settings name must not be empty")
        if isinstance(value, str) and len(value.strip()) > 255:
            raise ValueError("the MDM settings name must be at most 255 characters")
        return value

    @field_validator("system")
    @classmethod
    def _system(cls, value: str) -> str:
        if value.lower() not in SYSTEMS:
            raise ValueError(f"system must be one of {', '.join(SYSTEMS)}, got '{value}'")
        return value.lower()

    @field_validator("timeout_s")
    @classmethod
    def _timeout(cls, value: float) -> float:
        if not 0 < value <= MAX_TIMEOUT_S:
            raise ValueError(f"timeout must be more than 0 and at most {MAX_TIMEOUT_S:g} seconds, got {value:g}")
        return value

    @field_validator("ca_bundle")
    @classmethod
    def _ca_bundle(cls, value: str | None) -> str | None:
        return None if value is None else check_ca_bundle(value)

    @field_validator("proxy_url")
    @classmethod
    def _proxy_url(cls, value: str | None) -> str | None:
        if value is not None:
            split_url(value, "proxy URL", schemes=("http", "https", "socks5", "socks5h"))
        return value

    @field_validator("server_url")
    @classmethod
    def _server_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        # here, not only in the model check: a bad URL is then reported with every other bad field
        if value is not None:
            system = info.data.get("system")
            split_url(value, spec_for(system).server_what if system else "server URL")
        return value

    @field_validator("*")
    @classmethod
    def _spec_option(cls, value: Any, info: ValidationInfo) -> Any:
        # a system option's own rule, as its spec declares it
        option = _OPTIONS.get(info.field_name or "")
        if value is None or option is None or option.validate is None:
            return value
        return option.validate(value)

    @field_validator("schedule_start_at")
    @classmethod
    def _start_at(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"Start At must be a local date and time such as 2026-12-01T09:00, got '{value}'") from None
        if parsed.tzinfo is not None:
            raise ValueError("Start At is a local wall-clock time: leave out the UTC offset "
                             "(set the schedule time zone instead)")
        return parsed.replace(microsecond=0).isoformat(timespec="minutes" if not parsed.second else "seconds")

    @field_validator("schedule_interval")
    @classmethod
    def _interval(cls, value: str | None) -> str | None:
        if value is not None and value.lower() not in ("daily", "weekly", "monthly"):
            raise ValueError(f"repeat interval must be daily, weekly or monthly, got '{value}'")
        return value.lower() if value else value

    @field_validator("schedule_every")
    @classmethod
    def _every(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError(f"repeat (every N intervals) must be 1 or more, got {value}")
        return value

    @field_validator("schedule_weekdays")
    @classmethod
    def _weekdays(cls, value: list[int] | None) -> list[int] | None:
        if value is None:
            return None
        bad = [d for d in value if not 0 <= d <= 6]
        if bad:
            raise ValueError(f"weekdays are 0 (Mon) to 6 (Sun), got {bad[0]}")
        return sorted(set(value)) or None

    @field_validator("schedule_month_day")
    @classmethod
    def _month_day(cls, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= 31:
            raise ValueError(f"day of the month must be 1 to 31, got {value}")
        return value

    @field_validator("schedule_tz")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone '{value}' (use an IANA name such as Asia/Tokyo)") from None
        return value

    @model_validator(mode="after")
    def _whole(self) -> LinkageSettings:
        problems = []
        for check in (self._check_fields_apply, self._check_server, self._check_page_size, self._check_proxy,
                      self._check_system, self._check_schedule):
            try:
                check()
            except ValueError as exc:  # every problem at once, not the first only
                problems.append(str(exc))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def spec(self) -> SystemSpec:
        """The spec of the linkage's system."""
        return spec_for(self.system)

    def _check_fields_apply(self) -> None:
        own = self.spec.option_names
        for other in specs():
            for name in sorted(other.option_names - own):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name} does not apply to {self.system} linkages")

    def _check_server(self) -> None:
        spec = self.spec
        if spec.default_server_url is not None:  # a cloud service: its URL is optional
            self.server_url = (self.server_url or spec.default_server_url).rstrip("/")
            split_url(self.server_url, spec.server_what)
            return
        if self.server_url is None:
            raise ValueError(f"the server URL is required for {self.system} linkages (https://host:port)")
        scheme, host, port = split_url(self.server_url, spec.server_what)
        if port is None:
            port = spec.default_port
        shown = f"[{host}]" if ":" in host else host
        self.server_url = f"{scheme}://{shown}" + (f":{port}" if port else "")

    def _check_page_size(self) -> None:
        limit = self.spec.page_limit
        if self.page_size is not None and not 1 <= self.page_size <= limit:
            raise ValueError(f"page size for {self.system} must be 1 to {limit}, got {self.page_size}")

    def _check_proxy(self) -> None:
        if self.proxy_user is not None and self.proxy_url is None:
            raise ValueError("a proxy user needs a proxy URL")
        if self.proxy_password is not None and self.proxy_user is None:
            raise ValueError("a proxy password needs a proxy user")

    def _check_system(self) -> None:
        """The system's own rules; then its defaults for the options left blank."""
        spec = self.spec
        spec.check(self)
        for option in spec.options:
            if option.default is not None and getattr(self, option.name) is None:
                setattr(self, option.name, option.default)

    def _check_schedule(self) -> None:
        if self.schedule_interval is None:
            labels = {"schedule_start_at": "Start At", "schedule_every": "Repeat (every N)",
                      "schedule_weekdays": "weekdays", "schedule_month_day": "day of the month",
                      "schedule_tz": "time zone"}
            extra = [label for name, label in labels.items() if getattr(self, name) is not None]
            if extra:
                raise ValueError(f"{extra[0]} needs a repeat interval (daily, weekly or monthly)")
            return
        if self.schedule_start_at is None:
            raise ValueError("a schedule needs Start At (a local date and time such as 2026-12-01T09:00)")
        self.schedule_every = self.schedule_every or 1
        if self.schedule_weekdays and self.schedule_interval != "weekly":
            raise ValueError("weekdays apply only to a weekly schedule")
        if self.schedule_month_day is not None and self.schedule_interval != "monthly":
            raise ValueError("day of the month applies only to a monthly schedule")


def _option_field(option: Option) -> tuple[Any, None]:
    kind: Any = SecretStr if option.secret else option.type
    return (kind | None, None)


# One linkage's settings as entered: the common ones and every system's options (from the specs).
LinkageInput = create_model(  # type: ignore[call-overload]
    "LinkageInput", __base__=LinkageSettings, __module__=__name__,
    **{option.name: _option_field(option) for option, _systems in system_options()})
LinkageInput.__doc__ = "One linkage's settings as entered; every rule gives one clear message."


def check_ca_bundle(value: str) -> str:
    """The absolute path of a readable PEM CA bundle; ValueError otherwise."""
    path = Path(value).expanduser()
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        raise ValueError(f"CA bundle {path} does not exist") from None
    except IsADirectoryError:
        raise ValueError(f"CA bundle {path} is a directory; give the PEM file") from None
    except OSError as exc:
        raise ValueError(f"CA bundle {path} cannot be read: {exc.strerror}") from None
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise ValueError(f"CA bundle {path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
    return str(path.resolve())


def validate(data: dict[str, Any] | LinkageSettings) -> LinkageSettings:
    """Validate linkage settings; ConfigurationError with one line per broken rule."""
    if isinstance(data, LinkageSettings):
        data = data.model_dump()
    try:
        return LinkageInput.model_validate(data)
    except ValidationError as exc:
        raise ConfigurationError(validation_message(exc)) from None


def validation_message(exc: ValidationError) -> str:
    """Pydantic's errors as short human lines, joined by '; ', without the input values of secrets."""
    lines = []
    for error in exc.errors():
        text = error["msg"].removeprefix("Value error, ")
        field = ".".join(str(p) for p in error["loc"])
        if error["type"] == "extra_forbidden":
            text = f"unknown setting '{field}'"
        elif field and error["type"] != "value_error":
            text = f"{field}: {text}"
        lines.append(text)
    return "invalid linkage settings: " + "; ".join(lines)


# ------------------------------------------------------------------------------------------ storage


def _refuse_if_read_only(ctx: Context, what: str) -> None:
    if ctx.read_only:
        raise ActionRefused(f"read-only mode: cannot {what}")
    roles.require(ctx, roles.Permission.LINKAGES, target=what)  # every linkage change passes here


def get(ctx: Context, name: str) -> LinkageRecord:
    """The linkage named ``name``; NotFoundError listing the known names otherwise."""
    linkage = stored.get(name)
    if linkage is None:
        known = stored.names()
        hint = f"; known: {', '.join(known)}" if known else "; there are no linkages yet (mdmtui linkage add)"
        raise NotFoundError(f"no linkage named '{name}'{hint}")
    return linkage


def list_linkages(ctx: Context) -> list[LinkageRecord]:
    """Every linkage, by name."""
    return stored.list_all()


def device_counts(ctx: Context) -> dict[int, int]:
    """Linkage id -> how many devices it has (linkages without devices left out)."""
    return stored.device_counts()


def create(ctx: Context, data: dict[str, Any] | LinkageSettings) -> LinkageRecord:
    """Validate and store a new linkage (secrets encrypted); audited."""
    _refuse_if_read_only(ctx, "add a linkage")
    checked = validate(data)
    with ctx.db.atomic():
        _check_unique(checked, exclude_id=None)
        linkage = stored.insert(_columns(ctx, checked))
        if linkage.schedule_interval:  # owed from creation on, not from a past Start At
            linkage = stored.update(linkage.id, {"last_scheduled_run_at": linkage.created_at})
        audit.record(ctx, category="settings", action="linkage.create", outcome="succeeded",
                     linkage_name=linkage.name, message=f"linkage '{linkage.name}' added",
                     options=_audit_options(checked, changed=None))
    return linkage


def update(ctx: Context, name: str, /, **changes: Any) -> LinkageRecord:
    """Change some settings (``name=`` renames); validated as a whole; secrets kept unless given ("" clears)."""
    _refuse_if_read_only(ctx, "edit a linkage")
    linkage = get(ctx, name)
    if "system" in changes and changes["system"] and changes["system"].lower() != linkage.system:
        raise ConfigurationError("the system of a linkage cannot be changed: remove it and add a new one")
    current = _as_input_dict(linkage)
    for secret in SECRET_FIELDS:
        if _is_mask(changes.get(secret)):  # a form sent back what describe() showed: keep the secret
            del changes[secret]
        if secret not in changes:
            current[secret] = _stored_secret(ctx, linkage, secret)
    merged = {**current, **changes}
    checked = validate(merged)
    changed = sorted(k for k in changes if k in SECRET_FIELDS or current.get(k) != getattr(checked, k))
    with ctx.db.atomic():
        _check_unique(checked, exclude_id=linkage.id)
        old_name = linkage.name
        columns = _columns(ctx, checked)
        columns["updated_at"] = utcnow()
        if any(k.startswith("schedule_") for k in changed):
            # as schedule.set_schedule does: runs are owed from now on, not from a past Start At
            columns["last_scheduled_run_at"] = columns["updated_at"] if columns["schedule_interval"] else None
        linkage = stored.update(linkage.id, columns)
        entry = None
        if linkage.name != old_name:  # devices carry the name for when the linkage is gone
            stored.rename_devices(ctx.db, linkage.id, linkage.name)
            entry = _rename_properties_entry(ctx, linkage, old_name)
        audit.record(ctx, category="settings", action="linkage.update", outcome="succeeded", linkage_name=linkage.name,
                     message=_update_message(old_name, linkage.name, changed) + _entry_note(ctx, entry, "renamed"),
                     options=_audit_options(checked, changed=changed))
    return linkage


def _update_message(old: str, new: str, changed: list[str]) -> str:
    renamed = f" (renamed from '{old}')" if old != new else ""
    return f"linkage '{new}'{renamed} edited: {', '.join(changed) or 'nothing changed'}"


def _rename_properties_entry(ctx: Context, linkage: LinkageRecord, old_name: str) -> int | None:
    """Rename an SDM linkage's sdm_import.properties entry too (else its software is no longer read)."""
    from mdmtui import sdm_properties

    if not spec_for(linkage.system).properties_file:
        return None
    return sdm_properties.rename_linkage(ctx.settings.properties_path, old_name, linkage.name)


def _entry_note(ctx: Context, entry: int | None, verb: str) -> str:
    return f"; sdm.{entry} {verb} in {ctx.settings.properties_path}" if entry is not None else ""


def properties_entry(ctx: Context, name: str) -> int | None:
    """N of the sdm_import.properties entry naming linkage ``name``, or None."""
    from mdmtui import sdm_properties

    path = ctx.settings.properties_path
    entry = sdm_properties.load(path).for_linkage(name) if path.exists() else None
    return entry.n if entry else None


def remove(ctx: Context, name: str, devices: Literal["keep", "delete"], *, properties_entry: bool = False) -> int:
    """Remove a linkage; its devices are kept and marked orphaned, or deleted. Returns how many devices.

    ``properties_entry``: also drop the sdm_import.properties entry naming it (an SDM linkage).
    """
    _refuse_if_read_only(ctx, "remove a linkage")
    if devices not in ("keep", "delete"):
        raise ConfigurationError("say what to do with the linkage's devices: 'keep' (marked orphaned) or 'delete'")
    linkage = get(ctx, name)
    with ctx.db.atomic():
        ids = stored.device_ids(linkage.id)
        if devices == "keep":
            stored.orphan_devices(linkage.id, linkage.name)
        else:
            stored_devices.delete(ctx.db, ids)  # the one device cascade delete
        stored.delete(linkage.id)
        entry = _remove_properties_entry(ctx, linkage) if properties_entry else None
        verb = "kept, marked orphaned" if devices == "keep" else "deleted"
        audit.record(ctx, category="settings", action="linkage.remove", outcome="succeeded",
                     linkage_name=name, options={"devices": devices, "device_count": len(ids)},
                     message=f"linkage '{name}' removed; {len(ids)} device(s) {verb}"
                     + _entry_note(ctx, entry, "removed"))
    return len(ids)


def _remove_properties_entry(ctx: Context, linkage: LinkageRecord) -> int | None:
    from mdmtui import sdm_properties

    if not spec_for(linkage.system).properties_file:
        return None
    return sdm_properties.remove_linkage(ctx.settings.properties_path, linkage.name)


def _check_unique(checked: LinkageSettings, *, exclude_id: int | None) -> None:
    """Refuse a duplicate name or a second linkage to the same MDM server."""
    key, spec = server_key(checked), checked.spec
    for other in stored.list_all(exclude_id=exclude_id):
        if other.name == checked.name:
            raise ConfigurationError(f"a linkage named '{checked.name}' already exists")
        if spec_for(other.system).keyed_by == spec.keyed_by and server_key(other) == key:
            what = f"{spec.short} tenant" if spec.keyed_by == "tenant" else "MDM server"
            raise ConfigurationError(
                f"linkage '{other.name}' already links this {what} ({key.removeprefix('tenant:')}); "
                "only one linkage per MDM server is allowed")


def _columns(ctx: Context, checked: LinkageSettings) -> dict[str, Any]:
    """The model's column values for validated settings; secrets encrypted."""
    values = checked.model_dump(exclude=set(SECRET_FIELDS))
    weekdays = values.pop("schedule_weekdays")
    values["schedule_weekdays"] = ",".join(str(d) for d in weekdays) if weekdays else None
    for secret in SECRET_FIELDS:
        given: SecretStr | None = getattr(checked, secret)
        plaintext = given.get_secret_value() if given is not None else None
        values[f"{secret}_enc"] = ctx.secrets.encrypt(plaintext)
    return values


def _is_mask(value: Any) -> bool:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return isinstance(value, str) and value == mask("x")


def editable_settings(linkage: LinkageRecord) -> dict[str, Any]:
    """The linkage's settings as ``update`` takes them, for prefilling an edit form (no secrets)."""
    return _as_input_dict(linkage)


def _as_input_dict(linkage: LinkageRecord) -> dict[str, Any]:
    """A stored linkage as LinkageInput data (secrets left out)."""
    data = {name: getattr(linkage, name) for name in LinkageInput.model_fields if name not in SECRET_FIELDS}
    data["schedule_weekdays"] = _weekdays(linkage.schedule_weekdays)
    return data


def _weekdays(text: str | None) -> list[int] | None:
    return [int(d) for d in text.split(",")] if text else None


def _stored_secret(ctx: Context, linkage: LinkageRecord, secret: str) -> SecretStr | None:
    """A stored secret decrypted for re-validation; a changed key says which secret to enter again."""
    token = getattr(linkage, f"{secret}_enc")
    if not token:
        return None
    try:
        value = ctx.secrets.decrypt(token)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{exc.message} (give the {secret.replace('_', ' ')} with this edit)") from None
    return SecretStr(value.reveal()) if value is not None else None


def _audit_options(checked: LinkageSettings, *, changed: list[str] | None) -> dict[str, Any]:
    """What the audit log keeps of an edit: the settings, secrets only as 'set'/'changed'."""
    settings = checked.model_dump(exclude=set(SECRET_FIELDS))
    for secret in SECRET_FIELDS:
        if getattr(checked, secret) is not None:
            settings[secret] = "(changed)" if changed and secret in changed else "(set)"
    if changed is not None:
        settings = {k: v for k, v in settings.items() if k in changed}
    return {"system": checked.system, "settings": settings}


def rotate_secret_key(ctx: Context) -> int:
    """Replace the secret key and re-encrypt every stored secret with it; audited. Returns the count."""
    _refuse_if_read_only(ctx, "rotate the secret key")

    def reencrypt(box: SecretBox) -> int:
        count = 0
        with ctx.db.atomic():
            for linkage in stored.list_all():
                columns = {f"{secret}_enc": box.rotate_token(getattr(linkage, f"{secret}_enc"))
                           for secret in SECRET_FIELDS if getattr(linkage, f"{secret}_enc")}
                if columns:
                    stored.update(linkage.id, columns)
                    count += len(columns)
        return count

    count = rotate_key(ctx.secrets, reencrypt)
    audit.record(ctx, category="settings", action="secret_key.rotate", outcome="succeeded",
                 message=f"secret key replaced; {count} stored secret(s) re-encrypted")
    return count


# ---------------------------------------------------------------------------- what others consume


def linkage_config(ctx: Context, linkage: LinkageRecord) -> LinkageConfig:
    """Everything a connector needs, secrets decrypted into ``Secret``; SDM database from the properties."""
    config = LinkageConfig(
        name=linkage.name, system=linkage.system, server_url=linkage.server_url,
        verify_tls=linkage.verify_tls, ca_bundle=linkage.ca_bundle, proxy_url=linkage.proxy_url,
        proxy_user=linkage.proxy_user, proxy_password=ctx.secrets.decrypt(linkage.proxy_password_enc),
        timeout_s=linkage.timeout_s, page_size=linkage.page_size, tenant_id=linkage.tenant_id,
        client_id=linkage.client_id, client_secret=ctx.secrets.decrypt(linkage.client_secret_enc),
        authority_url=linkage.authority_url, user=linkage.user,
        password=ctx.secrets.decrypt(linkage.password_enc), device_space_id=linkage.device_space_id,
        sdm_version=linkage.sdm_version, name_mapping=linkage.name_mapping,
    )
    if spec_for(linkage.system).properties_file:
        config.sdm_db_host, config.sdm_db_port = sdm_database(ctx, linkage.name)
    return config


def sdm_database(ctx: Context, name: str) -> tuple[str | None, int | None]:
    """(dbhost, dbport) of the SDM linkage ``name`` in sdm_import.properties, or (None, None)."""
    from mdmtui import sdm_properties

    path = ctx.settings.properties_path
    if not path.exists():
        return None, None
    names = properties_linkage_names(ctx)
    report = sdm_properties.load(path, sdm_linkage_names=names)
    problems = report.problems_for(name)
    if problems:
        raise ConfigurationError(f"{path} has problems ({sdm_properties.summary(problems)}); fix them or run "
                                 "`mdmtui sdm-properties check`")
    if report.problems:  # only other entries' (a stale name, say): they do not stop this linkage
        log.warning("%s: %s (ignored for linkage %r)", path, sdm_properties.summary(report.problems), name)
    entry = report.for_linkage(name)
    return (entry.dbhost, entry.dbport) if entry else (None, None)


def properties_linkage_names(ctx: Context) -> list[str]:
    """The names of the linkages whose software database sdm_import.properties names (SDM)."""
    return [name for spec in specs() if spec.properties_file for name in stored.names_of(spec.system)]


def describe(linkage: LinkageRecord) -> dict[str, Any]:
    """The linkage for `show` and --json: every setting, secrets masked."""
    spec = spec_for(linkage.system)
    data: dict[str, Any] = {"name": linkage.name, "system": spec.system.value, "server_url": linkage.server_url}
    if spec.keyed_by == "server":
        _, host, port = split_url(linkage.server_url, "server URL")
        data.update(host=host, port=port)
    for name in ("verify_tls", "ca_bundle", "proxy_url", "proxy_user", "proxy_password", "timeout_s",
                 "page_size", "enabled", "auto_manage"):
        data[name] = mask(linkage.proxy_password_enc) if name == "proxy_password" else getattr(linkage, name)
    for name in sorted(spec.option_names):
        if name in SECRET_FIELDS:
            data[name] = mask(getattr(linkage, f"{name}_enc"))
        else:
            data[name] = getattr(linkage, name)
    data["schedule"] = _describe_schedule(linkage)
    data.update(created_at=linkage.created_at, updated_at=linkage.updated_at,
                last_scheduled_run_at=linkage.last_scheduled_run_at)
    return data


def _describe_schedule(linkage: LinkageRecord) -> dict[str, Any] | None:
    if not linkage.schedule_interval:
        return None
    return {"start_at": linkage.schedule_start_at, "interval": linkage.schedule_interval,
            "every": linkage.schedule_every, "weekdays": _weekdays(linkage.schedule_weekdays),
            "month_day": linkage.schedule_month_day, "tz": linkage.schedule_tz}


async def test_connection(ctx: Context, name: str) -> str:
    """Connect to the linkage's MDM and check the credentials; the MDM's one-line description."""
    from mdmtui.connectors.base import connector_for

    config = await ctx.storage.run(lambda: linkage_config(ctx, get(ctx, name)))  # off the event loop's thread
    try:
        connector = connector_for(config)
    except ImportError as exc:
        raise ConfigurationError(f"the {config.system} connector is not available in this build: {exc}") from None
    try:
        return await connector.test_connection()
    finally:
        await connector.aclose()


__all__ = [
    "LinkageInput", "create", "update", "remove", "get", "list_linkages", "linkage_config",
    "describe", "test_connection", "validate", "server_key", "sdm_database", "rotate_secret_key",
    "editable_settings", "LinkageSettings", "LinkageRecord", "device_counts", "properties_linkage_names",
    "shown_systems", "form_options", "split_url",
]
