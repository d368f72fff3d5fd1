"""Storage: the Peewee models. The only module (with db.py and migrations.py) that knows SQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NoReturn

from peewee import (
    AutoField,
    BigIntegerField,
    BooleanField,
    CharField,
    DateTimeField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

from mdmtui.clock import utcnow


class UTCDateTimeField(DateTimeField):
    """Stores naive UTC on every dialect; gives back aware UTC datetimes."""

    def db_value(self, value: Any) -> Any:
        if isinstance(value, datetime) and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return super().db_value(value)  # type: ignore[no-untyped-call]  # untyped in peewee-stubs

    def python_value(self, value: Any) -> Any:
        value = super().python_value(value)  # type: ignore[no-untyped-call]  # untyped in peewee-stubs
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class BaseModel(Model):
    """Bound to a database by ``Storage`` (``Database.bind(ALL_MODELS)``): there is no global one."""

    class Meta:
        legacy_table_names = False


class SchemaVersion(BaseModel):
    """The schema version this database was migrated to (one row)."""

    version = IntegerField()


class Linkage(BaseModel):
    """One MDM linkage setting. Secrets are stored encrypted (see secrets.py), never in plaintext."""

    id = AutoField()
    name = CharField(unique=True)  # the MDM settings name
    system = CharField(max_length=16)  # sdm | mobileiron | intune
    server_url = CharField()  # https://host[:port] (SDM and MobileIron); Graph base for Intune
    verify_tls = BooleanField(default=True)
    ca_bundle = CharField(null=True)
    proxy_url = CharField(null=True)
    proxy_user = CharField(null=True)
    proxy_password_enc = TextField(null=True)
    timeout_s = FloatField(default=60.0)
    page_size = IntegerField(null=True)
    enabled = BooleanField(default=True)
    auto_manage = BooleanField(default=True)  # discovered devices become management targets
    # Intune
    tenant_id = CharField(null=True)
    client_id = CharField(null=True)
    client_secret_enc = TextField(null=True)
    authority_url = CharField(null=True)
    # MobileIron and SDM
    user = CharField(null=True)
    password_enc = TextField(null=True)
    device_space_id = IntegerField(null=True)  # MobileIron; None = discover
    sdm_version = CharField(null=True)  # e.g. 11-00-04
    name_mapping = CharField(null=True)  # SDM: "list" or "User:PhoneNumber:Model"
    # Scheduled collection (used by the daemon)
    schedule_start_at = CharField(null=True)  # ISO local wall-clock time
    schedule_interval = CharField(null=True)  # daily | weekly | monthly
    schedule_every = IntegerField(null=True)
    schedule_weekdays = CharField(null=True)  # "0,3" (Mon, Thu)
    schedule_month_day = IntegerField(null=True)
    schedule_tz = CharField(null=True)
    last_scheduled_run_at = UTCDateTimeField(null=True)
    # the changed-only schedule (the frequent one): a Schedule as JSON, and the run it last started for
    changed_schedule = TextField(null=True)
    last_changed_run_at = UTCDateTimeField(null=True)
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)


class Device(BaseModel):
    """A device as collected. Identity: (linkage, mdm_device_id); one column per spec item.

    What an MDM sends is TEXT (unbounded): no MDM documents its own limits. ``storable`` makes each
    value fit (no NUL, indexed columns cut to a length every dialect's index can hold).
    """

    id = AutoField()
    linkage = ForeignKeyField(Linkage, backref="devices", null=True, on_delete="SET NULL")
    linkage_name = CharField(null=True)  # kept when the linkage is removed but devices are kept
    mdm_device_id = TextField()
    os_class = CharField(max_length=2)  # Si | SA | M | IS | IP
    device_type = CharField(null=True)
    computer_name = TextField(null=True, index=True)  # the device list's default order
    host_name = TextField(null=True)
    manufacturer = TextField(null=True)
    model = TextField(null=True)
    serial_number = TextField(null=True, index=True)
    bios_serial_number = TextField(null=True)
    os_name = TextField(null=True)
    os_version = TextField(null=True)
    network_adapter_name = TextField(null=True)
    mac_address = TextField(null=True)
    wifi_mac = TextField(null=True)
    ethernet_mac = TextField(null=True)
    imei = TextField(null=True, index=True)
    udid = TextField(null=True, index=True)
    imsi = TextField(null=True)
    iccid = TextField(null=True)
    phone_number = TextField(null=True)
    email = TextField(null=True)
    carrier = TextField(null=True)
    passcode_set = BooleanField(null=True)
    ram_total_bytes = BigIntegerField(null=True)
    ram_free_bytes = BigIntegerField(null=True)
    storage_total_bytes = BigIntegerField(null=True)
    storage_free_bytes = BigIntegerField(null=True)
    sd_total_bytes = BigIntegerField(null=True)
    sd_free_bytes = BigIntegerField(null=True)
    user_name = TextField(null=True)
    jailbroken = BooleanField(null=True)
    encrypted = BooleanField(null=True)
    compliance = TextField(null=True)
    mdm_managed = BooleanField(null=True)
    mdm_status = CharField(null=True)  # the MDM's device state (MobileIron common.status)
    last_alive_at = UTCDateTimeField(null=True)  # Last Alive Confirmation
    # Set, not collected
    management_type = CharField(null=True)
    management_status = CharField(null=True)
    device_status = CharField(null=True)  # Unknown | Warning
    consumes_license = BooleanField(default=False)
    managed = BooleanField(default=True)  # a management target
    # Bookkeeping
    change_marker = TextField(null=True)
    fingerprint = CharField(null=True)  # hash of the collected items: unchanged devices are not rewritten
    first_seen_at = UTCDateTimeField(default=utcnow)
    last_collected_at = UTCDateTimeField(null=True)
    missing_since = UTCDateTimeField(null=True)  # missing from its MDM since
    duplicate_of = IntegerField(null=True)  # the same hardware seen through another linkage
    orphaned = BooleanField(default=False)  # its linkage was removed; kept and marked
    # Lower-cased name, serial, IMEI, UDID, phone and user, written by collections: one LIKE per
    # keystroke instead of six. NULL on rows no collection wrote yet (searches fall back to the columns).
    search_text = TextField(null=True)

    class Meta:
        indexes = ((("linkage", "mdm_device_id"), True),)


class AssetInfo(BaseModel):
    """Asset information the admin maintains; never overwritten by a collection."""

    device = ForeignKeyField(Device, backref="asset", unique=True, on_delete="CASCADE")
    asset_number = CharField(null=True)
    department = CharField(null=True)
    location = CharField(null=True)
    assigned_user = CharField(null=True)
    notes = TextField(null=True)
    updated_at = UTCDateTimeField(default=utcnow)


class Software(BaseModel):
    """One software item installed on a device."""

    device = ForeignKeyField(Device, backref="software", on_delete="CASCADE", index=True)
    name = TextField()
    version = TextField(null=True)
    vendor = TextField(null=True)

    class Meta:
        # the device table's software filters (devices with / without a title) read only this index
        indexes = ((("name", "version", "device"), False),)


# The fleet's software, counted: kept by every write to ``software`` (services/software.py) so the
# Software screen pages titles instead of grouping 10 million rows. A version or linkage not collected
# is '' in these keys (NULL is never equal to itself in a unique key); the service hands out None.
class SoftwareTitle(BaseModel):
    """One title (software name) across the fleet: how many devices have it, in how many versions."""

    id = AutoField()
    name = TextField(unique=True)
    vendor = TextField(null=True)  # a vendor collected for it (the latest seen)
    devices = IntegerField(default=0)  # distinct devices with at least one item of this name
    versions = IntegerField(default=0)
    top_version = TextField(null=True)  # the version on the most devices
    linkages = IntegerField(default=0)  # how many linkages' devices have it
    stale = BooleanField(default=False)  # counts changed: versions, top version and linkages to recompute


class SoftwareVersion(BaseModel):
    """One version of a title on one linkage's devices: how many devices have it."""

    name = TextField()
    version = TextField()  # '' = not collected
    linkage_name = TextField()  # '' = no linkage
    vendor = TextField(null=True)
    devices = IntegerField(default=0)

    class Meta:
        indexes = ((("name", "version", "linkage_name"), True),)


class CollectionRun(BaseModel):
    """One collection of one linkage: immediate or scheduled."""

    id = AutoField()
    linkage = ForeignKeyField(Linkage, backref="runs", null=True, on_delete="SET NULL")
    linkage_name = CharField()
    trigger = CharField(default="immediate")  # immediate | scheduled
    status = CharField(default="running")  # running | succeeded | failed | cancelled | skipped
    reason = TextField(null=True)
    started_at = UTCDateTimeField(default=utcnow)
    finished_at = UTCDateTimeField(null=True)
    new = IntegerField(default=0)
    changed = IntegerField(default=0)
    unchanged = IntegerField(default=0)
    missing = IntegerField(default=0)
    returned = IntegerField(default=0)
    software_items = IntegerField(default=0)
    pages = IntegerField(default=0)
    devices_seen = IntegerField(default=0)
    rechecked = IntegerField(default=0)  # absent from the listing, asked for one by one (the gone ones: missing)
    kind = CharField(default="full")  # full | changed (changed-only: never marks anything missing)
    mdm_started_at = UTCDateTimeField(null=True)  # the MDM's own clock at the listing's first answer
    # devices of the linkage in the inventory when the run ended (the overview's history; NULL: older runs)
    inventory_total = IntegerField(null=True)
    host = CharField(null=True)
    pid = IntegerField(null=True)


class CollectionLock(BaseModel):
    """At most one collection per linkage at a time, across processes (row = held)."""

    linkage = ForeignKeyField(Linkage, unique=True, on_delete="CASCADE")
    owner = CharField()  # host:pid:token
    host = CharField(null=True)  # the holder's host and pid: a dead holder on this host is taken over at once
    pid = IntegerField(null=True)
    acquired_at = UTCDateTimeField(default=utcnow)
    heartbeat_at = UTCDateTimeField(default=utcnow)


class DeviceHistory(BaseModel):
    """A field of a device changed from one value to another during a run."""

    device = ForeignKeyField(Device, backref="history", on_delete="CASCADE", index=True)
    run = ForeignKeyField(CollectionRun, null=True, on_delete="SET NULL")
    at = UTCDateTimeField(default=utcnow)
    field = CharField()
    old_value = TextField(null=True)
    new_value = TextField(null=True)


class DeviceAction(BaseModel):
    """An action sent to a device, followed until its final outcome."""

    id = AutoField()
    device = ForeignKeyField(Device, backref="actions", null=True, on_delete="SET NULL")
    linkage_name = CharField()
    mdm_device_id = TextField()
    device_name = TextField(null=True)
    action = CharField()  # lock | wipe | reset_passcode
    options = TextField(null=True)  # JSON, never secrets
    outcome = CharField()  # succeeded | pending | failed | refused | unknown | cancelled
    message = TextField(null=True)
    mdm_code = TextField(null=True)
    http_status = IntegerField(null=True)
    request_id = TextField(null=True)
    reference = TextField(null=True)
    os_user = CharField(null=True)
    host = CharField(null=True)
    requested_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)


class AuditEvent(BaseModel):
    """Append-only audit log: who did what, when, and the MDM's real answer."""

    id = AutoField()
    at = UTCDateTimeField(default=utcnow, index=True)
    os_user = CharField()
    host = CharField()
    category = CharField()  # action | collection | settings | deletion
    action = CharField()
    linkage_name = CharField(null=True)
    device_id = IntegerField(null=True, index=True)
    device_name = TextField(null=True)
    device_serial = TextField(null=True)
    mdm_device_id = TextField(null=True)
    options = TextField(null=True)  # JSON, never secrets
    outcome = CharField()
    message = TextField(null=True)
    request_id = TextField(null=True)
    # the ApprovalRequest this entry belongs to; no index: an index on a column a later step adds breaks
    # the earlier steps' create_missing (see migrations.py); chains are read by time range instead
    approval_id = IntegerField(null=True)

    # Append-only at the application level: inserts pass, every change or deletion is refused.
    def save(self, *args: Any, **kwargs: Any) -> int:
        """Insert a new event; refuse to rewrite a stored one."""
        if self.id is not None and not kwargs.get("force_insert"):
            raise _audit_is_append_only()
        return super().save(*args, **kwargs)

    def delete_instance(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Refused: audit events are never deleted."""
        raise _audit_is_append_only()

    @classmethod
    def update(cls, *args: Any, **kwargs: Any) -> NoReturn:
        """Refused: audit events are never changed."""
        raise _audit_is_append_only()

    @classmethod
    def delete(cls) -> NoReturn:
        """Refused: audit events are never deleted."""
        raise _audit_is_append_only()

    @classmethod
    def replace(cls, *args: Any, **kwargs: Any) -> NoReturn:
        """Refused: a REPLACE would overwrite an event."""
        raise _audit_is_append_only()

    @classmethod
    def replace_many(cls, *args: Any, **kwargs: Any) -> NoReturn:
        """Refused: a REPLACE would overwrite events."""
        raise _audit_is_append_only()


def _audit_is_append_only() -> Exception:
    from mdmtui.errors import ActionRefused

    return ActionRefused("the audit log is append-only: its entries cannot be changed or deleted")


class Event(BaseModel):
    """Something the admin should see when triage starts (new device, SIM swap, failure...)."""

    id = AutoField()
    at = UTCDateTimeField(default=utcnow, index=True)
    kind = CharField()  # new_device | missing | returned | sim_swap | duplicate | reenrolled |
    #                     collection_failed | action_failed | action_pending
    linkage_name = CharField(null=True)
    device_id = IntegerField(null=True)
    message = TextField()
    read = BooleanField(default=False)


class SchedulerState(BaseModel):
    """The daemon's heartbeat, so the console can show whether it runs."""

    host = CharField()
    pid = IntegerField()
    started_at = UTCDateTimeField(default=utcnow)
    heartbeat_at = UTCDateTimeField(default=utcnow)


class ApprovalRequest(BaseModel):
    """A two-person-rule request: an action one admin asked for, waiting for another admin's decision.

    The device's identity at request time is kept, so an approval can tell it is still the same device.
    """

    id = AutoField()
    action = CharField()  # wipe | lock | reset_passcode
    options = TextField(null=True)  # JSON WipeOptions, never secrets
    justification = TextField()
    device = ForeignKeyField(Device, null=True, on_delete="SET NULL")
    device_name = CharField(null=True)
    linkage_name = CharField(null=True)
    mdm_device_id = CharField()
    serial_number = CharField(null=True)
    imei = CharField(null=True)
    state = CharField(default="pending", index=True)  # pending | approved | rejected | expired | void
    requested_by = CharField()
    requested_host = CharField()
    requested_at = UTCDateTimeField(default=utcnow)
    expires_at = UTCDateTimeField()
    decided_by = CharField(null=True)
    decided_host = CharField(null=True)
    decided_at = UTCDateTimeField(null=True)
    decision_note = TextField(null=True)  # a rejection's reason, or what changed on the device
    action_id = IntegerField(null=True)  # the DeviceAction row of the send (its outcome: the MDM's answer)


ALL_MODELS = [
    SchemaVersion, Linkage, Device, AssetInfo, Software, SoftwareTitle, SoftwareVersion, CollectionRun,
    CollectionLock, DeviceHistory, DeviceAction, AuditEvent, Event, SchedulerState, ApprovalRequest,
]
