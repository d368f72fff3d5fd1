"""Identifier generators: Luhn-valid IMEIs and ICCIDs, IMSIs, MACs, phone numbers, GUIDs."""

from __future__ import annotations

import builtins
import hashlib
import random

# (carrier name, MCC+MNC for the IMSI, ICCID issuer digits after "89", country code)
CARRIERS_JP = [
    ("NTT docomo", "44010", "8110", "81"),
    ("KDDI", "44050", "8130", "81"),
    ("au", "44051", "8130", "81"),
    ("SoftBank", "44020", "8120", "81"),
    ("Rakuten Mobile", "44011", "8140", "81"),
]
CARRIERS_OTHER = [
    ("Verizon", "311480", "1480", "1"),
    ("T-Mobile", "310260", "1260", "1"),
    ("Vodafone", "23415", "4415", "44"),
    ("Deutsche Telekom", "26201", "4901", "49"),
]

# GSMA type allocation codes (first 8 IMEI digits) by manufacturer; real-looking prefixes.
TACS = {
    "Apple": ["35325211", "35391110", "35674108", "35899911"],
    "Samsung": ["35216411", "35892710", "35420112"],
    "Google": ["35846811", "35309511"],
    "Sony": ["35392911"],
    "Sharp": ["35826310"],
    "Kyocera": ["35395710"],
    "FCNT": ["35456911"],
}


_blake2b = hashlib.blake2b


def stable_int(*parts: object) -> int:
    """A 64-bit integer hash of the parts, stable across processes (unlike hash())."""
    data = ":".join(str(p) for p in parts).encode()
    return int.from_bytes(_blake2b(data, digest_size=8).digest(), "big")


class Hasher:
    """stable_int(*prefix, n, tag) with the prefix encoded once: the per-device hashes of every page."""

    def __init__(self, *prefix: object):
        self.prefix = (":".join(str(p) for p in prefix) + ":").encode()

    def int(self, n: int, tag: str = "") -> int:
        """stable_int(*prefix, n) or, with a tag, stable_int(*prefix, n, tag)."""
        data = self.prefix + (b"%d:%s" % (n, tag.encode()) if tag else b"%d" % n)
        return int.from_bytes(_blake2b(data, digest_size=8).digest(), "big")

    def hex(self, n: builtins.int, tag: str) -> str:  # builtins: `int` here is the method above
        """f"{stable_int(*prefix, n, tag):016x}"."""
        return _blake2b(self.prefix + b"%d:%s" % (n, tag.encode()), digest_size=8).hexdigest()


# digit -> its Luhn contribution when doubled
_DOUBLED = {str(d): 2 * d - 9 if 2 * d > 9 else 2 * d for d in range(10)}
_SINGLE = {str(d): d for d in range(10)}


def luhn_digit(body: str) -> str:
    """The Luhn check digit for a string of digits."""
    rev = body[::-1]
    try:
        total = sum(map(_DOUBLED.__getitem__, rev[::2])) + sum(map(_SINGLE.__getitem__, rev[1::2]))
    except KeyError:                    # not plain ASCII digits: the general rule below
        return _luhn_digit_slow(body)
    return str((10 - total % 10) % 10)


def _luhn_digit_slow(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_ok(number: str) -> bool:
    """True when the digit string passes the Luhn check."""
    return number.isdigit() and luhn_digit(number[:-1]) == number[-1]


def imei(r: random.Random, manufacturer: str) -> str:
    """A 15-digit Luhn-valid IMEI with a TAC of the manufacturer."""
    tac = r.choice(TACS.get(manufacturer, TACS["Samsung"]))
    body = tac + f"{r.randrange(10**6):06d}"
    return body + luhn_digit(body)


def iccid(r: random.Random, issuer: str) -> str:
    """A 19-digit ICCID starting 89, ending with a Luhn check digit (some issuers use 20)."""
    length = 19 if r.random() < 0.8 else 20
    body = "89" + issuer
    k = length - 1 - len(body)
    body += f"{r.randrange(10**k):0{k}d}"
    return body + luhn_digit(body)


def imsi(r: random.Random, plmn: str) -> str:
    """A 15-digit IMSI: MCC+MNC then the subscriber number."""
    k = 15 - len(plmn)
    return plmn + f"{r.randrange(10**k):0{k}d}"


def phone(r: random.Random, country: str) -> str:
    """A phone number: Japanese mobiles as +8190xxxxxxxx or 090xxxxxxxx; others E.164."""
    if country == "81":
        number = r.choice(["70", "80", "90"]) + f"{r.randrange(10**8):08d}"
        return "+81" + number if r.random() < 0.6 else "0" + number   # SIMs report either form
    return "+" + country + f"{r.randrange(10**9, 10**10)}"


def mac(r: random.Random) -> str:
    """A unicast, globally administered MAC as 12 upper-case hex digits."""
    first = r.randrange(256) & 0xFC
    rest = r.getrandbits(40)
    return f"{first:02X}{rest:010X}"


def colon_mac(bare: str) -> str:
    """'A1B2C3D4E5F6' -> 'a1:b2:c3:d4:e5:f6' (MobileIron and SDM style)."""
    return ":".join(bare[i:i + 2] for i in range(0, 12, 2)).lower() if bare else bare


def guid(r: random.Random) -> str:
    """A random version-4 GUID from the given RNG."""
    h = f"{r.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:]}"


def udid(r: random.Random, modern: bool) -> str:
    """An Apple UDID: 40 hex digits on old devices, 8-16 form on A12 and later."""
    if modern:
        return f"{r.getrandbits(32):08X}-{r.getrandbits(64):016X}"
    return f"{r.getrandbits(160):040x}"


class SlotIds:
    """Invertible GUIDs for fleet slots: the last 12 hex digits encode the slot (scrambled, seeded)."""

    _MOD = 1 << 48
    _MUL = 0x9E3779B97F4B & ((1 << 48) - 1) | 1        # odd, so invertible modulo 2**48
    _INV = pow(_MUL, -1, 1 << 48)

    def __init__(self, seed: int, mdm: str):
        self._salt = (seed, mdm)
        self._hash = Hasher(seed, mdm)
        self._mask = stable_int(seed, mdm, "mask") & 0xFFFFFFFFFFFF

    def id_of(self, slot: int) -> str:
        """The GUID of a slot."""
        h = self._hash.hex(slot, "a") + self._hash.hex(slot, "b")
        tail = ((slot * self._MUL) % self._MOD) ^ self._mask      # scrambled so ids do not look sequential
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{tail:012x}"

    def slot_of(self, ident: str) -> int | None:
        """The slot of a GUID this object issued, else None."""
        try:
            slot = ((int(ident[-12:], 16) ^ self._mask) * self._INV) % self._MOD
        except ValueError:
            return None
        return slot if len(ident) == 36 and self.id_of(slot) == ident.lower() else None
