"""JSON text without json.dumps on the hot path: object templates with the constant members baked in.

A device page is a thousand objects of the same shape. Instead of building a dict per device and
encoding it, each service computes the JSON text of a device's variable values once ("fragments",
in a fixed order) and a Template renders the object a client asked for (a $select, a field list)
with one %-format. The text is exactly what `web.dumps` writes for the equivalent dict (compact
separators, non-ASCII kept); tests/sim/test_sim_fast_wire.py compares the two for many devices.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from json.encoder import encode_basestring as jstr   # the str encoder json.dumps(ensure_ascii=False) uses

__all__ = ["jstr", "jtext", "Template", "Member", "views_cache", "iso_day", "HHMM", "SSZ", "HHMM12"]


def jtext(value) -> str:
    """The JSON text of one value, as web.dumps writes it."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# (key, constant JSON text) or (key, index into the fragment list) or (key, (index,)): a fragment
# that is a string's content, quoted by the template (strings from escape-free sources only)
Member = tuple[str, "str | int | tuple[int]"]


class Template:
    """One JSON object: `render(fragments)` fills the variable members from a fragment list."""

    __slots__ = ("fmt", "_pick", "indices")

    def __init__(self, members: Sequence[Member]):
        parts: list[str] = []
        self.indices: list[int] = []
        for key, value in members:
            name = jstr(key).replace("%", "%%")
            if isinstance(value, int):
                parts.append(name + ":%s")
                self.indices.append(value)
            elif isinstance(value, tuple):
                parts.append(name + ':"%s"')
                self.indices.append(value[0])
            else:
                parts.append(name + ":" + value.replace("%", "%%"))
        self.fmt = "{" + ",".join(parts) + "}"
        idx = self.indices
        self._pick: Callable[[Sequence[str]], tuple[str, ...]]
        if len(idx) > 1:
            from operator import itemgetter
            self._pick = itemgetter(*idx)
        elif idx:
            i = idx[0]
            self._pick = lambda values: (values[i],)
        else:
            self._pick = lambda values: ()

    def render(self, fragments) -> str:
        """The object's JSON text."""
        return self.fmt % self._pick(fragments)


class views_cache(dict):
    """A small dict of compiled templates per request shape; cleared when clients ask for too many."""

    def __init__(self, build, limit: int = 256):
        super().__init__()
        self._build, self._limit, self._lock = build, limit, threading.Lock()

    def __missing__(self, key):
        view = self._build(key)
        with self._lock:
            if len(self) >= self._limit:
                self.clear()
            self[key] = view
        return view


_days: dict[int, str] = {}


def iso_day(day: int) -> str:
    """'YYYY-MM-DDT' of a day number since the epoch (memoised: a fleet's dates span a few years)."""
    text = _days.get(day)
    if text is None:
        if len(_days) > 50_000:
            _days.clear()
        text = _days[day] = time.strftime("%Y-%m-%dT", time.gmtime(day * 86_400))
    return text


HHMM = [f"{m // 60:02d}:{m % 60:02d}:" for m in range(1440)]                  # minute of the day -> 'HH:MM:'
SSZ = [f"{s:02d}Z" for s in range(60)]                                        # second -> 'SSZ'
HHMM12 = [f"{(m // 60) % 12 or 12:02d}:{m % 60:02d} {'AM' if m < 720 else 'PM'}" for m in range(1440)]  # strftime('%I:%M %p'), C locale
