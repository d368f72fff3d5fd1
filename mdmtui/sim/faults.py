"""Fault injection: what can go wrong on the wire, switchable per run, per MDM or per endpoint."""

from __future__ import annotations

import random
import threading
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .ids import stable_int


class Faults(BaseModel):
    """Faults to inject. Rates are fractions of requests (0..1), drawn from a seeded RNG per
    (MDM, endpoint), so a run with the same requests in the same order fails the same way."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    latency_ms: float = Field(0, ge=0, description="added delay before every answer")
    rate_429: float = Field(0, ge=0, le=1, description="fraction of requests answered 429")
    burst_429: tuple[int, int] | None = Field(None, description="(N, M): N consecutive 429s every M requests")
    retry_after: float | None = Field(1, ge=0, description="Retry-After seconds on 429/503; None = no header")
    rate_5xx: float = Field(0, ge=0, le=1, description="fraction of requests answered with status_5xx")
    status_5xx: int = Field(503, ge=500, le=599)
    rate_5xx_after: float = Field(0, ge=0, le=1, description="fraction of requests carried out, then answered "
                                  "with status_5xx (the answer lost after the MDM acted)")
    page_latency_ms: float = Field(0, ge=0, description="added delay before every page after the first "
                                   "(offset > 0), before the page is read: a slow page 2 while the list changes")
    hang_s: float = Field(0, ge=0, description="hold the answer this long (a hung server)")
    rate_hang: float = Field(1, ge=0, le=1, description="fraction of requests that hang when hang_s > 0")
    reset_mid_page: float = Field(0, ge=0, le=1, description="fraction of 200 answers cut off mid-body")
    truncated_json: float = Field(0, ge=0, le=1, description="fraction of 200 answers with a short, valid-length body")
    malformed_json: float = Field(0, ge=0, le=1, description="fraction of 200 answers that are not JSON")
    repeat_page: float = Field(0, ge=0, le=1, description="fraction of pages whose next link serves them again")
    expired_nextlink: float = Field(0, ge=0, le=1, description="fraction of next-page requests refused as expired")
    batch_item_fail_rate: float = Field(0, ge=0, le=1, description="fraction of $batch items that fail on their own")
    # Intune report export jobs (endpoint exportJobs; drawn when a job is created, exports.py)
    export_job_fails: float = Field(0, ge=0, le=1, description="fraction of export jobs that end 'failed'")
    export_job_hangs: float = Field(0, ge=0, le=1, description="fraction of export jobs that never complete")
    export_url_expired: float = Field(0, ge=0, le=1, description="fraction of export jobs whose download URL "
                                      "has already expired when the job completes")

    @field_validator("burst_429", mode="before")
    @classmethod
    def _burst(cls, value: Any):
        if isinstance(value, str):
            n, _, m = value.partition("/")
            return (int(n), int(m or 0))
        return value

    @field_validator("burst_429")
    @classmethod
    def _burst_ok(cls, value):
        if value is not None and (value[0] < 0 or value[1] <= value[0]):
            raise ValueError("burst_429 is N/M with 0 <= N < M")
        return value


def _value(text: str) -> Any:
    low = text.strip().lower()
    if low in ("none", "null", ""):
        return None
    if "/" in low:
        return text.strip()
    try:
        return float(low) if any(c in low for c in ".e") else int(low)
    except ValueError:
        return text.strip()


def parse_spec(spec: str) -> tuple[str | None, str | None, Faults]:
    """Parse a CLI fault spec: "latency_ms=50,rate_429=0.1" (all MDMs), "intune:rate_5xx=0.1"
    (one MDM) or "intune.batch:batch_item_fail_rate=0.2" (one endpoint). Returns (mdm, endpoint, faults)."""
    target, sep, body = spec.partition(":")
    if not sep or "=" in target:
        target, body = "", spec
    mdm, _, endpoint = target.partition(".")
    values = {}
    for item in filter(None, (p.strip() for p in body.split(","))):
        key, eq, val = item.partition("=")
        if not eq:
            raise ValueError(f"fault setting {item!r} is not key=value")
        values[key.strip()] = _value(val)
    return (mdm or None), (endpoint or None), Faults(**values)


class FaultBook:
    """The fault settings in force and the deterministic draws; thread-safe."""

    def __init__(self, seed: int):
        self.seed = seed
        self._settings: dict[tuple[str | None, str | None], Faults] = {}
        self._counters: dict[tuple[str, str], int] = {}
        self._rngs: dict[tuple[str, str], random.Random] = {}
        self._lock = threading.Lock()

    def set(self, faults: Faults | None, mdm: str | None = None, endpoint: str | None = None) -> None:
        """Install (or with None, clear) faults for all MDMs, one MDM, or one endpoint of one MDM."""
        with self._lock:
            key = (mdm, endpoint)
            if faults is None:
                self._settings.pop(key, None)
                if mdm is None and endpoint is None:
                    self._settings.clear()
            else:
                self._settings[key] = faults
            self._counters.clear()
            self._rngs.clear()

    def describe(self) -> list[dict]:
        """The settings in force, for GET /_sim/faults."""
        with self._lock:
            return [{"mdm": m, "endpoint": e, "faults": f.model_dump(exclude_unset=True)}
                    for (m, e), f in self._settings.items()]

    def configured(self, mdm: str, endpoint: str) -> bool:
        """True when faults are set for this very endpoint of this MDM (not only inherited)."""
        with self._lock:
            return (mdm, endpoint) in self._settings

    def effective(self, mdm: str, endpoint: str) -> Faults | None:
        """Faults for one endpoint: endpoint settings override MDM settings override global ones,
        field by field (only fields that were set explicitly)."""
        found = (self._settings.get(k) for k in ((None, None), (mdm, None), (mdm, endpoint)))
        layers = [f for f in found if f is not None]
        if not layers:
            return None
        merged: dict[str, Any] = {}
        for layer in layers:
            merged.update({k: getattr(layer, k) for k in layer.model_fields_set})
        return Faults(**merged)

    def tick(self, mdm: str, endpoint: str) -> tuple[int, random.Random]:
        """Count one request and return (its 0-based number, the endpoint's RNG)."""
        key = (mdm, endpoint)
        with self._lock:
            n = self._counters.get(key, 0)
            self._counters[key] = n + 1
            rng = self._rngs.get(key)
            if rng is None:
                rng = self._rngs[key] = random.Random(stable_int(self.seed, mdm, endpoint, "faults"))
            return n, rng


class Draw:
    """The fault decisions for one request, made up front so handlers can ask about page faults."""

    def __init__(self, faults: Faults | None, n: int, rng: random.Random | None):
        """``rng`` may be None only without faults (nothing is drawn then)."""
        self.faults = faults
        self.n = n
        self._rng = rng

    def hit(self, name: str) -> bool:
        """Draw a rate-based fault by field name."""
        if self.faults is None or self._rng is None:
            return False
        rate = getattr(self.faults, name)
        return bool(rate) and self._rng.random() < rate

    def burst(self) -> bool:
        """True when this request falls in a 429 burst."""
        if self.faults is None or not self.faults.burst_429:
            return False
        n, m = self.faults.burst_429
        return self.n % m < n
