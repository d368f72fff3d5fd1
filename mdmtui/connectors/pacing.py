"""Pacing: run at an MDM's request budget instead of into it.

One ``Pacer`` per linkage's HTTP layer. It sends freely until the MDM first says "too many" (a 429, or
429s inside a `$batch` answer); from then on requests leave at an adaptive rate:
- on the first throttle signal the rate becomes 95 % of what the MDM served over the last second; on
  later ones it drops to the lower of 85 % of itself and that served rate, but never below 70 % of itself
  in one step (a served rate also reads low when the collection paused); at most once per second, so the
  in-flight requests' 429s count as one signal;
- while refusals keep coming (an episode: no gap over half a second), the MDM is serving exactly its
  budget, so what it served since the episode began *is* the budget: after 0.3 s of it the rate is set
  to 95 % of that (at most halving it per probe). This is what ends the first burst quickly: the served rate of the
  first second includes the bucket's burst allowance (2,000 units at Intune), which is not a rate;
  a Retry-After holds every request of the linkage until it has passed, not only the refused one;
- every clean answer raises the rate by a small constant step (about +2 requests/s per second at
  100 answers/s), so it creeps back up to the budget and probes it again, seldom and gently.
Rates are in request units: a `$batch` of 20 costs 20 (Intune counts every item, MDM-APIS.md §1).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

DECREASE = 0.85         # multiplicative decrease on a throttle signal
FLOOR_SHARE = 0.7       # the most one signal may take off the rate
OBSERVED_SHARE = 0.95   # of the rate the MDM actually served
STEP = 0.02             # additive increase per clean unit (units/s)
COOLDOWN_S = 1.0        # one decrease per this long
PROBE_S = 0.3           # refusals all through this long: what was served in it is the budget
EPISODE_GAP_S = 0.5     # refusals further apart than this are separate episodes
PROBE_FLOOR_SHARE = 0.5  # the most one probe may take off the rate
WINDOW_S = 1.0          # how far back the served rate is measured (short: a burst soon leaves it)
MIN_RATE = 20.0         # never slower: 429s that come whatever the rate (a flaky proxy, fault bursts) must not
                        # starve a run; Intune allows 100 units/s, Core and the SDM publish no limit


def request_units(url: str, json_body: object) -> int:
    """What a request costs against the budget: one, or one per item of a JSON batch."""
    if urlsplit(url).path.endswith("/$batch") and isinstance(json_body, dict):
        items = json_body.get("requests")
        if isinstance(items, list):
            return max(1, len(items))
    return 1


def throttled_items(url: str, status: int, raw: bytes) -> tuple[int, float | None]:
    """(items refused with 429, their longest Retry-After) of a 200 `$batch` answer; (0, None) otherwise."""
    if status != 200 or not urlsplit(url).path.endswith("/$batch") or b"429" not in raw:
        return 0, None
    try:
        responses = json.loads(raw).get("responses")
    except (ValueError, AttributeError):
        return 0, None
    refused = [r for r in responses if isinstance(r, dict) and r.get("status") == 429] \
        if isinstance(responses, list) else []
    waits = [_seconds(r.get("headers")) for r in refused]
    return len(refused), max((w for w in waits if w is not None), default=None)


def _seconds(headers: object) -> float | None:
    if not isinstance(headers, dict):
        return None
    raw = next((v for k, v in headers.items() if str(k).lower() == "retry-after"), None)
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except (TypeError, ValueError):
        return None


class Pacer:
    """An adaptive send rate (units per second) for one linkage; None = not throttled yet."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.clock, self.sleep = clock, sleep
        self.rate: float | None = None
        self._last_sent, self._last_units = -1e9, 0   # the previous request sent: when, and its cost
        self._turn = asyncio.Lock()
        self._hold_until = 0.0           # Retry-After in force for every request
        self._last_decrease = -1e9
        self._served: deque[tuple[float, int]] = deque()   # (when, units) answered without throttling
        self._episode_start: float | None = None   # first refusal of the refusals still coming
        self._episode_served = 0                    # units served since then
        self._last_refusal = -1e9
        self.throttle_signals = 0

    @classmethod
    def for_sleep(cls, sleep: Callable[[float], Awaitable[None]] | None = None) -> Pacer:
        """A pacer on the real clock, or, with an injected sleep (tests that record waits instead of
        waiting), on a clock that the recorded waits move forward, so a wait already made counts."""
        if sleep is None:
            return cls()
        slept = [0.0]

        async def recorded(seconds: float) -> None:
            slept[0] += seconds
            await sleep(seconds)
        return cls(clock=lambda: time.monotonic() + slept[0], sleep=recorded)

    async def acquire(self, units: int = 1) -> None:
        """Wait until `units` may be sent at the current rate (and no Retry-After holds). Waiters go
        one at a time, in order, each re-reading the rate as it wakes, so a rate that rose while they
        waited lets them go sooner (slots are not fixed when a request queues)."""
        if self.rate is None and self.clock() >= self._hold_until:
            return
        async with self._turn:
            while True:
                now = self.clock()
                ready = max(self._hold_until, self._last_sent + self._last_units / self.rate if self.rate else now)
                if ready <= now:
                    break
                await self.sleep(min(ready - now, COOLDOWN_S))
            self._last_sent, self._last_units = now, units

    def observe(self, url: str, status: int, raw: bytes, retry_after: float | None, units: int) -> None:
        """Learn from one HTTP answer (the hook in http.py): a 429/503, or 429s inside a `$batch`."""
        refused, item_wait = throttled_items(url, status, raw)
        self.record(status, units, refused, retry_after if status in (429, 503) else item_wait)

    def record(self, status: int, units: int, refused_units: int = 0, retry_after: float | None = None) -> None:
        """Learn from one answer: `refused_units` of its `units` were throttled (all of them on a 429)."""
        now = self.clock()
        if status in (429, 503) and refused_units == 0:
            refused_units = units
        served = units - refused_units
        if served > 0:
            self._served.append((now, served))
            self._episode_served += served
            if self.rate is not None:
                self.rate += STEP * served
        self._trim(now)
        if refused_units:
            self._throttled(now, retry_after)

    def _throttled(self, now: float, retry_after: float | None) -> None:
        self.throttle_signals += 1
        if retry_after:
            self._hold_until = max(self._hold_until, now + retry_after)
        if self._episode_start is None or now - self._last_refusal > EPISODE_GAP_S:
            self._episode_start, self._episode_served = now, 0
        self._last_refusal = now
        span = now - self._episode_start
        if self.rate is not None and span >= PROBE_S and self._episode_served:
            # refused all through `span`: the MDM served its budget, no more (the burst allowance is spent);
            # at most halved per probe, as the client may itself have sent less for part of the span
            budget = self._episode_served / span * OBSERVED_SHARE
            if budget < self.rate:
                self.rate = max(MIN_RATE, self.rate * PROBE_FLOOR_SHARE, budget)
                self._last_decrease = now
            self._episode_start, self._episode_served = now, 0     # measure afresh from here
            return
        if now - self._last_decrease < COOLDOWN_S:
            return
        self._last_decrease = now
        observed = self._served_rate(now) * OBSERVED_SHARE
        if self.rate is None:            # right after a burst, what the MDM served is its budget
            self.rate = max(MIN_RATE, observed or MIN_RATE * 10)
            return
        # a served rate can also be low because the collection itself paused (staging a page):
        # it may pull the rate down to FLOOR_SHARE of itself, no further
        wanted = min(self.rate * DECREASE, observed) if observed else self.rate * DECREASE
        self.rate = max(MIN_RATE, self.rate * FLOOR_SHARE, wanted)

    def _trim(self, now: float) -> None:
        while self._served and now - self._served[0][0] > WINDOW_S:
            self._served.popleft()

    def _served_rate(self, now: float) -> float:
        # over the whole window, not since the first answer in it: answers come in clumps (a $batch
        # brings 20 units at once) and a short span would read a clump as a high rate
        return sum(u for _, u in self._served) / WINDOW_S
