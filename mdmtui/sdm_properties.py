"""Read, validate and write ``sdm_import.properties``: where each SDM linkage's database server is.

The file is UTF-8 ``Key=Value`` lines; for each natural number N, ``sdm.N.name`` names an SDM linkage,
``sdm.N.dbhost`` its database server and ``sdm.N.dbport`` the port (default 26066).

Java properties basics are followed where they matter: ``#`` and ``!`` start a comment line, whitespace
around the key and the separator is trimmed, and ``=`` or ``:`` separate key and value (whichever comes
first). Backslash escapes and line continuations are not interpreted: values are taken literally.

Choices where the spec is silent:
- N is written canonically (``1``, ``2``, ...): ``01`` is reported, because ``sdm.01.name`` and
  ``sdm.1.dbhost`` would otherwise be read differently by different readers.
- A duplicate key is reported; the later value wins, as in ``java.util.Properties``.
- ``sdm.N.dbhost`` is required (the spec gives it no default).
- Values are trimmed on both sides (Java keeps trailing spaces, which are invisible and never meant).
- A UTF-8 byte order mark is accepted and kept when writing.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import tempfile
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from mdmtui.errors import ConfigurationError
from mdmtui.formatting import clip

DEFAULT_DBPORT = 26066
MAX_HOST_NAME_LENGTH = 32
MAX_N_DIGITS = 9  # int() refuses 4,300 digits; no file has a billion entries
QUOTED_CHARS = 80
SUMMARY_PROBLEMS = 5  # listed in a one-line error message (`mdmtui sdm-properties check` lists more)  # of a key or value quoted in a problem message
FIELDS = ("name", "dbhost", "dbport")

_BOM = "\ufeff"
_NEWLINE = re.compile(r"\r\n|\r|\n")  # the line ends java.util.Properties knows, nothing more
_SEPARATOR = re.compile(r"[=:]")
_KEY = re.compile(r"sdm\.(?P<n>.*)\.(?P<field>name|dbhost|dbport)")
_NATURAL = re.compile(r"[1-9][0-9]*")
_HOST_CHAR = re.compile(r"[A-Za-z0-9.-]")
_IPV4_LIKE = re.compile(r"[0-9.]+")
_PORT = re.compile(r"[0-9]+")  # ASCII digits only: int() would also take '+1', ' 1', '1_0' or '١'


@dataclass(frozen=True)
class Problem:
    """One thing wrong in the file, at a line number (1-based)."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class SdmDbEntry:
    """The database server of one SDM linkage: the values of ``sdm.N.*``."""

    n: int
    name: str
    dbhost: str
    dbport: int = DEFAULT_DBPORT
    lines: Mapping[str, int] = field(default_factory=dict, compare=False)  # field -> line read from

    @property
    def first_line(self) -> int | None:
        """The first line of this entry in the file read, or None for a new entry."""
        return min(self.lines.values(), default=None)


@dataclass
class PropertiesReport:
    """What a file holds: its usable entries, its problems and the text read (for writing back)."""

    entries: list[SdmDbEntry]
    problems: list[Problem]
    text: str
    utf8: bool = True

    @property
    def ok(self) -> bool:
        """True when the file has no problem at all."""
        return not self.problems

    def for_linkage(self, name: str) -> SdmDbEntry | None:
        """The entry naming the SDM linkage ``name``, or None."""
        return next((e for e in self.entries if e.name == name), None)

    def problems_for(self, name: str) -> list[Problem]:
        """The problems that may concern linkage ``name``: all but those on lines of other entries.

        A stale or broken entry of another linkage must not stop this one's software collection;
        a problem on no ``sdm.N`` line (a stray line, a bad byte) may be about any entry.
        """
        lines = list(_slot_lines(self.text))
        slots = {line.number: n for line, n, _ in lines}
        mine = {n for line, n, field_ in lines if field_ == "name" and line.value == name}
        return [p for p in self.problems if slots.get(p.line) is None or slots[p.line] in mine]


@dataclass
class _Line:
    """One physical line; ``key`` set on key/value lines, ``slot`` on valid ``sdm.N.field`` keys."""

    number: int
    content: str
    newline: str
    key: str | None = None
    value: str = ""
    span: tuple[int, int] = (0, 0)  # where the value sits in content, for replacing it in place
    slot: tuple[int, str] | None = None

    def with_value(self, value: str) -> str:
        """The line's content with its value replaced, key and spacing kept."""
        start, end = self.span
        return self.content[:start] + value + self.content[end:]


@dataclass
class _Document:
    bom: bool
    lines: list[_Line]


# ------------------------------------------------------------------------------------------ reading


def load(path: str | os.PathLike[str], *,
         sdm_linkage_names: Collection[str] | None = None) -> PropertiesReport:
    """Read and check the file at ``path``; raises ConfigurationError when it cannot be read."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return parse(data, sdm_linkage_names=sdm_linkage_names)


def parse(source: str | bytes, *,
          sdm_linkage_names: Collection[str] | None = None) -> PropertiesReport:
    """Check the file's text; linkage names are checked only when ``sdm_linkage_names`` is given."""
    problems: list[Problem] = []
    if isinstance(source, bytes):
        text, bad = _decode(source)
        problems.extend(bad)
        utf8 = not bad
    else:
        text, utf8 = source, True
    doc = _read_document(text)
    slots = _read_slots(doc, problems)
    entries = _build_entries(slots, problems)
    if sdm_linkage_names is not None:
        _check_linkage_names(entries, sdm_linkage_names, problems)
    _check_linkages_unique(entries, problems)
    problems.sort(key=lambda p: p.line)  # stable: problems of one line keep their order
    return PropertiesReport(entries=entries, problems=problems, text=text, utf8=utf8)


def summary(problems: list[Problem], shown: int = SUMMARY_PROBLEMS) -> str:
    """The first problems on one line, then how many more: for messages that must stay short."""
    text = "; ".join(str(p) for p in problems[:shown])
    return text + (f"; and {len(problems) - shown:,} more" if len(problems) > shown else "")


def _q(value: str, limit: int = QUOTED_CHARS) -> str:
    """A value as a problem message quotes it: a 10 MB line must not make a 10 MB message."""
    return clip(value, limit)


def _decode(data: bytes) -> tuple[str, list[Problem]]:
    """Decode UTF-8; on a bad byte report its line and go on, so the other problems show too."""
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        before = data[:exc.start].decode("utf-8")
        line = len(_NEWLINE.findall(before)) + 1
        column = len(_NEWLINE.split(before)[-1]) + 1
        message = (f"not valid UTF-8 (byte 0x{data[exc.start]:02X} at column {column}); "
                   "save the file as UTF-8")
        return data.decode("utf-8", errors="replace"), [Problem(line, message)]


def _read_document(text: str) -> _Document:
    bom = text.startswith(_BOM)
    parts = _NEWLINE.split(text[1:] if bom else text)
    ends = _NEWLINE.findall(text) + [""]
    if parts[-1] == "":  # the text ends with a line end: no further line
        parts, ends = parts[:-1], ends[:-1]
    lines = [_read_line(i + 1, content, end) for i, (content, end) in enumerate(zip(parts, ends))]
    return _Document(bom=bom, lines=lines)


def _read_line(number: int, content: str, newline: str) -> _Line:
    line = _Line(number, content, newline)
    stripped = content.strip(" \t\f")
    if not stripped or stripped[0] in "#!":
        return line
    sep = _SEPARATOR.search(content)
    if sep is None:
        line.key = ""  # a key/value line without a separator: reported later
        return line
    raw = content[sep.end():]
    start = sep.end() + len(raw) - len(raw.lstrip(" \t\f"))
    end = len(content) - (len(raw) - len(raw.rstrip(" \t\f")))
    line.key = content[:sep.start()].strip(" \t\f")
    line.span = (start, max(start, end))
    line.value = content[line.span[0]:line.span[1]]
    return line


def _read_slots(doc: _Document, problems: list[Problem]) -> dict[int, dict[str, _Line]]:
    """Group valid ``sdm.N.field`` lines by N; the later of duplicate keys wins."""
    slots: dict[int, dict[str, _Line]] = {}
    for line in doc.lines:
        if line.key is None:
            continue
        message = _key_problem(line)
        if message:
            problems.append(Problem(line.number, message))
            continue
        n, name = line.slot  # type: ignore[misc]  # set by _key_problem when there is no problem
        earlier = slots.setdefault(n, {}).get(name)
        if earlier is not None:
            problems.append(Problem(line.number, f"{_q(line.key)}: duplicate key, also on line "
                                                 f"{earlier.number}; this later value wins"))
        slots[n][name] = line
    return slots


def _key_problem(line: _Line) -> str | None:
    """What is wrong with the line's key, or None (then ``line.slot`` is set)."""
    key = line.key or ""
    if not key:
        return f"'{_q(line.content.strip(), 40)}' is not a Key=Value line (start a comment with '#')"
    match = _KEY.fullmatch(key)
    if match is None:
        return _unknown_key(key)
    n = match["n"]
    if not _NATURAL.fullmatch(n):
        zeros = " without leading zeros" if _PORT.fullmatch(n) and n.strip("0") else ""
        return f"{_q(key)}: N must be a natural number (1, 2, 3, ...){zeros}, got '{_q(n)}'"
    if len(n) > MAX_N_DIGITS:
        return f"{_q(key)}: N is too large (at most {MAX_N_DIGITS} digits)"
    line.slot = (int(n), match["field"])
    return None


def _unknown_key(key: str) -> str:
    hint = "expected sdm.N.name, sdm.N.dbhost or sdm.N.dbport"
    if _KEY.fullmatch(key.lower()):
        hint = f"keys are case-sensitive: write {_q(key.lower())}"
    return f"{_q(key)}: unknown key ({hint})"


def _build_entries(slots: dict[int, dict[str, _Line]],
                   problems: list[Problem]) -> list[SdmDbEntry]:
    entries = []
    for n in sorted(slots):
        entry = _build_entry(n, slots[n], problems)
        if entry is not None:
            entries.append(entry)
    return entries


def _build_entry(n: int, lines: dict[str, _Line], problems: list[Problem]) -> SdmDbEntry | None:
    """One entry from its lines, or None when a value is missing or unreadable (reported)."""
    first = min(line.number for line in lines.values())
    name, host, port = lines.get("name"), lines.get("dbhost"), lines.get("dbport")
    usable = True
    if name is None:
        problems.append(Problem(first, f"sdm.{n}: entry has no sdm.{n}.name "
                                       "(the MDM settings name of its SDM linkage)"))
        usable = False
    elif not name.value:
        problems.append(Problem(name.number, f"sdm.{n}.name: the name is empty"))
    if host is None:
        problems.append(Problem(first, f"sdm.{n}: entry has no sdm.{n}.dbhost "
                                       "(IP address or host name of the SDM database server)"))
        usable = False
    elif message := check_dbhost(host.value):
        problems.append(Problem(host.number, f"sdm.{n}.dbhost: {message}"))
    dbport = DEFAULT_DBPORT
    if port is not None:
        if message := check_dbport(port.value):
            problems.append(Problem(port.number, f"sdm.{n}.dbport: {message}"))
        if _PORT.fullmatch(port.value):
            dbport = _number(port.value)
        else:
            usable = False  # no number to carry; keep the lines as they are when writing
    if name is None or host is None or not usable:
        return None
    return SdmDbEntry(n=n, name=name.value, dbhost=host.value, dbport=dbport,
                      lines={f: line.number for f, line in lines.items()})


def check_dbhost(value: str) -> str | None:
    """Why ``value`` is not a usable IP address or host name, or None when it is."""
    if not value:
        return "the host is empty"
    try:
        ipaddress.ip_address(value)
        return None
    except ValueError:
        pass
    if _IPV4_LIKE.fullmatch(value):
        return f"'{_q(value)}' is not a valid IPv4 address"
    if ":" in value:
        return f"'{_q(value)}' is not a valid IPv6 address"
    if len(value) > MAX_HOST_NAME_LENGTH:
        return (f"host name '{_q(value)}' is {len(value):,} characters long; "
                f"at most {MAX_HOST_NAME_LENGTH} are allowed")
    bad = sorted({c for c in value if not _HOST_CHAR.fullmatch(c)})
    if bad:
        shown = ", ".join(f"'{c}'" for c in bad)
        return (f"host name '{value}' contains {shown}; "
                "use only letters, digits, hyphens (-) and dots (.)")
    return _label_problem(value)


def _label_problem(value: str) -> str | None:
    labels = value.split(".")
    if any(not label for label in labels):
        return f"host name '{value}' has an empty part between dots"
    if any(label[0] == "-" or label[-1] == "-" for label in labels):
        return f"host name '{value}' has a part starting or ending with a hyphen"
    return None


def check_dbport(value: str) -> str | None:
    """Why ``value`` is not a usable port number, or None when it is."""
    if not value:
        return f"the port is empty; remove the line to use the default {DEFAULT_DBPORT}"
    if not _PORT.fullmatch(value):
        return f"port '{_q(value)}' is not a number"
    if not 1 <= _number(value) <= 65535:
        return f"port {_q(value.lstrip('0') or '0')} is out of range (1-65535)"
    return None


def _number(digits: str) -> int:
    """ASCII digits as a number; past 5 significant digits only "too big" matters (int() refuses 4,300+)."""
    significant = digits.lstrip("0")
    return int(significant[:6] or "0")


def _check_linkage_names(entries: list[SdmDbEntry], names: Collection[str],
                         problems: list[Problem]) -> None:
    known = list(names)
    for entry in entries:
        if entry.name and entry.name not in known:
            problems.append(Problem(entry.lines["name"],
                                    f"sdm.{entry.n}.name: {_unknown_linkage(entry.name, known)}"))


def _unknown_linkage(name: str, known: list[str]) -> str:
    message = f"no SDM linkage is named '{_q(name)}'"
    if not known:
        return message + " (there are no SDM linkages)"
    folded = [k for k in known if k.casefold() == name.casefold()]  # names are case-sensitive
    close = folded or difflib.get_close_matches(name, known, n=1, cutoff=0.8)
    return message + (f"; did you mean '{_q(close[0])}'?" if close else "")


def _check_linkages_unique(entries: list[SdmDbEntry], problems: list[Problem]) -> None:
    seen: dict[str, SdmDbEntry] = {}
    for entry in sorted(entries, key=lambda e: e.lines["name"]):
        first = seen.setdefault(entry.name, entry)
        if first is not entry and entry.name:
            problems.append(Problem(entry.lines["name"],
                                    f"sdm.{entry.n}.name: linkage '{_q(entry.name)}' is already named "
                                    f"by sdm.{first.n} (line {first.lines['name']})"))


def _slot_lines(text: str) -> Iterator[tuple[_Line, int, str]]:
    """(line, N, field) of every line with a valid ``sdm.N.field`` key."""
    for line in _read_document(text).lines:
        match = _KEY.fullmatch(line.key or "")
        if match and _NATURAL.fullmatch(match["n"]) and len(match["n"]) <= MAX_N_DIGITS:
            yield line, int(match["n"]), match["field"]


# ------------------------------------------------------------------------------------------ writing


def rename_linkage(path: str | os.PathLike[str], old: str, new: str) -> int | None:
    """Make the entry naming linkage ``old`` name ``new`` (all else kept); its N, or None if none names it."""
    report = _for_rewrite(path)
    entry = report.for_linkage(old) if report else None
    if report is None or entry is None:
        return None
    _rewrite(path, [replace(e, name=new) if e is entry else e for e in report.entries], report.text)
    return entry.n


def remove_linkage(path: str | os.PathLike[str], name: str) -> int | None:
    """Drop the entry naming linkage ``name`` (its lines only); its N, or None if none names it."""
    report = _for_rewrite(path)
    entry = report.for_linkage(name) if report else None
    if report is None or entry is None:
        return None
    _rewrite(path, [e for e in report.entries if e is not entry], report.text)
    return entry.n


def _for_rewrite(path: str | os.PathLike[str]) -> PropertiesReport | None:
    """The file's report for rewriting it, None when there is no file; refuses text it cannot keep."""
    if not Path(path).exists():
        return None
    report = load(path)
    if not report.utf8:  # writing back the decoded text would replace the admin's bytes
        raise ConfigurationError(f"cannot update {path}: it is not valid UTF-8 (`mdmtui sdm-properties check` "
                                 "shows where); nothing was changed")
    return report


def _rewrite(path: str | os.PathLike[str], entries: list[SdmDbEntry], text: str) -> None:
    try:
        write(path, entries, original_text=text)
    except OSError as exc:
        raise ConfigurationError(f"cannot write {path}: {exc.strerror or exc}; nothing was changed") from exc


def write(path: str | os.PathLike[str], entries: Iterable[SdmDbEntry],
          original_text: str | None = None) -> None:
    """Write ``entries`` to ``path`` atomically, keeping the original's comments, order and layout."""
    data = render(entries, original_text).encode("utf-8")
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if target.exists():
            os.chmod(tmp, target.stat().st_mode & 0o7777)  # keep the admin's permissions
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def render(entries: Iterable[SdmDbEntry], original_text: str | None = None) -> str:
    """The file text for ``entries``: changed values replaced in place, new entries appended in a
    block, removed entries' lines dropped; everything else of ``original_text`` kept byte for byte.

    Lines not part of a readable entry (unknown keys, incomplete entries) are kept as they are.
    """
    wanted = _entries_by_n(entries)
    text = original_text or ""
    doc = _read_document(text)
    known = {e.n for e in _build_entries(_read_slots(doc, []), [])}  # sets each line's slot too
    newline = _first_newline(text)
    out = _rewrite_lines(doc, wanted, known)
    _insert_missing_fields(out, wanted, newline)
    present = {n for _, _, n in out if n is not None}
    out += [(line, newline, e.n) for e in wanted.values() if e.n not in present
            for line in _entry_lines(e, new=True)]
    return (_BOM if doc.bom else "") + _join(out, newline)


_Out = list[tuple[str, str, int | None]]  # content, line end, N of the entry the line belongs to


def _entries_by_n(entries: Iterable[SdmDbEntry]) -> dict[int, SdmDbEntry]:
    wanted: dict[int, SdmDbEntry] = {}
    for entry in sorted(entries, key=lambda e: e.n):
        if entry.n < 1 or entry.n in wanted:
            raise ConfigurationError(f"sdm.{entry.n}: N must be a natural number used only once")
        for name, value in _field_values(entry).items():
            if value != value.strip(" \t\f") or "\r" in value or "\n" in value:
                raise ConfigurationError(f"sdm.{entry.n}.{name}: the value cannot start or end "
                                         "with spaces or contain a line break")
        wanted[entry.n] = entry
    return wanted


def _field_values(entry: SdmDbEntry) -> dict[str, str]:
    return {"name": entry.name, "dbhost": entry.dbhost, "dbport": str(entry.dbport)}


def _rewrite_lines(doc: _Document, wanted: dict[int, SdmDbEntry], known: set[int]) -> _Out:
    last = {line.slot: line.number for line in doc.lines if line.slot}  # the value that counts
    out: _Out = []
    for line in doc.lines:
        if line.slot is None:
            out.append((line.content, line.newline, None))
            continue
        n, name = line.slot
        if n not in wanted:
            if n not in known:  # not an entry we read (incomplete): not ours to remove
                out.append((line.content, line.newline, None))
            continue
        content = line.content
        if last[line.slot] == line.number and not _same_value(line, wanted[n], name):
            content = line.with_value(_field_values(wanted[n])[name])
        out.append((content, line.newline, n))
    return out


def _same_value(line: _Line, entry: SdmDbEntry, name: str) -> bool:
    if name == "dbport":  # '026066' still means 26066: leave the admin's spelling alone
        return bool(_PORT.fullmatch(line.value)) and _number(line.value) == entry.dbport
    return line.value == _field_values(entry)[name]


def _insert_missing_fields(out: _Out, wanted: dict[int, SdmDbEntry], newline: str) -> None:
    """Add fields an existing entry lacks right after its last line."""
    for n in sorted(wanted, reverse=True):  # bottom up, so earlier indexes stay valid
        indexes = [i for i, (_, _, owner) in enumerate(out) if owner == n]
        if not indexes:
            continue
        have = {_key_field(out[i][0]) for i in indexes}
        missing = [line for line in _entry_lines(wanted[n], new=False)
                   if _key_field(line) not in have]
        at = indexes[-1] + 1
        out[at:at] = [(line, newline, n) for line in missing]


def _key_field(content: str) -> str:
    key = _SEPARATOR.split(content, maxsplit=1)[0].strip(" \t\f")
    match = _KEY.fullmatch(key)
    return match["field"] if match else ""


def _entry_lines(entry: SdmDbEntry, *, new: bool) -> list[str]:
    """Lines for the entry; a new entry states its port, an existing one only a non-default port."""
    values = _field_values(entry)
    if not new and entry.dbport == DEFAULT_DBPORT:
        del values["dbport"]
    return [f"sdm.{entry.n}.{name}={value}" for name, value in values.items()]


def _first_newline(text: str) -> str:
    match = _NEWLINE.search(text)
    return match.group() if match else "\n"


def _join(out: _Out, newline: str) -> str:
    parts = []
    for i, (content, end, _) in enumerate(out):
        if not end and i < len(out) - 1:  # the old last line had no line end; now lines follow it
            end = newline
        parts.append(content + end)
    return "".join(parts)
