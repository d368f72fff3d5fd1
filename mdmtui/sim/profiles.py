"""Deterministic device profiles: MDM-neutral facts about one device, built from (seed, mdm, hw)."""

from __future__ import annotations

import _random
import random
import threading

from . import ids
from .catalog import catalog_for

GB = 1024**3
DAY = 86_400

# Per-MDM OS weights: Intune has PCs; MobileIron reports iPads as iOS; the SDM has no PCs.
OS_MIX = {
    "intune": [("iOS", 35), ("iPadOS", 10), ("Android", 35), ("Windows", 20)],
    "mobileiron": [("iOS", 45), ("iPadOS", 7), ("Android", 48)],
    "sdm": [("iOS", 40), ("iPadOS", 15), ("Android", 45)],
}

IPHONES = [("iPhone 12", 4, "15.8.3"), ("iPhone 13", 4, "17.6.1"), ("iPhone SE (3rd generation)", 4, "18.5"),
           ("iPhone 14", 6, "18.5"), ("iPhone 15", 6, "18.6.2"), ("iPhone 15 Pro", 8, "26.0"),
           ("iPhone 16", 8, "18.6.2"), ("iPhone 16e", 8, "26.0.1")]
IPADS = [("iPad (9th generation)", 3, "18.5"), ("iPad Air (5th generation)", 8, "18.6.2"),
         ("iPad mini (6th generation)", 4, "17.7"), ("iPad Pro (11-inch) (4th generation)", 8, "26.0")]
ANDROIDS = [("Samsung", "SC-54D", "Galaxy A55", 8), ("Samsung", "SM-S921Q", "Galaxy S24", 8),
            ("Google", "Pixel 8a", "Pixel 8a", 8), ("Google", "Pixel 7", "Pixel 7", 8),
            ("Sony", "SO-51E", "Xperia 1 VI", 12), ("Sharp", "SH-52E", "AQUOS sense8", 6),
            ("Kyocera", "KYG01", "TORQUE 5G", 4), ("FCNT", "F-51E", "arrows We2", 4)]
PCS = [("Dell Inc.", "Latitude 5440"), ("HP", "HP EliteBook 840 G10"), ("LENOVO", "21HMCTO1WW"),
       ("Microsoft Corporation", "Surface Laptop 5"), ("FUJITSU CLIENT COMPUTING LIMITED", "FMVU39041"),
       ("NEC", "PC-VKT44MBGH"), ("Panasonic Corporation", "CF-SV2RDLCR")]
ANDROID_VERSIONS = ["12", "13", "14", "15"]
WIN_VERSIONS = ["10.0.19045.5965", "10.0.22631.5768", "10.0.26100.4946"]

JP_FAMILY = [("山田", "yamada"), ("佐藤", "sato"), ("鈴木", "suzuki"), ("高橋", "takahashi"), ("田中", "tanaka"),
             ("伊藤", "ito"), ("渡辺", "watanabe"), ("中村", "nakamura"), ("小林", "kobayashi"), ("加藤", "kato")]
JP_GIVEN = [("太郎", "taro"), ("花子", "hanako"), ("一郎", "ichiro"), ("美咲", "misaki"), ("健", "ken"),
            ("由美", "yumi"), ("翔", "sho"), ("愛", "ai"), ("大輔", "daisuke"), ("結衣", "yui")]
EN_NAMES = ["Alex Kim", "Maria Garcia", "John Smith", "Priya Patel", "Chen Wei", "Emma Müller", "Liam O'Brien"]
DEPTS = ["営業部", "総務部", "経理部", "開発部", "人事部", "Sales", "Engineering"]
DOMAIN = "contoso.co.jp"
SDM_VERSIONS = [("11-00-02", 20), ("11-00-03", 30), ("11-00-04", 50)]


def os_of(seed: int, mdm: str, hw: int, hasher: ids.Hasher | None = None) -> str:
    """The device's OS, cheaply (filters scan whole fleets with it); `hasher` = Hasher(seed, mdm)."""
    h = hasher.int(hw, "os") if hasher is not None else ids.stable_int(seed, mdm, hw, "os")
    x = (h % 10_000) / 100
    for os_name, weight in OS_MIX[mdm]:
        x -= weight
        if x < 0:
            return os_name
    return OS_MIX[mdm][-1][0]


def dates_of(seed: int, mdm: str, hw: int, now: int, hasher: ids.Hasher | None = None) -> tuple[int, int | None]:
    """(enrolled, last contact or None for never), cheaply, in epoch seconds."""
    h = hasher.int(hw, "dates") if hasher is not None else ids.stable_int(seed, mdm, hw, "dates")
    enrolled = now - (20 + h % 880) * DAY - (h >> 10) % DAY
    x = (h >> 30) % 1000
    if x < 10:
        return enrolled, None                     # enrolled, never checked in
    if x < 40:
        last = now - (31 + (h >> 40) % 120) * DAY
    else:
        last = now - (h >> 40) % (3 * DAY)
    return enrolled, max(last, enrolled)


def apps_of(seed: int, mdm: str, hw: int, os_name: str, hasher: ids.Hasher | None = None) -> tuple[int, int]:
    """(app count, app RNG seed), cheaply: tenant-wide app aggregates scan whole fleets."""
    h = hasher.int(hw, "apps") if hasher is not None else ids.stable_int(seed, mdm, hw, "apps")
    x = h % 1000
    if x < 80:
        n = 0
    elif x < 995:
        n = 5 + (h >> 10) % (295 if os_name == "Windows" else 85)
    else:
        n = 1000 + (h >> 10) % 2000                # kiosk build machines and hoarders
    return n, h >> 16


# --- the generator ------------------------------------------------------------------------------------
# One Mersenne Twister per device, seeded from (seed, MDM, hardware index); every draw below is the
# draw the straightforward version made (r.choice(seq) is seq[_randbelow(len(seq))], r.randrange(a, b)
# is a + _randbelow(b - a), r.uniform(a, b) is a + (b - a) * r.random(), r.choices(pop, k=n) is n
# times pop[floor(random() * len(pop))]), in the same order, so the same seed gives the same devices.
# tests/sim/reference_profiles.py keeps the straightforward version and tests compare the two.

_local = threading.local()
_cseed = _random.Random.seed            # the C seeding random.Random.seed(int) ends in


def _rng() -> random.Random:
    """This thread's generator (reseeded per device: constructing one costs as much as seeding)."""
    try:
        return _local.r
    except AttributeError:
        r = _local.r = random.Random()
        return r


def _below(g, n: int) -> int:
    """random.Random._randbelow(n) given the generator's getrandbits."""
    k = n.bit_length()
    x = g(k)
    while x >= n:
        x = g(k)
    return x


def _guid(g) -> str:
    h = f"{g(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:]}"


def _mac(g) -> str:
    first = _below(g, 256) & 0xFC
    return f"{first:02X}{g(40):010X}"


_COMPLIANCE = (("compliant", 85), ("noncompliant", 8), ("inGracePeriod", 2), ("unknown", 5))
_IOS_STORAGE = [64, 128, 128, 256, 512]
_IPAD_STORAGE = [64, 128, 256, 512]
_ANDROID_STORAGE = [32, 64, 128, 128, 256]
_PC_RAM = [8, 16, 16, 32]
_PC_STORAGE = [256, 512, 1024]
_SD_SIZES = [32, 64, 128, 256]
_SD_MAKERS = ("Sharp", "Kyocera", "Sony", "Samsung")
_APPLE_SERIAL = "0123456789BCDFGHJKLMNPQRTVWXYZ"
_PC_SERIAL = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
_OTHER_SERIAL = "0123456789ABCDEFGHIJKLMNPQRSTUVWXYZ"
_KIND = {"iOS": "iPhone", "iPadOS": "iPad"}
_EN_LOGINS = [n.lower().replace(" ", ".").replace("'", "").replace("ü", "u") for n in EN_NAMES]
_TAC_OTHER = ids.TACS["Samsung"]
_PHONE_PREFIX = ["70", "80", "90"]


def _weighted(x: float, pairs):
    """The value whose weight band x (uniform over the total) falls in, subtracting as it goes."""
    for value, w in pairs:
        x -= w
        if x < 0:
            return value
    return pairs[-1][0]


def _serial(rnd, alphabet: str, k: int) -> str:
    n = float(len(alphabet))
    return "".join([alphabet[int(rnd() * n)] for _ in range(k)])


def make_profile(seed: int, mdm: str, hw: int, now: int, hasher: ids.Hasher | None = None) -> dict:
    """Build the neutral profile of hardware `hw` of one MDM; same inputs, same device.
    `hasher` is ids.Hasher(seed, mdm), passed by callers that build many profiles."""
    hasher = hasher or ids.Hasher(seed, mdm)
    r = _rng()
    _cseed(r, hasher.int(hw))
    g, rnd = r.getrandbits, r.random
    os_name = os_of(seed, mdm, hw, hasher)
    prof = {"os": os_name, "hw": hw}

    # hardware
    if os_name == "iOS":
        model, ram, os_version = IPHONES[_below(g, 8)]
        maker, ram = "Apple", ram * GB
        storage = _IOS_STORAGE[_below(g, 5)] * GB
        cellular = rnd() < 0.92
    elif os_name == "iPadOS":
        model, ram, os_version = IPADS[_below(g, 4)]
        maker, ram = "Apple", ram * GB
        storage = _IPAD_STORAGE[_below(g, 4)] * GB
        cellular = rnd() < 0.4
    elif os_name == "Android":
        maker, model, _, ram = ANDROIDS[_below(g, 8)]
        ram *= GB
        os_version = ANDROID_VERSIONS[_below(g, 4)]
        storage = _ANDROID_STORAGE[_below(g, 5)] * GB
        cellular = rnd() < 0.9
    else:
        maker, model = PCS[_below(g, 7)]
        ram = _PC_RAM[_below(g, 4)] * GB
        os_version = WIN_VERSIONS[_below(g, 3)]
        storage = _PC_STORAGE[_below(g, 3)] * GB
        cellular = rnd() < 0.1
    prof["manufacturer"] = maker
    prof["model"] = model
    prof["ram"] = ram
    prof["os_version"] = os_version
    prof["storage_total"] = storage
    prof["cellular"] = cellular

    # user
    if rnd() < 0.6:
        fam, giv = JP_FAMILY[_below(g, 10)], JP_GIVEN[_below(g, 10)]
        user_name, login = f"{fam[0]} {giv[0]}", f"{giv[1]}.{fam[1]}{1 + _below(g, 98)}"
    else:
        i = _below(g, 7)
        user_name, login = EN_NAMES[i], f"{_EN_LOGINS[i]}{1 + _below(g, 98)}"
    prof["user_name"] = user_name
    prof["login"] = login
    prof["upn"] = prof["email"] = f"{login}@{DOMAIN}"
    prof["user_id"] = _guid(g)
    department = prof["department"] = DEPTS[_below(g, 7)]

    # serial number and UDID
    apple = maker == "Apple"
    if apple:
        prof["serial"] = _serial(rnd, _APPLE_SERIAL, 10 if _below(g, 2) == 0 else 12)
    elif os_name == "Windows":
        prof["serial"] = _serial(rnd, _PC_SERIAL, (7, 8, 10)[_below(g, 3)])
    else:
        prof["serial"] = _serial(rnd, _OTHER_SERIAL, 11)
    if apple:
        prof["udid"] = f"{g(32):08X}-{g(64):016X}" if ram >= 6 * GB else f"{g(160):040x}"
    else:
        prof["udid"] = ""

    # SIM card (devices without one send empty strings, as the real services do)
    if not cellular:
        prof.update(imei="", iccid="", imsi="", phone="", carrier=None, meid="")
    else:
        if rnd() < 0.85:
            carrier, plmn, issuer, cc = ids.CARRIERS_JP[_below(g, 5)]
        else:
            carrier, plmn, issuer, cc = ids.CARRIERS_OTHER[_below(g, 4)]
        tacs = ids.TACS.get(maker, _TAC_OTHER)
        body = tacs[_below(g, len(tacs))] + f"{_below(g, 1_000_000):06d}"
        prof["imei"] = body + ids.luhn_digit(body)
        body = "89" + issuer
        k = (19 if rnd() < 0.8 else 20) - 1 - len(body)
        body += f"{_below(g, 10**k):0{k}d}"
        prof["iccid"] = body + ids.luhn_digit(body)
        k = 15 - len(plmn)
        prof["imsi"] = plmn + f"{_below(g, 10**k):0{k}d}"
        if cc == "81":
            number = _PHONE_PREFIX[_below(g, 3)] + f"{_below(g, 10**8):08d}"
            phone = "+81" + number if rnd() < 0.6 else "0" + number
        else:
            phone = "+" + cc + str(10**9 + _below(g, 9 * 10**9))
        prof["phone"] = phone
        prof["carrier"] = carrier
        prof["meid"] = ""
        if rnd() < 0.05:     # eSIM-only or a data-only plan: a SIM without a voice number
            prof["phone"] = ""

    # network
    prof["eth_mac"] = None
    prof["wifi_mac"] = _mac(g)
    if os_name == "Windows":
        kind = rnd()
        if kind < 0.2:          # desktop on a wire only
            prof["wifi_mac"] = ""
        if kind < 0.2 or kind > 0.6:
            prof["eth_mac"] = _mac(g)
    prof["ip"] = f"10.{_below(g, 256)}.{_below(g, 256)}.{1 + _below(g, 254)}"

    # names
    if os_name == "Windows":
        name = f"DESKTOP-{g(28):07X}" if rnd() < 0.6 else f"{department[:2]}-PC-{_below(g, 10000):04d}"
        prof["device_name"] = prof["host_name"] = name
    else:
        kind = _KIND.get(os_name, model)
        family = user_name.split(" ")[0]
        if rnd() < 0.5 and not family.isascii():
            i = _below(g, 3)
            name = f"{department}の {kind}" if i == 0 else (f"{family}の{kind}" if i == 1 else f"{user_name}の {kind}")
        else:
            name = f"{user_name.split(' ')[-1]}'s {kind}" if rnd() < 0.5 else kind
        prof["device_name"] = name
        prof["host_name"] = f"{login.replace('.', '-')}-{os_name.lower()}"

    prof["enrolled"], prof["last_sync"] = dates_of(seed, mdm, hw, now, hasher)

    # state
    prof["storage_free"] = int(storage * (0.05 + (0.85 - 0.05) * rnd())) // 4096 * 4096
    prof["ram_free"] = int(ram * (0.1 + (0.6 - 0.1) * rnd())) // 4096 * 4096
    if os_name == "Android" and maker in _SD_MAKERS and rnd() < 0.35:
        sd_total = prof["sd_total"] = _SD_SIZES[_below(g, 4)] * GB
        prof["sd_free"] = int(sd_total * (0.1 + (0.9 - 0.1) * rnd())) // 4096 * 4096
    else:
        prof["sd_total"] = prof["sd_free"] = 0
    prof["jailbroken"] = "Unknown" if os_name == "Windows" else ("True" if rnd() < 0.01 else "False")
    prof["encrypted"] = rnd() < 0.93
    prof["supervised"] = os_name in ("iOS", "iPadOS") and rnd() < 0.7
    prof["passcode"] = rnd() < 0.9
    prof["compliance"] = _weighted(rnd() * 100, _COMPLIANCE)
    prof["owner"] = "company" if rnd() < 0.85 else "personal"
    prof["security_patch"] = f"2025-{1 + _below(g, 9):02d}-01" if os_name == "Android" else None
    prof["aad_id"] = _guid(g)
    prof["eas_id"] = f"{g(64):016X}"
    prof["manager_version"] = _weighted(rnd() * 100, SDM_VERSIONS)
    prof["app_count"], prof["app_seed"] = apps_of(seed, mdm, hw, os_name, hasher)
    return prof


def device_apps(prof: dict) -> list[tuple[int, int]]:
    """The device's installed apps as (catalog index, version index), deterministic per device."""
    return apps_from(prof["os"], prof["app_count"], prof["app_seed"])


def apps_from(os_name: str, n: int, app_seed: int) -> list[tuple[int, int]]:
    """Installed apps from the cheap app facts."""
    if not n:
        return []
    catalog = catalog_for(os_name)
    r = random.Random(app_seed)
    picks = r.sample(range(len(catalog)), min(n, len(catalog)))
    return [(i, (app_seed >> (i % 31)) % len(catalog[i].versions)) for i in picks]
