"""The device filter language of the console's ``/`` prompt and ``mdmtui devices list --filter``.

``os:iOS carrier:docomo stale:>30d security:jailbroken linkage:"Intune 本社" !missing:yes 高橋`` — words are
ANDed; a bare word is the free-text search, ``field:value`` a term of ``FIELDS``; ``"…"`` quotes spaces,
``!`` negates a word or a term. ``parse`` checks every field and value (a ``FilterError`` of one line
says what is wrong) and gives ``Term``s that ``services.inventory`` turns into SQL; ``format`` writes
terms back as text (``parse(format(t)) == t``). Pure: no database, no Textual.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mdmtui.errors import UsageError

OS_CLASSES = ("Si", "SA", "M", "IS", "IP")
SECURITY_VALUES = ("any", "unmanaged", "jailbroken", "passcode", "unencrypted", "stale")
YES, NO = ("yes", "y", "true", "1"), ("no", "n", "false", "0")


@dataclass(frozen=True)
class FieldSpec:
    """One field of the language: its kind decides which values (and comparisons) it takes."""

    name: str
    kind: str  # text | exact | os | version | age | yesno | security | id
    help: str
    aliases: tuple[str, ...] = ()


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("os", "os", "OS class (Si, SA, M, IS, IP) exactly, else part of the OS name (iOS, Android…)"),
    FieldSpec("osver", "version", "OS version: 17 (17 and 17.x), <17, >=16.4, <=14.2.1", ("os_version", "ver")),
    FieldSpec("model", "text", "part of the model"),
    FieldSpec("carrier", "text", "part of the carrier"),
    FieldSpec("linkage", "text", "part of the linkage name (=NAME: exactly that name)"),
    FieldSpec("user", "text", "part of the user name"),
    FieldSpec("status", "exact", "Device Status (Unknown, Warning…), any case"),
    FieldSpec("security", "security", "a security problem: any, unmanaged, jailbroken, passcode, unencrypted, "
              "stale", ("sec",)),
    FieldSpec("seen", "age", "last alive confirmation: <7d (within 7 days), >30d (longer ago); h, d, w"),
    FieldSpec("stale", "age", "not seen for longer than: >30d (the same as seen:>30d)"),
    FieldSpec("missing", "yesno", "missing from its MDM: yes or no"),
    FieldSpec("pending", "yesno", "an action not yet final: yes or no"),
    FieldSpec("serial", "text", "part of the serial number"),
    FieldSpec("imei", "text", "part of the IMEI/MEID, separators ignored"),
    FieldSpec("phone", "text", "part of the phone number, any form (E.164, national, dashes)"),
    FieldSpec("asset", "text", "part of the asset number (asset information)"),
    FieldSpec("dept", "text", "part of the department (asset information)", ("department",)),
    FieldSpec("software", "text", "has installed software whose name contains this", ("app",)),
    FieldSpec("id", "id", "exactly the device with this id"),
)
_BY_NAME = {name: spec for spec in FIELDS for name in (spec.name, *spec.aliases)}
_COMPARISONS = ("<=", ">=", "<", ">", "=")
_VERSION = re.compile(r"\d{1,9}(\.\d{1,9}){0,3}")  # numbers every database compares
_AGE = re.compile(r"(\d{1,5})([hdw]?)")
_AGE_HOURS = {"h": 1, "d": 24, "w": 24 * 7, "": 24}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class FilterError(UsageError):
    """The filter text cannot be read: one line saying what and where."""


@dataclass(frozen=True)
class Term:
    """One word of a filter: free text (``field`` None) or ``field`` ``op`` ``value``; ``negated``: ``!``."""

    value: str
    field: str | None = None
    op: str = ""  # "", "=", "<", ">", "<=", ">=" (only where the field's kind takes it)
    negated: bool = False

    @property
    def spec(self) -> FieldSpec | None:
        """The field's spec (None for free text)."""
        return _BY_NAME[self.field] if self.field else None

    def hours(self) -> int:
        """An age term's value in hours."""
        match = _AGE.fullmatch(self.value)
        if match is None:
            raise FilterError(f"{self.field}: '{self.value}' is not an age like 30d")
        number, unit = match.groups()
        return int(number) * _AGE_HOURS[unit]

    def flag(self) -> bool:
        """A yes/no term's value."""
        return self.value.lower() in YES

    def version(self) -> tuple[int, ...]:
        """A version term's value as numbers."""
        return tuple(int(p) for p in self.value.split("."))


def parse(text: str | None) -> tuple[Term, ...]:
    """The terms of a filter text, each checked; FilterError for anything that cannot be read."""
    terms = (_term(word, quoted, column) for word, quoted, column, _had in _words(text or ""))
    return tuple(t for t in terms if t is not None)


def parse_typing(text: str | None) -> tuple[tuple[Term, ...], str | None]:
    """``parse`` for text being typed: a last word still waiting for its value (``dept:``, ``osver:<``,
    a lone ``!``) is left out, with a hint saying what it takes; anything else unreadable: FilterError."""
    words = _words(text or "")
    hint = None
    if words and not words[-1][3] and _waiting(words[-1][0]):
        word = words.pop()[0]
        name = word.lstrip("!").partition(":")[0].lower()
        hint = f"{_BY_NAME[name].name}: {_BY_NAME[name].help}" if name in _BY_NAME else "! negates the next word"
    terms = (_term(word, quoted, column) for word, quoted, column, _had in words)
    return tuple(t for t in terms if t is not None), hint


def _waiting(word: str) -> bool:
    """An unquoted last word still waiting for its value: ``!``, ``dept:``, ``osver:<``."""
    if word == "!":
        return True
    name, sep, value = word.removeprefix("!").partition(":")
    return bool(sep) and name.lower() in _BY_NAME and value in ("", *_COMPARISONS)


def _words(text: str) -> list[tuple[str, list[bool], int, bool]]:
    """(word, which of its characters were quoted, 1-based column), split on blanks; ``"…"`` keeps blanks
    and makes ``:``, ``!`` and comparisons plain text; ``\\"`` is a quote inside quotes. The last item:
    the word had quotes (``dept:""`` is an empty value, not one still to come)."""
    words: list[tuple[str, list[bool], int, bool]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start, chars, mask, had_quote = i, [], [], False
        while i < n and not text[i].isspace():
            if text[i] != '"':
                chars.append(text[i])
                mask.append(False)
                i += 1
                continue
            opened, had_quote = i, True
            i += 1
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n and text[i + 1] in '"\\':
                    i += 1
                chars.append(text[i])
                mask.append(True)
                i += 1
            if i >= n:
                raise FilterError(f"unclosed quote at column {opened + 1}: end it with \"")
            i += 1
        words.append(("".join(chars), mask, start + 1, had_quote))
    return words


def _term(word: str, quoted: list[bool], column: int) -> Term | None:
    if _CONTROL.search(word):
        raise FilterError(f"control character in the filter at column {column}")
    if word == "!" and not quoted[0]:
        raise FilterError(f"! at column {column} negates the word right after it (\"!\" searches for a !)")
    negated = len(word) > 1 and word[0] == "!" and not quoted[0]
    if negated:
        word, quoted = word[1:], quoted[1:]
    colon = next((k for k, c in enumerate(word) if c == ":" and not quoted[k]), -1)
    name = word[:colon]
    if colon <= 0 or not re.fullmatch(r"[A-Za-z_]+", name) or any(quoted[:colon]):
        return Term(word, None, "", negated) if word else None
    spec = _BY_NAME.get(name.lower())
    if spec is None:
        raise FilterError(f"unknown field '{name}' (quote the word to search for it): use "
                          f"{', '.join(s.name for s in FIELDS)}")
    op, value = _split_op(word[colon + 1:], quoted[colon + 1:])
    return _checked(Term(value, spec.name, op, negated), spec)


def _split_op(value: str, quoted: list[bool]) -> tuple[str, str]:
    for op in _COMPARISONS:
        if value.startswith(op) and not any(quoted[:len(op)]):
            return op, value[len(op):]
    return "", value


def _checked(term: Term, spec: FieldSpec) -> Term:
    value, op, where = term.value, term.op, spec.name
    if not value.strip():
        raise FilterError(f"{where}: needs a value ({spec.help})")
    if spec.kind == "version":
        if not _VERSION.fullmatch(value):
            raise FilterError(f"{where}: '{value}' is not a version number like 17 or 16.4.1")
        return term
    if spec.kind == "age":
        if not _AGE.fullmatch(value.lower()) or op in {"=", "<=", ">="}:
            raise FilterError(f"{where}: '{op}{value}' is not an age like >30d or <12h")
        if spec.name == "stale" and op == "<":
            raise FilterError("stale: takes >Nd (not seen for longer than N days); for recent use seen:<Nd")
        return Term(value.lower(), spec.name, op or ">", term.negated)
    if op and not (op == "=" and spec.kind == "text"):
        raise FilterError(f"{where}: '{op}' compares only osver and seen/stale (text fields take =NAME)")
    if spec.kind == "yesno":
        if value.lower() not in YES + NO:
            raise FilterError(f"{where}: '{value}' is not yes or no")
        return Term("yes" if value.lower() in YES else "no", spec.name, "", term.negated)
    if spec.kind == "security":
        if value.lower() not in SECURITY_VALUES:
            raise FilterError(f"{where}: unknown problem '{value}': use {', '.join(SECURITY_VALUES)}")
        return Term(value.lower(), spec.name, "", term.negated)
    if spec.kind == "id" and not (value.isascii() and value.isdigit() and len(value) <= 18):
        raise FilterError(f"id: '{value}' is not a device id (a number)")
    if spec.kind == "os" and value.lower() in {c.lower() for c in OS_CLASSES}:
        return Term(next(c for c in OS_CLASSES if c.lower() == value.lower()), spec.name, "", term.negated)
    return term


def format(terms: tuple[Term, ...] | list[Term]) -> str:  # noqa: A001 - the inverse of parse
    """The filter text of ``terms`` (quoted where needed): ``parse(format(terms)) == terms``."""
    return " ".join(_format_term(t) for t in terms)


def _format_term(term: Term) -> str:
    value = term.value
    needs_quote = (not value or any(c.isspace() or c == '"' for c in value)
                   or (term.field is None and (":" in value or value.startswith("!")))
                   or (term.field is not None and value.startswith(_COMPARISONS)))
    if needs_quote:
        value = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    prefix = "!" if term.negated else ""
    if term.field is None:
        return prefix + value
    return f"{prefix}{term.field}:{term.op}{value}"


def clean(text: str) -> str:
    """The text without control characters (what the history keeps)."""
    return _CONTROL.sub("", text)


def help_lines() -> list[str]:
    """One line per field for help texts: ``name (aliases): what it matches``."""
    return [f"{s.name}{' (' + ', '.join(s.aliases) + ')' if s.aliases else ''}: {s.help}" for s in FIELDS]
