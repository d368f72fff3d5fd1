"""The device generator as first written (commit 5da264b), kept as the specification of the data:
mdmtui/sim/profiles.make_profile is a faster rewrite that must make exactly the same draws."""

from __future__ import annotations

import random

from mdmtui.sim import ids
from mdmtui.sim.profiles import (ANDROID_VERSIONS, ANDROIDS, DEPTS, DOMAIN, EN_NAMES, GB, IPADS, IPHONES, JP_FAMILY,
                                 JP_GIVEN, PCS, SDM_VERSIONS, WIN_VERSIONS, apps_of, dates_of, os_of)


def _weighted(r: random.Random, pairs):
    total = sum(w for _, w in pairs)
    x = r.random() * total
    for value, w in pairs:
        x -= w
        if x < 0:
            return value
    return pairs[-1][0]


def _user(r: random.Random) -> dict:
    if r.random() < 0.6:
        fam, giv = r.choice(JP_FAMILY), r.choice(JP_GIVEN)
        display, login = f"{fam[0]} {giv[0]}", f"{giv[1]}.{fam[1]}{r.randrange(1, 99)}"
    else:
        display = r.choice(EN_NAMES)
        login = display.lower().replace(" ", ".").replace("'", "").replace("ü", "u") + str(r.randrange(1, 99))
    return {"user_name": display, "login": login, "upn": f"{login}@{DOMAIN}", "email": f"{login}@{DOMAIN}",
            "user_id": ids.guid(r), "department": r.choice(DEPTS)}


def _hardware(r: random.Random, os_name: str) -> dict:
    if os_name == "iOS":
        model, ram, ver = r.choice(IPHONES)
        return {"manufacturer": "Apple", "model": model, "ram": ram * GB, "os_version": ver,
                "storage_total": r.choice([64, 128, 128, 256, 512]) * GB, "cellular": r.random() < 0.92}
    if os_name == "iPadOS":
        model, ram, ver = r.choice(IPADS)
        return {"manufacturer": "Apple", "model": model, "ram": ram * GB, "os_version": ver,
                "storage_total": r.choice([64, 128, 256, 512]) * GB, "cellular": r.random() < 0.4}
    if os_name == "Android":
        maker, model, _, ram = r.choice(ANDROIDS)
        return {"manufacturer": maker, "model": model, "ram": ram * GB, "os_version": r.choice(ANDROID_VERSIONS),
                "storage_total": r.choice([32, 64, 128, 128, 256]) * GB, "cellular": r.random() < 0.9}
    maker, model = r.choice(PCS)
    return {"manufacturer": maker, "model": model, "ram": r.choice([8, 16, 16, 32]) * GB,
            "os_version": r.choice(WIN_VERSIONS), "storage_total": r.choice([256, 512, 1024]) * GB,
            "cellular": r.random() < 0.1}


def _sim_card(r: random.Random, prof: dict) -> None:
    """SIM facts; devices without a SIM send empty strings, as the real services do."""
    if not prof["cellular"]:
        prof.update(imei="", iccid="", imsi="", phone="", carrier=None, meid="")
        return
    carrier, plmn, issuer, cc = r.choice(ids.CARRIERS_JP) if r.random() < 0.85 else r.choice(ids.CARRIERS_OTHER)
    prof.update(imei=ids.imei(r, prof["manufacturer"]), iccid=ids.iccid(r, issuer), imsi=ids.imsi(r, plmn),
                phone=ids.phone(r, cc), carrier=carrier, meid="")
    if r.random() < 0.05:   # eSIM-only or a data-only plan: a SIM without a voice number
        prof["phone"] = ""


def _network(r: random.Random, prof: dict) -> None:
    prof["eth_mac"] = None
    prof["wifi_mac"] = ids.mac(r)
    if prof["os"] == "Windows":
        kind = r.random()
        if kind < 0.2:          # desktop on a wire only
            prof["wifi_mac"] = ""
        if kind < 0.2 or kind > 0.6:
            prof["eth_mac"] = ids.mac(r)
    prof["ip"] = f"10.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}"


def _names(r: random.Random, prof: dict) -> None:
    os_name, user = prof["os"], prof["user_name"]
    family = user.split(" ")[0]
    if os_name == "Windows":
        name = f"DESKTOP-{r.getrandbits(28):07X}" if r.random() < 0.6 else f"{prof['department'][:2]}-PC-{r.randrange(10000):04d}"
    elif r.random() < 0.5 and not family.isascii():
        kind = {"iOS": "iPhone", "iPadOS": "iPad", "Android": prof["model"]}[os_name]
        name = r.choice([f"{prof['department']}の {kind}", f"{family}の{kind}", f"{user}の {kind}"])
    else:
        name = {"iOS": "iPhone", "iPadOS": "iPad", "Android": prof["model"]}[os_name]
        name = f"{user.split(' ')[-1]}'s {name}" if r.random() < 0.5 else name
    prof["device_name"] = name
    prof["host_name"] = name if os_name == "Windows" else f"{prof['login'].replace('.', '-')}-{os_name.lower()}"


def _state(r: random.Random, prof: dict) -> None:
    os_name = prof["os"]
    prof["storage_free"] = int(prof["storage_total"] * r.uniform(0.05, 0.85)) // 4096 * 4096
    prof["ram_free"] = int(prof["ram"] * r.uniform(0.1, 0.6)) // 4096 * 4096
    has_sd = os_name == "Android" and prof["manufacturer"] in ("Sharp", "Kyocera", "Sony", "Samsung") and r.random() < 0.35
    prof["sd_total"] = r.choice([32, 64, 128, 256]) * GB if has_sd else 0
    prof["sd_free"] = int(prof["sd_total"] * r.uniform(0.1, 0.9)) // 4096 * 4096 if has_sd else 0
    prof["jailbroken"] = "Unknown" if os_name == "Windows" else ("True" if r.random() < 0.01 else "False")
    prof["encrypted"] = r.random() < 0.93
    prof["supervised"] = os_name in ("iOS", "iPadOS") and r.random() < 0.7
    prof["passcode"] = r.random() < 0.9
    prof["compliance"] = _weighted(r, [("compliant", 85), ("noncompliant", 8), ("inGracePeriod", 2), ("unknown", 5)])
    prof["owner"] = "company" if r.random() < 0.85 else "personal"
    prof["security_patch"] = f"2025-{r.randrange(1, 10):02d}-01" if os_name == "Android" else None
    prof["aad_id"] = ids.guid(r)
    prof["eas_id"] = f"{r.getrandbits(64):016X}"
    prof["manager_version"] = _weighted(r, SDM_VERSIONS)


def serial_for(r: random.Random, prof: dict) -> str:
    """A serial number shaped like the manufacturer's."""
    if prof["manufacturer"] == "Apple":
        return "".join(r.choices("0123456789BCDFGHJKLMNPQRTVWXYZ", k=r.choice([10, 12])))
    if prof["os"] == "Windows":
        return "".join(r.choices("0123456789ABCDEFGHJKLMNPRSTUVWXYZ", k=r.choice([7, 8, 10])))
    return "".join(r.choices("0123456789ABCDEFGHIJKLMNPQRSTUVWXYZ", k=11))


def make_profile(seed: int, mdm: str, hw: int, now: int) -> dict:
    """Build the neutral profile of hardware `hw` of one MDM; same inputs, same device."""
    r = random.Random(ids.stable_int(seed, mdm, hw))
    os_name = os_of(seed, mdm, hw)
    prof = {"os": os_name, "hw": hw}
    prof.update(_hardware(r, os_name))
    prof.update(_user(r))
    prof["serial"] = serial_for(r, prof)
    prof["udid"] = ids.udid(r, modern=prof["ram"] >= 6 * GB) if prof["manufacturer"] == "Apple" else ""
    _sim_card(r, prof)
    _network(r, prof)
    _names(r, prof)
    prof["enrolled"], prof["last_sync"] = dates_of(seed, mdm, hw, now)
    _state(r, prof)
    prof["app_count"], prof["app_seed"] = apps_of(seed, mdm, hw, os_name)
    return prof
