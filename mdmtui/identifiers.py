"""Device identifiers and phone numbers in one canonical form, so matching never depends on separators.

MDMs send the same IMEI as ``353918089123456`` (the SDM) or ``35 391808 912345 6`` (Graph and Core,
as Apple devices report it), ICCIDs in groups of four, phone numbers as ``+819012345678``,
``09012345678`` or ``090-1234-5678``. Storage keeps IMEI/MEID/ICCID without separators; phone
numbers are kept as the MDM sent them (that is what the admin sees in the MDM's own console) and
compared, searched and looked up through their E.164 and national forms.

Numbers in national form (a leading ``0``) are read as Japanese (``+81``): mdmtui's fleets are.
"""

from __future__ import annotations

import re
from typing import Any

COUNTRY_CODE = "81"  # the country a national-form number (leading 0) belongs to
TRUNK_PREFIX = "0"
_SEPARATORS = re.compile(r"[\s\-./()]+")
_HEX = re.compile(r"[0-9A-F]+")
_PHONE_LIKE = re.compile(r"\+?[\d\s\-./()]*\d[\d\s\-./()]*")
_NON_DIGITS = re.compile(r"\D")
_DROP_SEPARATORS = str.maketrans("", "", " \t\u3000-./()")  # the fast path of _SEPARATORS (hot: every device)
MIN_NATIONAL_DIGITS = 9  # a bare national significant number shorter than this names no phone


def hardware_id(value: Any) -> str | None:
    """IMEI, MEID or ICCID without separators (hex MEIDs upper-cased); None for blank or all zeros.

    A value that is not digits (or hex) once the separators are gone is kept as the MDM sent it,
    trimmed: better an odd value on screen than a guessed one.
    """
    if value is None:
        return None
    raw = str(value).strip()
    compact = raw.translate(_DROP_SEPARATORS).upper()
    if not compact.isalnum():
        compact = _SEPARATORS.sub("", compact)
    if not compact:
        return None
    if not _HEX.fullmatch(compact):
        return raw
    return None if not compact.strip("0") else compact


def strip_separators(text: str) -> str:
    """The text without spaces, dashes, dots, slashes and parentheses."""
    return _SEPARATORS.sub("", text)


def looks_like_number(text: str) -> bool:
    """True for what an admin types as an identifier or phone: digits, separators, a leading +."""
    return bool(_PHONE_LIKE.fullmatch(text.strip()))


def e164(value: Any) -> str | None:
    """``+819012345678`` for any form of a phone number; None when the number's country is unknown."""
    if value is None:
        return None
    raw = str(value).strip()
    digits = raw.translate(_DROP_SEPARATORS).lstrip("+")
    if not digits.isdigit():
        digits = _NON_DIGITS.sub("", raw)
    if not digits:
        return None
    if raw.startswith("+"):
        return "+" + digits
    if digits.startswith(TRUNK_PREFIX) and not digits.startswith(TRUNK_PREFIX * 2):
        return f"+{COUNTRY_CODE}{digits[1:]}"
    return None


def national(value: Any) -> str | None:
    """``09012345678`` for a number of the home country (see COUNTRY_CODE), else None."""
    return _national_of(e164(value))


def _national_of(canonical: str | None) -> str | None:
    prefix = "+" + COUNTRY_CODE
    if canonical is None or not canonical.startswith(prefix):
        return None
    return TRUNK_PREFIX + canonical[len(prefix):]


def phone_key(value: Any) -> str | None:
    """What two phone numbers are compared by: E.164 when known, else the bare digits."""
    if value is None:
        return None
    canonical = e164(value)
    if canonical is not None:
        return canonical
    return _NON_DIGITS.sub("", str(value)) or None


def phone_matches(typed: str, stored: Any) -> bool:
    """True when the typed number names the stored one (any form; a bare national number too)."""
    key, mine = phone_key(typed), phone_key(stored)
    if key is None or mine is None:
        return False
    if key == mine:
        return True
    bare = _NON_DIGITS.sub("", typed)
    significant = national(stored)
    return (len(bare) >= MIN_NATIONAL_DIGITS and not typed.strip().startswith(("+", TRUNK_PREFIX))
            and significant is not None and significant[1:] == bare)


def phone_forms(value: Any) -> list[str]:
    """Every form the device list's search should find a phone number by (as sent, E.164, national)."""
    raw = "" if value is None else str(value).strip()
    if not raw:
        return []
    canonical = e164(raw)
    forms = [raw]
    for form in (canonical, _national_of(canonical), raw.translate(_DROP_SEPARATORS)):
        if form and form not in forms:
            forms.append(form)
    return forms


def search_needles(text: str) -> list[str]:
    """What a typed search term is looked for as: itself, and without separators when it is a number."""
    needles = [text]
    if looks_like_number(text):
        compact = strip_separators(text)
        if compact and compact != text:
            needles.append(compact)
    return needles

