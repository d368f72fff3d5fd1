"""Intune (Microsoft Graph) wire format of a device profile: managedDevice and detectedApp objects."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

from .catalog import catalog_for

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
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


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
    stamp = datetime.fromtimestamp(p["enrolled"], timezone.utc)
    return f"{p['login']}_{p['os']}_{stamp.month}/{stamp.day}/{stamp.year}_{stamp.strftime('%I:%M %p')}"


def action_results(p: dict, now: float, delay: float) -> list[dict]:
    """deviceActionResults: pending until `delay` has passed, then done (failed without a profile)."""
    out = []
    for act in p.get("actions", ()):
        done = now - act["start"] >= delay
        state = "pending" if not done else ("failed" if act.get("fails") else "done")
        out.append({"actionName": act["name"], "actionState": state, "startDateTime": iso(act["start"]),
                    "lastUpdatedDateTime": iso(act["start"] + (delay if done else 0))})
    return out


def device(p: dict, ident: str, now: float, delay: float, beta: bool) -> dict:
    """The full, real managedDevice object (v1.0 properties; beta adds its own)."""
    agent, enrol_type, dev_type, chassis = _platform_bits(p)
    wiped = p.get("wiped")
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
        d.update(_beta(p, dev_type, chassis, wiped))
    return d


def _beta(p: dict, dev_type: str, chassis: str, wiped) -> dict:
    hw = {"serialNumber": p["serial"], "totalStorageSpace": p["storage_total"], "freeStorageSpace": p["storage_free"],
          "imei": p["imei"], "meid": p["meid"], "manufacturer": p["manufacturer"], "model": p["model"],
          "phoneNumber": p["phone"], "subscriberCarrier": p["carrier"] or "", "cellularTechnology": "LTE" if p["imei"] else "",
          "wifiMac": p["wifi_mac"] or "", "operatingSystemLanguage": "ja-JP", "isSupervised": p["supervised"],
          "isEncrypted": p["encrypted"], "isSharedDevice": False, "ipAddressV4": p["ip"],
          "esimIdentifier": None, "residentUsersCount": None}
    return {"deviceType": dev_type, "chassisType": chassis, "hardwareInformation": hw,
            "joinType": "azureADJoined" if p["os"] == "Windows" else "unknown",
            "skuFamily": "Enterprise" if p["os"] == "Windows" else "",
            "managementState": "wipePending" if wiped else "managed", "lostModeState": "disabled"}


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


def app_id(os_family: str, index: int, version: int) -> str:
    """A detectedApp id: 44 hex digits, stable for (platform family, app, version)."""
    return hashlib.sha1(f"{os_family}:{index}:{version}".encode()).hexdigest()[:44].ljust(44, "0")


def platform_of(os_name: str) -> str:
    """detectedAppPlatformType of an OS."""
    return {"Windows": "windows", "Android": "androidWorkProfile"}.get(os_name, "ios")


def detected_app(os_name: str, index: int, version: int, count: int) -> dict:
    """A detectedApp object."""
    app = catalog_for(os_name)[index]
    family = "windows" if os_name == "Windows" else ("android" if os_name == "Android" else "apple")
    return {"id": app_id(family, index, version), "displayName": app.name, "version": app.versions[version],
            "sizeInByte": app.size, "deviceCount": count, "publisher": app.publisher,
            "platform": platform_of(os_name)}
