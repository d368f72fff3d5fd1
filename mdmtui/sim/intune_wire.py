"""Intune (Microsoft Graph) wire format of a device profile: managedDevice and detectedApp objects."""

from __future__ import annotations

import hashlib
from datetime import datetime, UTC
from operator import itemgetter

from .catalog import catalog_for
from .jsontext import HHMM, HHMM12, SSZ, Member, Template, iso_day, jstr, jtext, views_cache

NEVER = "0001-01-01T00:00:00Z"
ODATA_TYPE = "#microsoft.graph.managedDevice"

# The LIST quirk: what the collection answer says whatever the device has.
LIST_QUIRK = {"iccid": "", "udid": "", "ethernetMacAddress": None, "activationLockBypassCode": None,
              "notes": None, "physicalMemoryInBytes": 0}
BETA_ONLY = ("deviceType", "chassisType", "hardwareInformation", "joinType", "skuFamily",
             "managementState", "lostModeState")
ACTION_NAMES = {"remoteLock": "remoteLock", "resetPasscode": "resetPasscode", "wipe": "wipe",
                "retire": "retire", "syncDevice": "syncDevice"}


def iso(ts: float | None) -> str:
    """Epoch seconds -> Graph's ISO 8601 UTC form; None -> the 'never' date."""
    if ts is None:
        return NEVER
    if type(ts) is int and ts >= 0:             # generated dates: whole seconds
        day, secs = divmod(ts, 86_400)
        minute, sec = divmod(secs, 60)
        return iso_day(day) + HHMM[minute] + SSZ[sec]
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _platform_bits(p: dict) -> tuple[str, str, str, str]:
    """(managementAgent, deviceEnrollmentType, deviceType, chassisType)."""
    os_name = p["os"]
    if os_name == "Windows":
        return "mdm", "windowsAzureADJoin", "windowsRT", "laptop"
    if os_name == "Android":
        return "googleCloudDevicePolicyController", "androidEnterpriseFullyManaged", "androidEnterprise", "phone"
    kind = "iPhone" if os_name == "iOS" else "iPad"
    enrol = "appleBulkWithUser" if p["supervised"] else "userEnrollment"
    return "mdm", enrol, kind, "phone" if os_name == "iOS" else "tablet"


def _managed_name(p: dict) -> str:
    enrolled = p["enrolled"]
    if type(enrolled) is int and enrolled >= 0:
        day, secs = divmod(enrolled, 86_400)
        y, m, d = iso_day(day)[:10].split("-")
        return f"{p['login']}_{p['os']}_{int(m)}/{int(d)}/{y}_{HHMM12[secs // 60]}"
    stamp = datetime.fromtimestamp(enrolled, UTC)
    return f"{p['login']}_{p['os']}_{stamp.month}/{stamp.day}/{stamp.year}_{stamp.strftime('%I:%M %p')}"


def action_results(p: dict, now: float, delay: float) -> list[dict]:
    """deviceActionResults: pending until `delay` has passed, then done (failed without a profile).
    Wipe and retire never appear here: real Intune shows them only in managementState."""
    out = []
    for act in p.get("actions", ()):
        done = now - act["start"] >= delay
        state = "pending" if not done else ("failed" if act.get("fails") else "done")
        out.append({"actionName": act["name"], "actionState": state, "startDateTime": iso(act["start"]),
                    "lastUpdatedDateTime": iso(act["start"] + (delay if done else 0))})
    return out


def management_state(p: dict, now: float, delay: float) -> str:
    """managementState: a wipe is pending for `delay`, then issued to the device for `delay`; then it
    ends as injected (wipeFailed / wipeCanceled) or the record is removed (the caller deletes it).
    A device without its MDM profile never checks in, so its wipe stays pending."""
    wipe = p.get("wiped")
    if not isinstance(wipe, dict):
        return "managed"
    elapsed, end = now - wipe["start"], wipe.get("end")
    if end == "wipeCanceled" and elapsed >= delay:
        return end                      # cancelled before the device fetched it
    if elapsed < delay or p.get("profile_removed"):
        return "wipePending"
    if elapsed < 2 * delay or end is None:
        return "wipeIssued"             # None past 2 x delay: completed, about to be removed
    return end


def wipe_completed(p: dict, now: float, delay: float) -> bool:
    """True once a full wipe is done and Intune removes the device record."""
    wipe = p.get("wiped")
    return (isinstance(wipe, dict) and wipe.get("end") is None and not p.get("profile_removed")
            and now - wipe["start"] >= 2 * delay)


def device(p: dict, ident: str, now: float, delay: float, beta: bool) -> dict:
    """The full, real managedDevice object (v1.0 properties; beta adds its own)."""
    agent, enrol_type, dev_type, chassis = _platform_bits(p)
    d = {
        "@odata.type": ODATA_TYPE, "id": ident, "userId": p["user_id"], "deviceName": p["device_name"],
        "managedDeviceName": _managed_name(p), "userPrincipalName": p["upn"], "userDisplayName": p["user_name"],
        "emailAddress": p["email"], "managedDeviceOwnerType": p["owner"], "operatingSystem": p["os"],
        "osVersion": p["os_version"], "model": p["model"], "manufacturer": p["manufacturer"],
        "serialNumber": p["serial"], "imei": p["imei"], "meid": p["meid"], "phoneNumber": p["phone"],
        "subscriberCarrier": p["carrier"], "wiFiMacAddress": p["wifi_mac"] or None,
        "ethernetMacAddress": p["eth_mac"], "iccid": p["iccid"] or None, "udid": p["udid"] or None,
        "physicalMemoryInBytes": p["ram"], "totalStorageSpaceInBytes": p["storage_total"],
        "freeStorageSpaceInBytes": p["storage_free"], "lastSyncDateTime": iso(p["last_sync"]),
        "enrolledDateTime": iso(p["enrolled"]), "complianceState": p["compliance"], "jailBroken": p["jailbroken"],
        "isEncrypted": p["encrypted"], "isSupervised": p["supervised"],
        "azureADRegistered": p["os"] == "Windows" or None, "azureADDeviceId": p["aad_id"],
        "easActivated": p["os"] != "Windows", "easDeviceId": p["eas_id"] if p["os"] != "Windows" else "",
        "easActivationDateTime": iso(p["enrolled"] if p["os"] != "Windows" else None),
        "managementAgent": agent, "deviceEnrollmentType": enrol_type,
        "deviceRegistrationState": "registered", "exchangeAccessState": "none",
        "exchangeAccessStateReason": "none", "exchangeLastSuccessfulSyncDateTime": NEVER,
        "deviceCategoryDisplayName": "Unknown", "androidSecurityPatchLevel": p["security_patch"],
        "enrollmentProfileName": None, "requireUserEnrollmentApproval": None,
        "managementCertificateExpirationDate": iso(p["enrolled"] + 365 * 86400),
        "complianceGracePeriodExpirationDateTime": "9999-12-31T23:59:59Z",
        "partnerReportedThreatState": "unknown",
        "activationLockBypassCode": p.get("bypass_code"), "remoteAssistanceSessionUrl": None,
        "remoteAssistanceSessionErrorDetails": None, "notes": p.get("notes"),
        "configurationManagerClientEnabledFeatures": None, "deviceHealthAttestationState": None,
        "deviceActionResults": action_results(p, now, delay),
    }
    if beta:
        d.update(_beta(p, dev_type, chassis, management_state(p, now, delay)))
    return d


def _beta(p: dict, dev_type: str, chassis: str, state: str) -> dict:
    hw = {"serialNumber": p["serial"], "totalStorageSpace": p["storage_total"], "freeStorageSpace": p["storage_free"],
          "imei": p["imei"], "meid": p["meid"], "manufacturer": p["manufacturer"], "model": p["model"],
          "phoneNumber": p["phone"], "subscriberCarrier": p["carrier"] or "", "cellularTechnology": "LTE" if p["imei"] else "",
          "wifiMac": p["wifi_mac"] or "", "operatingSystemLanguage": "ja-JP", "isSupervised": p["supervised"],
          "isEncrypted": p["encrypted"], "isSharedDevice": False, "ipAddressV4": p["ip"],
          "esimIdentifier": None, "residentUsersCount": None}
    return {"deviceType": dev_type, "chassisType": chassis, "hardwareInformation": hw,
            "joinType": "azureADJoined" if p["os"] == "Windows" else "unknown",
            "skuFamily": "Enterprise" if p["os"] == "Windows" else "",
            "managementState": state, "lostModeState": "disabled"}


def list_item(full: dict) -> dict:
    """A device as the collection answer shows it (the LIST quirk applied)."""
    item = dict(full)
    item.update(LIST_QUIRK)
    return item


def project(full: dict, select: list[str] | None) -> dict:
    """$select: the named properties plus id, in the order asked."""
    if not select:
        return full
    out = {"id": full["id"]}
    for name in select:
        if name in full:
            out[name] = full[name]
    return out


def family_of(os_name: str) -> str:
    """The app-catalog platform family of an OS (detectedApp ids and tenant-wide counts are per family)."""
    return "windows" if os_name == "Windows" else ("android" if os_name == "Android" else "apple")


def app_id(os_family: str, index: int, version: int) -> str:
    """A detectedApp id: 44 hex digits, stable for (platform family, app, version)."""
    return hashlib.sha1(f"{os_family}:{index}:{version}".encode()).hexdigest()[:44].ljust(44, "0")


def platform_of(os_name: str) -> str:
    """detectedAppPlatformType of an OS."""
    return {"Windows": "windows", "Android": "androidWorkProfile"}.get(os_name, "ios")


def detected_app(os_name: str, index: int, version: int, count: int) -> dict:
    """A detectedApp object."""
    app = catalog_for(os_name)[index]
    family = family_of(os_name)
    return {"id": app_id(family, index, version), "displayName": app.name, "version": app.versions[version],
            "sizeInByte": app.size, "deviceCount": count, "publisher": app.publisher,
            "platform": platform_of(os_name)}


# --- fast path: JSON text of devices without an overlay -------------------------------------------------
# A device nothing has changed (no actions, no admin operation) has no bypass code, notes or action
# results and is managed, so those members are constants; everything that varies between such devices
# is a fragment below. Devices with an overlay go through device() and json.dumps instead.

# (wire name, profile key or None, quoted): `quoted` fragments are a string's bare content and the
# template adds the quotes; the others are JSON text. Profile keys are read with one itemgetter.
_SPEC = (
    ("id", None, True), ("userId", "user_id", True), ("deviceName", "device_name", True),
    ("userPrincipalName", "upn", True), ("userDisplayName", "user_name", True), ("emailAddress", "email", True),
    ("managedDeviceOwnerType", "owner", True), ("operatingSystem", "os", True), ("osVersion", "os_version", True),
    ("model", "model", True), ("manufacturer", "manufacturer", True), ("serialNumber", "serial", True),
    ("imei", "imei", True), ("phoneNumber", "phone", True), ("complianceState", "compliance", True),
    ("jailBroken", "jailbroken", True), ("azureADDeviceId", "aad_id", True),
    ("physicalMemoryInBytes", "ram", False), ("totalStorageSpaceInBytes", "storage_total", False),
    ("freeStorageSpaceInBytes", "storage_free", False),
    # computed, in fragments() order
    ("managedDeviceName", None, True), ("subscriberCarrier", None, False), ("wiFiMacAddress", None, False),
    ("ethernetMacAddress", None, False), ("iccid", None, False), ("udid", None, False),
    ("lastSyncDateTime", None, True), ("enrolledDateTime", None, True), ("isEncrypted", None, False),
    ("isSupervised", None, False), ("easDeviceId", None, True), ("easActivationDateTime", None, True),
    ("androidSecurityPatchLevel", None, False), ("managementCertificateExpirationDate", None, True),
    ("managementAgent", None, False), ("deviceEnrollmentType", None, False), ("azureADRegistered", None, False),
    ("easActivated", None, False),
    # beta only
    ("deviceType", None, False), ("chassisType", None, False), ("joinType", None, False), ("skuFamily", None, False),
    ("hardwareInformation", None, False),
)
VARS = tuple(name for name, _, _ in _SPEC)
N_V1 = VARS.index("deviceType")
_VAR_INDEX = {name: i for i, name in enumerate(VARS)}
_QUOTED = {name for name, _, quoted in _SPEC if quoted}
_PLAIN = itemgetter(*(key for _, key, _ in _SPEC if key))
_B = {True: "true", False: "false", None: "null"}


def _platform_text(os_name: str, supervised: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(v1.0 fragments, beta fragments) that depend on the platform only."""
    agent, enrol, dev_type, chassis = _platform_bits({"os": os_name, "supervised": supervised})
    win = os_name == "Windows"
    return ((jstr(agent), jstr(enrol), "true" if win else "null", "false" if win else "true"),
            (jstr(dev_type), jstr(chassis), '"azureADJoined"' if win else '"unknown"', '"Enterprise"' if win else '""'))


_PLATFORM = {(o, s): _platform_text(o, s) for o in ("iOS", "iPadOS", "Android", "Windows", "macOS") for s in (True, False)}
_YEAR = 365 * 86400


def fragments(p: dict, ident: str, beta: bool) -> tuple[str, ...]:
    """The variable members (VARS order; the beta ones only when asked) of a device without an
    overlay. Profile strings come from escape-free tables, digits and hex (tested)."""
    os_name, enrolled = p["os"], p["enrolled"]
    v1, vb = _PLATFORM[os_name, p["supervised"]]
    carrier, wifi, eth, iccid, udid, patch = p["carrier"], p["wifi_mac"], p["eth_mac"], p["iccid"], p["udid"], p["security_patch"]
    win = os_name == "Windows"
    since = iso(enrolled)
    out = (ident,) + _PLAIN(p) + (
        _managed_name(p),
        "null" if carrier is None else '"' + carrier + '"',
        '"' + wifi + '"' if wifi else "null",
        "null" if eth is None else '"' + eth + '"',
        '"' + iccid + '"' if iccid else "null",
        '"' + udid + '"' if udid else "null",
        iso(p["last_sync"]), since, _B[p["encrypted"]], _B[p["supervised"]],
        "" if win else p["eas_id"], NEVER if win else since,
        "null" if patch is None else '"' + patch + '"',
        iso(enrolled + _YEAR)) + v1
    if beta:
        imei = p["imei"]
        hw = (f'{{"serialNumber":"{p["serial"]}","totalStorageSpace":{p["storage_total"]},'
              f'"freeStorageSpace":{p["storage_free"]},"imei":"{imei}","meid":"{p["meid"]}",'
              f'"manufacturer":"{p["manufacturer"]}","model":"{p["model"]}","phoneNumber":"{p["phone"]}",'
              f'"subscriberCarrier":"{carrier or ""}","cellularTechnology":"{"LTE" if imei else ""}",'
              f'"wifiMac":"{wifi or ""}","operatingSystemLanguage":"ja-JP","isSupervised":{_B[p["supervised"]]},'
              f'"isEncrypted":{_B[p["encrypted"]]},"isSharedDevice":false,"ipAddressV4":"{p["ip"]}",'
              f'"esimIdentifier":null,"residentUsersCount":null}}')
        out += vb + (hw,)
    return out


def _constants() -> tuple[list[str], dict[str, str]]:
    """(every member name in wire order, beta included; JSON text of the members that are constant
    for devices without an overlay), read off the dict path so the two cannot drift apart."""
    p = {"os": "iOS", "supervised": True, "enrolled": 0, "login": "x", "user_id": "", "device_name": "", "upn": "",
         "user_name": "", "email": "", "owner": "", "os_version": "", "model": "", "manufacturer": "", "serial": "",
         "imei": "", "meid": "", "phone": "", "carrier": None, "wifi_mac": "", "eth_mac": None, "iccid": "",
         "udid": "", "ram": 0, "storage_total": 0, "storage_free": 0, "last_sync": None, "compliance": "",
         "jailbroken": "", "encrypted": True, "aad_id": "", "eas_id": "", "security_patch": None, "ip": ""}
    full = device(p, "", 0, 0, True)
    return list(full), {k: jtext(v) for k, v in full.items() if k not in _VAR_INDEX}


ALL_KEYS, _CONST = _constants()
V1_KEYS = [k for k in ALL_KEYS if k not in BETA_ONLY]
_QUIRK_TEXT = {k: jtext(v) for k, v in LIST_QUIRK.items()}


class View:
    """How one kind of request shows a device: the template and whether it needs the beta fragments."""

    __slots__ = ("template", "beta")

    def __init__(self, beta: bool, quirk: bool, memory_zero: bool, select: tuple[str, ...] | None):
        keys = ALL_KEYS if beta else V1_KEYS
        if select:
            present = set(keys)
            keys = list(dict.fromkeys(("id",) + tuple(n for n in select if n in present)))
        members: list[Member] = []
        for k in keys:
            if quirk and k in _QUIRK_TEXT:
                members.append((k, _QUIRK_TEXT[k]))
            elif memory_zero and k == "physicalMemoryInBytes":
                members.append((k, "0"))
            else:
                i = _VAR_INDEX.get(k)
                members.append((k, _CONST[k] if i is None else (i,) if k in _QUOTED else i))
        self.template = Template(members)
        self.beta = any(i >= N_V1 for i in self.template.indices)

    def render(self, p: dict, ident: str) -> str:
        """The device's JSON text in this view."""
        return self.template.render(fragments(p, ident, self.beta))


VIEWS = views_cache(lambda key: View(*key))
"""VIEWS[beta, quirk, memory_zero, select tuple or None] -> View."""
