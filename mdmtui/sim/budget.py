"""Request budgets: Intune's token buckets (per app per tenant, per tenant) and request counters.

Intune's device service allows 2,000 requests per 20 s per app per tenant and 4,000 per 20 s per tenant
for all apps (MDM-APIS.md §1); each request inside a `$batch` counts on its own. Modelled as two token
buckets (capacity = the limit, refilled evenly over the window): a request takes one token from each,
and is answered 429 when either is empty. Where Microsoft is silent we chose the harsher reading:
- a burst may use the whole limit at once, but the refill is spread evenly (no fixed-window reset that
  would let 4,000 through across a boundary);
- the `$batch` envelope is not a request of the device service; every item in it is;
- a throttled request takes no token (it was not carried out) but is counted as a 429 answered;
- every `without_retry_after`-th 429 carries no Retry-After (Graph does that; clients must back off on
  their own). Retry-After is in whole seconds at the real scale; a scaled budget (window under 10 s)
  answers in tenths of a second so a scaled benchmark is not dominated by rounding.
MobileIron Core and the SDM publish no limit: their requests are only counted.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class BudgetLimits:
    """Intune's limits; `scaled(0.1)` keeps the rate and shrinks the burst (200 per 2 s)."""

    app_limit: int = 2000
    tenant_limit: int = 4000
    window_s: float = 20.0
    without_retry_after: int = 5          # every n-th 429 has no Retry-After header (0: always one)

    def scaled(self, factor: float) -> BudgetLimits:
        """The same rate over a window `factor` times as long, with `factor` times the burst."""
        return BudgetLimits(max(1, round(self.app_limit * factor)), max(1, round(self.tenant_limit * factor)),
                            self.window_s * factor, self.without_retry_after)

    @property
    def app_rate(self) -> float:
        """Request units per second one app may spend in the long run."""
        return self.app_limit / self.window_s


class Bucket:
    """A token bucket: `capacity` tokens, refilled at `rate` per second."""

    def __init__(self, capacity: float, rate: float, clock=time.monotonic):
        self.capacity, self.rate, self.clock = capacity, rate, clock
        self.tokens, self.stamp = float(capacity), clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_for_one(self) -> float:
        """Seconds until one token is there (0 when one is there now)."""
        self._refill()
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        """Spend one token (call after wait_for_one() said 0)."""
        self.tokens -= 1


class Meter:
    """Requests answered per MDM, and for Intune the request units spent and the 429s answered."""

    def __init__(self, limits: BudgetLimits | None = None, clock=time.monotonic):
        self.lock = threading.Lock()
        self.clock = clock
        self.limits = limits
        self.requests: dict[str, int] = {}
        self.kinds: dict[str, dict[str, int]] = {}    # mdm -> request kind (route name) -> answered
        self.units = self.throttled = 0
        self._buckets: dict[str, Bucket] = {}
        self._tenant: Bucket | None = None
        self.configure(limits)

    def configure(self, limits: BudgetLimits | None) -> None:
        """New limits (None: Intune unthrottled); the buckets start full."""
        with self.lock:
            self.limits = limits
            self._buckets = {}
            self._tenant = None if limits is None else Bucket(limits.tenant_limit,
                                                               limits.tenant_limit / limits.window_s, self.clock)

    def reset(self) -> None:
        """Zero the counters (the limits and the buckets' fill stay)."""
        with self.lock:
            self.requests, self.kinds, self.units, self.throttled = {}, {}, 0, 0

    def count(self, mdm: str, kind: str | None = None) -> None:
        """One HTTP request answered by an MDM's port, of `kind` (its route's name, or a finer one the
        handler chose, e.g. MobileIron's search by one uuid)."""
        with self.lock:
            self.requests[mdm] = self.requests.get(mdm, 0) + 1
            if kind is not None:
                kinds = self.kinds.setdefault(mdm, {})
                kinds[kind] = kinds.get(kind, 0) + 1

    def spend(self, app: str) -> dict | None:
        """One Intune request unit for `app`: None when allowed, else the 429's headers."""
        with self.lock:
            tenant = self._tenant  # None exactly when the limits are (configure sets both)
            if self.limits is None or tenant is None:
                self.units += 1
                return None
            bucket = self._buckets.get(app)
            if bucket is None:
                bucket = self._buckets[app] = Bucket(self.limits.app_limit, self.limits.app_rate, self.clock)
            wait = max(bucket.wait_for_one(), tenant.wait_for_one())
            if wait == 0:
                bucket.take()
                tenant.take()
                self.units += 1
                return None
            self.throttled += 1
            every = self.limits.without_retry_after
            if every and self.throttled % every == 0:
                return {}
            return {"Retry-After": _retry_after(wait, self.limits.window_s)}

    def report(self) -> dict:
        """Counters and limits, as the admin API returns them."""
        with self.lock:
            out: dict = {"intune": {"units": self.units, "throttled": self.throttled,
                                    "limits": asdict(self.limits) if self.limits else None},
                         "mobileiron": {}, "sdm": {},
                         # Intune's export files: blob downloads, not Graph requests (no units)
                         "storage": {}}
            for mdm, figures in out.items():
                figures["requests"] = self.requests.get(mdm, 0)
                if mdm in self.kinds:
                    figures["by_kind"] = dict(sorted(self.kinds[mdm].items()))
            return out


def _retry_after(wait: float, window_s: float) -> str:
    if window_s >= 10:
        return str(max(1, math.ceil(wait)))
    return f"{max(0.1, math.ceil(wait * 10) / 10):.1f}"
