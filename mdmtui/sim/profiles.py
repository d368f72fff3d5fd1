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


# MobileIron Core device states other than ACTIVE, per 1000 devices (a fleet of a few years: retired and
# wiped devices linger, a few are lost or blocked, a few registrations never completed). Drawn from
# their own hash so the profile's random stream, and every other fact, stays as it was.
MI_STATUS_RATES = (("RETIRED", 15), ("WIPED", 8), ("BLOCKED", 5), ("LOST", 4), ("VERIFIED", 3), ("EXPIRED", 3))


def mdm_status_of(seed: int, mdm: str, hw: int, hasher: ids.Hasher | None = None) -> str:
    """The device's MobileIron Core status (common.status), deterministic per hardware index."""
    h = hasher.int(hw, "status") if hasher is not None else ids.stable_int(seed, mdm, hw, "status")
    x = h % 1000
    for status, per_mille in MI_STATUS_RATES:
        if x < per_mille:
            return status
        x -= per_mille
    return "ACTIVE"


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


def _luhn_tables() -> tuple[list[int], list[int]]:
    """Luhn sums of 3-digit groups: [0] with the last digit doubled, [1] with the middle one doubled."""
    dbl = [2 * d - 9 if 2 * d > 9 else 2 * d for d in range(10)]
    return ([dbl[v % 10] + v // 10 % 10 + dbl[v // 100] for v in range(1000)],
            [v % 10 + dbl[v // 10 % 10] + v // 100 for v in range(1000)])


_LUHN_A, _LUHN_B = _luhn_tables()
# an IMEI body is TAC (8 digits) + 6 drawn digits: the drawn ones are the last, doubled from the right
_TAC_SUM: dict[str, int] = {}
for _tacs in ids.TACS.values():
    for _tac in _tacs:
        _digits = _tac[::-1]          # reversed TAC digits sit at positions 6..13 from the right: even ones doubled
        _TAC_SUM[_tac] = sum((2 * int(c) - 9 if 2 * int(c) > 9 else 2 * int(c)) if i % 2 == 0 else int(c)
                             for i, c in enumerate(_digits))
_REPEAT = {k: range(k) for k in (7, 8, 10, 11, 12)}


def make_profile(seed: int, mdm: str, hw: int, now: int, hasher: ids.Hasher | None = None) -> dict:
    """Build the neutral profile of hardware `hw` of one MDM; same inputs, same device.
    `hasher` is ids.Hasher(seed, mdm), passed by callers that build many profiles.
    Hot (every device of every page): `x = g(k)` + `while x >= n: x = g(k)` is r._randbelow(n), k the
    bit length of n, written out where n is fixed."""
    hasher = hasher or ids.Hasher(seed, mdm)
    r = _rng()
    _cseed(r, hasher.int(hw))
    g, rnd = r.getrandbits, r.random
    os_name = os_of(seed, mdm, hw, hasher)

    # hardware
    if os_name == "iOS":
        x = g(4)
        while x >= 8:
            x = g(4)
        model, ram, os_version = IPHONES[x]
        maker, ram = "Apple", ram * GB
        x = g(3)
        while x >= 5:
            x = g(3)
        storage = _IOS_STORAGE[x] * GB
        cellular = rnd() < 0.92
    elif os_name == "iPadOS":
        model, ram, os_version = IPADS[_below(g, 4)]
        maker, ram = "Apple", ram * GB
        storage = _IPAD_STORAGE[_below(g, 4)] * GB
        cellular = rnd() < 0.4
    elif os_name == "Android":
        x = g(4)
        while x >= 8:
            x = g(4)
        maker, model, _, ram = ANDROIDS[x]
        ram *= GB
        x = g(3)
        while x >= 4:
            x = g(3)
        os_version = ANDROID_VERSIONS[x]
        x = g(3)
        while x >= 5:
            x = g(3)
        storage = _ANDROID_STORAGE[x] * GB
        cellular = rnd() < 0.9
    else:
        maker, model = PCS[_below(g, 7)]
        ram = _PC_RAM[_below(g, 4)] * GB
        os_version = WIN_VERSIONS[_below(g, 3)]
        storage = _PC_STORAGE[_below(g, 3)] * GB
        cellular = rnd() < 0.1

    # user
    if rnd() < 0.6:
        x = g(4)
        while x >= 10:
            x = g(4)
        fam = JP_FAMILY[x]
        x = g(4)
        while x >= 10:
            x = g(4)
        giv = JP_GIVEN[x]
        x = g(7)
        while x >= 98:
            x = g(7)
        user_name, login = fam[0] + " " + giv[0], f"{giv[1]}.{fam[1]}{1 + x}"
    else:
        i = g(3)
        while i >= 7:
            i = g(3)
        x = g(7)
        while x >= 98:
            x = g(7)
        user_name, login = EN_NAMES[i], f"{_EN_LOGINS[i]}{1 + x}"
    upn = login + "@" + DOMAIN
    h = f"{g(128):032x}"
    user_id = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:]}"
    x = g(3)
    while x >= 7:
        x = g(3)
    department = DEPTS[x]

    # serial number and UDID
    apple = maker == "Apple"
    if apple:
        x = g(2)
        while x >= 2:
            x = g(2)
        serial = "".join([_APPLE_SERIAL[int(rnd() * 30.0)] for _ in _REPEAT[12 if x else 10]])
        udid = f"{g(32):08X}-{g(64):016X}" if ram >= 6 * GB else f"{g(160):040x}"
    elif os_name == "Windows":
        serial = "".join([_PC_SERIAL[int(rnd() * 33.0)] for _ in _REPEAT[(7, 8, 10)[_below(g, 3)]]])
        udid = ""
    else:
        serial = "".join([_OTHER_SERIAL[int(rnd() * 35.0)] for _ in _REPEAT[11]])
        udid = ""

    # SIM card (devices without one send empty strings, as the real services do)
    if cellular:
        if rnd() < 0.85:
            x = g(3)
            while x >= 5:
                x = g(3)
            carrier, plmn, issuer, cc = ids.CARRIERS_JP[x]
        else:
            carrier, plmn, issuer, cc = ids.CARRIERS_OTHER[_below(g, 4)]
        tacs = ids.TACS.get(maker, _TAC_OTHER)
        tac = tacs[_below(g, len(tacs))]
        x = g(20)
        while x >= 1_000_000:
            x = g(20)
        check = (10 - (_TAC_SUM[tac] + _LUHN_A[x % 1000] + _LUHN_B[x // 1000]) % 10) % 10
        imei = f"{tac}{x:06d}{check}"
        body = "89" + issuer
        k = (19 if rnd() < 0.8 else 20) - 1 - len(body)
        body += f"{_below(g, 10**k):0{k}d}"
        iccid = body + ids.luhn_digit(body)
        k = 15 - len(plmn)
        imsi = plmn + f"{_below(g, 10**k):0{k}d}"
        if cc == "81":
            x = g(2)
            while x >= 3:
                x = g(2)
            number = _PHONE_PREFIX[x] + f"{_below(g, 100_000_000):08d}"
            phone = "+81" + number if rnd() < 0.6 else "0" + number
        else:
            phone = "+" + cc + str(1_000_000_000 + _below(g, 9_000_000_000))
        if rnd() < 0.05:     # eSIM-only or a data-only plan: a SIM without a voice number
            phone = ""
    else:
        imei = iccid = imsi = phone = ""
        carrier = None

    # network
    x = g(9)
    while x >= 256:
        x = g(9)
    wifi = f"{x & 0xFC:02X}{g(40):010X}"
    eth = None
    if os_name == "Windows":
        wiring = rnd()
        if wiring < 0.2:          # desktop on a wire only
            wifi = ""
        if wiring < 0.2 or wiring > 0.6:
            x = g(9)
            while x >= 256:
                x = g(9)
            eth = f"{x & 0xFC:02X}{g(40):010X}"
    x = g(9)
    while x >= 256:
        x = g(9)
    y = g(9)
    while y >= 256:
        y = g(9)
    z = g(8)
    while z >= 254:
        z = g(8)
    ip = f"10.{x}.{y}.{1 + z}"

    # names
    if os_name == "Windows":
        name = f"DESKTOP-{g(28):07X}" if rnd() < 0.6 else f"{department[:2]}-PC-{_below(g, 10000):04d}"
        host = name
    else:
        kind = _KIND.get(os_name, model)
        family = user_name.split(" ")[0]
        if rnd() < 0.5 and not family.isascii():
            i = _below(g, 3)
            name = f"{department}の {kind}" if i == 0 else (f"{family}の{kind}" if i == 1 else f"{user_name}の {kind}")
        else:
            name = f"{user_name.split(' ')[-1]}'s {kind}" if rnd() < 0.5 else kind
        host = f"{login.replace('.', '-')}-{os_name.lower()}"

    enrolled, last_sync = dates_of(seed, mdm, hw, now, hasher)

    # state
    storage_free = int(storage * (0.05 + (0.85 - 0.05) * rnd())) // 4096 * 4096
    ram_free = int(ram * (0.1 + (0.6 - 0.1) * rnd())) // 4096 * 4096
    if os_name == "Android" and maker in _SD_MAKERS and rnd() < 0.35:
        sd_total = _SD_SIZES[_below(g, 4)] * GB
        sd_free = int(sd_total * (0.1 + (0.9 - 0.1) * rnd())) // 4096 * 4096
    else:
        sd_total = sd_free = 0
    jailbroken = "Unknown" if os_name == "Windows" else ("True" if rnd() < 0.01 else "False")
    encrypted = rnd() < 0.93
    supervised = (os_name == "iOS" or os_name == "iPadOS") and rnd() < 0.7
    passcode = rnd() < 0.9
    band = rnd() * 100 - 85                  # _weighted over (85, 8, 2, 5): subtract band by band
    if band < 0:
        compliance = "compliant"
    else:
        band -= 8
        if band < 0:
            compliance = "noncompliant"
        else:
            band -= 2
            compliance = "inGracePeriod" if band < 0 else "unknown"
    owner = "company" if rnd() < 0.85 else "personal"
    if os_name == "Android":
        x = g(4)
        while x >= 9:
            x = g(4)
        patch = f"2025-{1 + x:02d}-01"
    else:
        patch = None
    h = f"{g(128):032x}"
    aad_id = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:]}"
    eas_id = f"{g(64):016X}"
    band = rnd() * 100 - 20                  # _weighted over SDM_VERSIONS (20, 30, 50)
    if band < 0:
        manager = "11-00-02"
    else:
        band -= 30
        manager = "11-00-03" if band < 0 else "11-00-04"
    app_count, app_seed = apps_of(seed, mdm, hw, os_name, hasher)
    return {"os": os_name, "hw": hw, "manufacturer": maker, "model": model, "ram": ram, "os_version": os_version,
            "storage_total": storage, "cellular": cellular, "user_name": user_name, "login": login, "upn": upn,
            "email": upn, "user_id": user_id, "department": department, "serial": serial, "udid": udid,
            "imei": imei, "iccid": iccid, "imsi": imsi, "phone": phone, "carrier": carrier, "meid": "",
            "eth_mac": eth, "wifi_mac": wifi, "ip": ip, "device_name": name, "host_name": host,
            "enrolled": enrolled, "last_sync": last_sync, "storage_free": storage_free, "ram_free": ram_free,
            "sd_total": sd_total, "sd_free": sd_free, "jailbroken": jailbroken, "encrypted": encrypted,
            "supervised": supervised, "passcode": passcode, "compliance": compliance, "owner": owner,
            "security_patch": patch, "aad_id": aad_id, "eas_id": eas_id, "manager_version": manager,
            "app_count": app_count, "app_seed": app_seed}


# --- identifiers as each MDM reports them ---------------------------------------------------------------
# Graph and Core pass on what the device reports: Apple's DeviceInformation gives the IMEI as
# "35 445506 652132 5" and the ICCID in groups of four (Apple's device-management samples; SimpleMDM and
# Jamf API samples show the same), and phones show their number the way the SIM's country writes it.
# Undocumented for Android and for the phone number, so the harsher reading: every IMEI, MEID and ICCID
# grouped, and about half of the phone numbers with separators (docs/intune-graph-api.md). The SDM's
# contract says 15 digits and no hyphens: its devices keep the plain form.
GROUPED_IDS = {"intune": True, "mobileiron": True, "sdm": False}


def as_reported(prof: dict, grouped: bool) -> dict:
    """IMEI, MEID, ICCID and phone number in the form the MDM sends (changes and returns `prof`)."""
    for key, grouper in _GROUPERS:
        value = prof.get(key)
        if value:
            plain = _plain(value)
            prof[key] = grouper(plain) if grouped and plain else plain
    return prof


def _plain(value: str) -> str:
    """Back to the generated form: digits, a leading + kept (so as_reported can be applied again)."""
    if value.isdigit() or (value[0] == "+" and value[1:].isdigit()):
        return value
    digits = "".join(c for c in value if c.isdigit())
    return ("+" + digits if value.startswith("+") else digits) if digits else ""


def _grouped_imei(v: str) -> str:
    """TAC (2 + 6), serial (6), check digit: 35 391808 912345 6 (an MEID: the first three groups)."""
    return f"{v[:2]} {v[2:8]} {v[8:14]} {v[14:]}".rstrip() if len(v) > 8 else v


def _grouped_iccid(v: str) -> str:
    return " ".join([v[i:i + 4] for i in range(0, len(v), 4)])


def _grouped_phone(number: str) -> str:
    """Japanese mobiles as 090-1234-5678 / +81 90-1234-5678 for about half the numbers; else as is."""
    if number[-1] in "13579":
        return number
    if len(number) == 11 and number[0] == "0":
        return f"{number[:3]}-{number[3:7]}-{number[7:]}"
    if len(number) == 13 and number.startswith("+81"):
        return f"+81 {number[3:5]}-{number[5:9]}-{number[9:]}"
    return number


_GROUPERS = (("imei", _grouped_imei), ("meid", _grouped_imei), ("iccid", _grouped_iccid),
             ("phone", _grouped_phone))


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
